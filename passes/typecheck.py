"""Type checking of statements, declarations and the program's shape (§4.2, §4.6, §4.7).

Assumes: a Resolution without errors for this very program (ResolveNames ran and succeeded).
Guarantees: the typed program (every expression typed, every implicit conversion an explicit
Convert, every declared type's dimensions typed) when no error is reported; otherwise
E03xx/E04xx/E05xx diagnostics, one per independent mistake. Statement sequences are iterated,
so bodies of any length check without recursion.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Iterable, Mapping, Optional, Union

from ezlang.diagnostics import Diagnostics, SecondarySpan
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Base, Label, Role, Type

from ezlang.passes import infer_labels as rules
from ezlang.passes import type_codes as codes
from ezlang.passes.check_expr import ExprChecker
from ezlang.passes.check_support import BOOLEAN, INTEGER, Destination, Signature, fit
from ezlang.passes.resolve_names import BindingKind, Resolution
from ezlang.passes.secret_origin import Origins
from ezlang.passes.type_codes import quote

INT32_PL = Type(Base.INT32, Label.PL)
Function = Union[ast.FunDef, ast.Extern]


@dataclass(frozen=True)
class TypeCheck:
    """Assumes: names resolved. Guarantees: a fully typed program, or type diagnostics."""

    name: ClassVar[str] = "typecheck"
    bitlen: int = 32
    library: bool = False

    def run(self, program: ast.Program, resolution: Resolution, diags: Diagnostics) -> ast.Program:
        signatures = {id(g): signature(g) for g in program.globals if not isinstance(g, ast.GlobalConst)}
        exprs = ExprChecker(resolution, signatures, Origins(resolution), diags)
        checker = _Checker(exprs, diags, resolution, self.bitlen)
        typed = tuple(checker.global_(g, is_main=_is_main(g) and g is program.globals[-1])
                      for g in program.globals)
        if not self.library:
            _check_ends_with_main(program, diags)
        return replace(program, globals=typed)


def signature(node: Function) -> Signature:
    params = tuple((p.name, ast.declared_type(p.type)) for p in node.params)
    ret = ast.declared_type(node.ret) if node.ret is not None else None
    return Signature(node.name, params, ret, node.name_span)


def _is_main(node: ast.Global) -> bool:
    return isinstance(node, ast.FunDef) and node.name == "main" and not node.params and node.ret is None


def _check_ends_with_main(program: ast.Program, diags: Diagnostics) -> None:
    if not program.globals:
        diags.error(codes.NO_MAIN, "the program is empty", None, help="write `def void main() { ... }`")
        return
    last = program.globals[-1]
    if _is_main(last):
        return
    if isinstance(last, ast.FunDef) and last.name == "main":
        problem = "takes parameters" if last.params else "is not void"
        message = f"`main` must be `def void main()`, but this `main` {problem}"
    else:
        message = f"the last definition must be `def void main()`, found `{last.name}`"
    diags.error(codes.NO_MAIN, message, last.name_span, label="last definition of the program",
                help="end the file with `def void main() { ... }`; check library files (without `main`) "
                     "in library mode")


@dataclass(frozen=True)
class _Function:
    """The function whose body is being checked."""

    name: str
    ret: Optional[Type]
    ret_node: Optional[ast.TypeNode]  # None when void or not well formed: returns are not checked
    is_main: bool
    inline: bool


@dataclass
class _Checker:
    exprs: ExprChecker
    diags: Diagnostics
    resolution: Resolution
    bitlen: int
    function: Optional[_Function] = field(default=None)
    inputs: dict[str, tuple[Type, Span]] = field(default_factory=dict)
    """The first input of each name: its values are encoded by name, so one name has one type."""

    # ------------------------------------------------------------ globals

    def global_(self, node: ast.Global, is_main: bool) -> ast.Global:
        if isinstance(node, ast.GlobalConst):
            return self._global_const(node)
        params = tuple(self._param(node, p) for p in node.params)
        ret, ret_ok = self._return_type(node)
        if isinstance(node, ast.Extern):
            self._extern_flow(node)
            return replace(node, params=params, ret=ret)
        inline = node.qualifier == "inline"
        if inline and node.ret is not None:
            self.diags.error(codes.INLINE_NON_VOID, f"inline function `{node.name}` returns {quote(node.ret)}",
                             node.ret.span, label="not void",
                             help="only void functions can be inlined: drop `inline` or return through an "
                                  "array parameter")
        self.function = _Function(node.name, ast.declared_type(node.ret) if node.ret else None,
                                  node.ret if ret_ok else None, is_main, inline)
        body = self.block(node.body)
        self.function = None
        return replace(node, params=params, ret=ret, body=body)

    def _extern_flow(self, node: ast.Extern) -> None:
        """An extern's body is not checked, so its signature must not let a secret argument
        come back public: through a public result or a public array it may write."""
        secrets = [p for p in node.params if ast.declared_type(p.type).label.is_secret]
        if not secrets:
            return
        public_out: list[tuple[ast.TypeNode, str]] = []
        if node.ret is not None and ast.declared_type(node.ret).is_public:
            public_out.append((node.ret, "public result"))
        public_out += [(p.type, f"public array `{p.name}` it may write") for p in node.params
                       if p.type.dims and not p.type.const and ast.declared_type(p.type).is_public]
        for type_node, what in public_out:
            self.diags.error(codes.EXTERN_REVEALS,
                             f"extern `{node.name}` takes the secret `{secrets[0].name}` and has a {what}",
                             type_node.span, label="public", secondary=(SecondarySpan(secrets[0].span, "secret"),),
                             help="the body of an extern is not checked, so nothing stops it from revealing "
                                  "its secret arguments: make that result secret (or the array `const`); "
                                  "secrets leave only through `output(ROLE, e)`")

    def _param(self, function: Function, param: ast.Param) -> ast.Param:
        typed = self.type_(param.type)
        if typed is None:
            self._ill_formed(self.resolution.declared(param), function)
        return replace(param, type=typed or param.type)

    def _return_type(self, node: Function) -> tuple[Optional[ast.TypeNode], bool]:
        """The typed return type and whether it is well formed."""
        if node.ret is None:
            return None, True
        if node.ret.dims:
            self.diags.error(codes.ARRAY_RETURN, f"`{node.name}` cannot return the array type {quote(node.ret)}",
                             node.ret.span, label="array return type",
                             help="pass an output array as a parameter instead (arrays are passed by reference)")
            self._ill_formed(node)
            return node.ret, False
        typed = self.type_(node.ret)
        if typed is None:
            self._ill_formed(node)
        return typed or node.ret, typed is not None

    def _ill_formed(self, *declarations: object) -> None:
        """Uses of these declarations fail silently: their declaration already has the error."""
        self.exprs.ill_formed.update(id(d) for d in declarations)

    def _global_const(self, node: ast.GlobalConst) -> ast.Global:
        value = self.exprs.check(node.value)
        ty = Type(node.base, Label.PL, scale=node.scale)
        if value is not None:
            value = self.exprs.flow_into(value, ty, Destination(f"global constant `{node.name}`", node.name_span))
        return replace(node, value=value or node.value)

    # ------------------------------------------------------------ types

    def type_(self, node: ast.TypeNode) -> Optional[ast.TypeNode]:
        """The type with its dimensions typed, or None after reporting why it is not well formed."""
        ok = self._label_allowed(node)
        dims = []
        for dim in node.dims:
            typed = self.exprs.check(dim)
            if typed is not None and self.exprs.require(
                    typed, INTEGER, Label.PL, "array dimension {}", codes.SECRET_DIMENSION,
                    "array sizes are public: allocate for a public maximum size"):
                dims.append(typed)
            else:
                ok = False
        return replace(node, dims=tuple(dims)) if ok else None

    def _label_allowed(self, node: ast.TypeNode) -> bool:
        ty = ast.declared_type(node)
        base, label = ty.base, ty.label
        defaulted = "" if node.label is not None else f" (`{base}` without a label means {base}_{label})"
        if ty.is_fixed and label in (Label.BL, Label.FL):
            self._type_error(codes.FIXED_LABEL, node, f"fixed point cannot be {codes.label_name(label)}: "
                             f"{quote(node)}", f"write {ty.relabel(Label.AL).scalar()} for a secret fixed-point "
                                               f"value or {ty.relabel(Label.PL).scalar()} for a public one")
        elif base is Base.BOOL and label in (Label.AL, Label.FL):
            self._type_error(codes.BOOL_LABEL, node, f"bool cannot be {codes.label_name(label)}: {quote(node)}",
                             "write bool_bl for a secret bool or bool_pl for a public one")
        elif base is Base.FLOAT and label in (Label.AL, Label.BL):
            self._type_error(codes.FLOAT_LABEL, node, f"float can only be pl or fl, not {label}: {quote(node)}",
                             "write float_fl for a secret float or float_pl for a public one")
        elif base.is_int and label is Label.FL:
            self._type_error(codes.INT_FL, node, f"integers cannot be fl-shared: {quote(node)}",
                             "fl is SecFloat, for float only: write al or bl")
        elif base.is_int and label.is_secret and base.width != self.bitlen:
            self._type_error(codes.BITLEN, node, f"secret {base} needs --bitlen {base.width}, but this program "
                             f"is checked with --bitlen {self.bitlen}: {quote(node)}{defaulted}",
                             f"secret integers all have the --bitlen width: use "
                             f"{'int32/uint32' if self.bitlen == 32 else 'int64/uint64'} for secrets, "
                             f"or check with --bitlen {base.width}")
        else:
            return True
        return False

    def _type_error(self, code: str, node: ast.TypeNode, message: str, help_text: str) -> None:
        self.diags.error(code, message, node.span, label="not a valid type", help=help_text)

    # ------------------------------------------------------------ statements

    def block(self, body: Iterable[ast.Stmt]) -> tuple[ast.Stmt, ...]:
        typed: list[ast.Stmt] = []
        for stmt in body:
            checked = self.stmt(stmt)
            typed.append(checked if checked is not None else stmt)
        return tuple(typed)

    def stmt(self, node: ast.Stmt) -> Optional[ast.Stmt]:
        """The typed statement, or None after reporting."""
        return _STMT_CHECKS[type(node)](self, node)

    def _output(self, node: ast.Output) -> Optional[ast.Stmt]:
        value = self.exprs.check(node.value)
        return replace(node, value=value) if value is not None else None

    def _block(self, node: ast.Block) -> Optional[ast.Stmt]:
        return replace(node, body=self.block(node.body))

    def _decl(self, node: ast.Decl) -> Optional[ast.Stmt]:
        typed_type = self.type_(node.type)
        if typed_type is None:
            self._ill_formed(self.resolution.declared(node))
        ty = ast.declared_type(node.type)
        if node.init is None:
            return replace(node, type=typed_type) if typed_type is not None else None
        value = self.exprs.check(node.init)
        if ty.is_array:
            self.diags.error(codes.NOT_SCALAR, f"array `{node.name}` ({ty}) cannot be initialised in its "
                             "declaration", node.init.span, label="initialiser of an array",
                             help="declare the array, then assign its elements (arrays start zero-filled)")
            return None
        if value is None or typed_type is None:
            return None
        init = self.exprs.flow_into(value, ty, Destination(f"variable `{node.name}`", node.type.span))
        self.exprs.origins.record(self.resolution.declared(node), init)
        return replace(node, type=typed_type, init=init) if init is not None else None

    def _assign(self, node: ast.Assign) -> Optional[ast.Stmt]:
        target = self._lvalue(node.target)
        value = self.exprs.check(node.value)
        if target is None or value is None or target.ty is None:
            return None
        typed = self.exprs.flow_into(value, target.ty, Destination(node.target))
        root = _root(node.target)
        if isinstance(root, ast.Var):
            self.exprs.origins.record(self.resolution.binding(root), typed)
        return replace(node, target=target, value=typed) if typed is not None else None

    def _lvalue(self, target: ast.Expr) -> Optional[ast.LValue]:
        root = _root(target)
        if not isinstance(root, ast.Var):
            self.diags.error(codes.NOT_LVALUE, f"cannot assign to {quote(target)}", target.span,
                             label="not a variable or array element",
                             help="assign to a variable `x = e` or an array element `A[i] = e`")
            return None
        typed = self.exprs.check(target)
        if typed is None or typed.ty is None:
            return None
        binding = self.resolution.binding(root)
        if binding.kind is BindingKind.GLOBAL:
            self._lvalue_error(codes.ASSIGN_GLOBAL, target, f"cannot assign to global constant `{root.name}`",
                               "global constants never change: declare a local variable instead", binding.span)
        elif binding.kind is BindingKind.LOOP:
            self._lvalue_error(codes.ASSIGN_LOOP_VAR, target, f"cannot assign to loop variable `{root.name}` "
                               "inside its loop", "loops run a public number of times: use `while` or another "
                               "variable", binding.span)
        elif typed.ty.is_array:
            self.diags.error(codes.NOT_SCALAR, f"cannot assign the whole array {quote(target)} ({typed.ty})",
                             target.span, label="array", help="assign element by element in a `for` loop")
        elif isinstance(typed, ast.Index) and _indexes_const(typed):
            self._lvalue_error(codes.ASSIGN_CONST, target, f"cannot modify const array `{root.name}` through "
                               f"{quote(target)}", "drop `const` from the array's declaration", binding.span)
        else:
            assert isinstance(typed, (ast.Var, ast.Index))
            return typed
        return None

    def _lvalue_error(self, code: str, target: ast.Expr, message: str, help_text: str, declared: Span) -> None:
        self.diags.error(code, message, target.span, label="assigned here", help=help_text,
                         secondary=(SecondarySpan(declared, "declared here"),))

    def _call_stmt(self, node: ast.CallStmt) -> Optional[ast.Stmt]:
        sig = self.exprs.signature(node)
        args = self.exprs.arguments(node)
        if sig.ret is not None:
            self.diags.error(codes.DISCARDED_RESULT, f"`{node.name}` returns {sig.ret}; a call statement would "
                             "discard it", node.span, label="result discarded",
                             secondary=(SecondarySpan(sig.span, "declared here"),),
                             help=f"store the result: `{sig.ret} r = {' '.join(node.span.text.split())};`")
            return None
        return replace(node, args=args) if args is not None else None

    def _return(self, node: ast.Return) -> Optional[ast.Stmt]:
        function = self.function
        assert function is not None
        value = self.exprs.check(node.value) if node.value is not None else None
        if function.is_main:
            self._return_error(codes.MAIN_RETURN, node, "`main` cannot contain `return`",
                               "let `main` run to its end; wrap the rest in an `if` to skip it")
        elif function.inline and function.ret is None:
            self._return_error(codes.INLINE_RETURN, node, f"inline function `{function.name}` cannot contain "
                               "`return`", "restructure with `if`/`else`, or drop `inline`")
        elif node.value is None and function.ret is not None:
            self._return_error(codes.MISSING_RETURN_VALUE, node, f"`return;` without a value in `{function.name}`, "
                               f"which returns {function.ret}", f"return a {function.ret} value: `return e;`")
        elif node.value is not None and function.ret is None:
            self._return_error(codes.VOID_RETURN_VALUE, node, f"`{function.name}` is void, but this `return` "
                               f"carries {quote(node.value)}", "write `return;`, or declare a return type")
        elif value is not None and function.ret is not None and function.ret_node is not None:
            typed = self.exprs.flow_into(value, function.ret, Destination(
                f"the return type of `{function.name}`", function.ret_node.span))
            return replace(node, value=typed) if typed is not None else None
        elif node.value is None:
            return node
        return None

    def _return_error(self, code: str, node: ast.Return, message: str, help_text: str) -> None:
        self.diags.error(code, message, node.span, label="return", help=help_text)

    def _input(self, node: ast.Input) -> Optional[ast.Stmt]:
        typed_type = self.type_(node.type)
        if typed_type is None:
            self._ill_formed(self.resolution.declared(node))
        ty = ast.declared_type(node.type)
        if node.role is Role.ALL and ty.label.is_secret:
            self.diags.error(codes.SECRET_ALL_INPUT, f"`input(ALL, {node.name}, ...)` is read by both parties in "
                             f"the clear, but its type {quote(node.type)} is secret ({ty})", node.type.span,
                             label="secret type", help=f"declare it public ({ty.relabel(Label.PL)}), or read it "
                                                       "from SERVER or CLIENT")
        elif node.role is not Role.ALL and not ty.label.is_secret:
            self.diags.error(codes.PUBLIC_PARTY_INPUT, f"`input({node.role}, {node.name}, ...)` is {node.role}'s "
                             f"private value, but its type {quote(node.type)} is public", node.type.span,
                             label="public type", help=f"declare it secret, e.g. {ty.relabel(_default_secret(ty))}; "
                                                       "a public value read by both parties uses `input(ALL, ...)`")
        elif typed_type is not None and self._input_range(node, ty) and self._input_type_agrees(node, ty):
            return replace(node, type=typed_type)
        return None

    def _input_range(self, node: ast.Input, ty: Type) -> bool:
        """A declared range `[lo, hi]` needs lo ≤ hi and a number type (integer bounds for integers)."""
        if node.range is None:
            return True
        low, high = node.range
        span = node.range_span or node.span
        if not ty.base.is_int:
            problem, help_text = f"{ty.base} inputs take no range", "declare ranges on fixed-point or integer inputs"
        elif low > high:
            problem, help_text = f"its lower bound {low} is above its upper bound {high}", f"write [{high}, {low}]"
        elif not ty.is_fixed and not all(isinstance(b, int) for b in node.range):
            problem, help_text = f"an {ty.base} input takes integer bounds", "write integer bounds, as in [0, 255]"
        else:
            return True
        self.diags.error(codes.INPUT_RANGE, f"invalid range for input `{node.name}`: {problem}", span,
                         label="declared range", help=help_text)
        return False

    def _input_type_agrees(self, node: ast.Input, ty: Type) -> bool:
        """Input files give values by name and fixed-point values are encoded at their input's
        scale, so every input of one name must agree on whether, and at which scale, it is fixed."""
        first = self.inputs.setdefault(node.name, (ty.scalar(), node.type.span))
        if not (first[0].is_fixed or ty.is_fixed) or first[0].scale == ty.scale:
            return True
        self.diags.error(codes.INPUT_SCALE_CONFLICT, f"input `{node.name}` is read as {ty.scalar()} here but as "
                         f"{first[0]} before", node.type.span, label=f"{ty.scalar()}",
                         secondary=(SecondarySpan(first[1], f"{first[0]} here"),),
                         help="its input values are encoded once, by name: give both inputs the same type, "
                              "or rename one")
        return False

    def _for(self, node: ast.For) -> Optional[ast.Stmt]:
        lo, hi = self.exprs.check(node.lo), self.exprs.check(node.hi)
        lo = self._bound(lo, INT32_PL) if lo is not None else None
        hi_type = lo.ty if lo is not None and lo.ty is not None else INT32_PL
        hi = self._bound(hi, hi_type) if hi is not None else None
        body = self.block(node.body)
        if lo is None or hi is None:
            return None
        return replace(node, lo=fit(lo, INT32_PL), hi=fit(hi, INT32_PL), body=body)

    def _bound(self, bound: ast.Expr, expected: Type) -> Optional[ast.Expr]:
        ty = bound.ty
        assert ty is not None
        if rules.compatible(ty, expected):
            return bound
        if rules.leaks(ty, expected):
            self.exprs.flow_error(codes.SECRET_FOR_BOUND, bound, f"`for` bound {quote(bound)} is secret ({ty})",
                                  "loop to a public maximum and select with a ternary inside the loop")
        else:
            self.diags.error(codes.MISMATCH, f"`for` bound {quote(bound)} has type {ty}, but bounds must be "
                             f"{expected}" + (" or uint32_pl" if expected == INT32_PL else ""), bound.span,
                             label=f"this is {ty}", help="loop bounds are 32-bit public integers: the loop "
                                                         "variable is int32_pl")
        return None

    def _while(self, node: ast.While) -> Optional[ast.Stmt]:
        cond = self.exprs.check(node.cond)
        ok = cond is not None and self.exprs.require(
            cond, BOOLEAN, Label.PL, "`while` condition {}", codes.SECRET_WHILE,
            "loop to a public maximum and select with a ternary inside the loop")
        body = self.block(node.body)
        return replace(node, cond=cond, body=body) if ok and cond is not None else None

    def _if(self, node: ast.If) -> Optional[ast.Stmt]:
        """An `if ... else if ...` chain, checked iteratively and rebuilt from its last `else`."""
        chain: list[tuple[ast.If, Optional[ast.Expr], Optional[ast.Stmt]]] = []
        branch: Optional[ast.Stmt] = node
        while isinstance(branch, ast.If):
            cond = self.exprs.check(branch.cond)
            ok = cond is not None and self._if_condition(cond)
            chain.append((branch, cond if ok else None, self.stmt(branch.then)))
            branch = branch.other
        typed = self.stmt(branch) if branch is not None else None
        failed = branch is not None and typed is None
        for original, cond, then in reversed(chain):
            if cond is None or then is None:
                failed = True
            elif not failed:
                typed = replace(original, cond=cond, then=then, other=typed)
        return None if failed else typed

    def _if_condition(self, cond: ast.Expr) -> bool:
        assert cond.ty is not None
        if cond.ty == Type(Base.BOOL, Label.PL):
            return True
        if rules.is_bool(cond.ty):
            self.exprs.flow_error(codes.SECRET_IF, cond, f"`if` condition {quote(cond)} depends on a secret "
                                  f"({cond.ty})", "branch on public values only; select obliviously with a "
                                                  "ternary `c ? a : b`")
        else:
            self.diags.error(codes.MISMATCH, f"`if` condition {quote(cond)} has type {cond.ty}, but must be "
                             "bool_pl", cond.span, label=f"this is {cond.ty}", help="compare explicitly, e.g. `x > 0`")
        return False


_STMT_CHECKS: Mapping[type, Callable[[_Checker, Any], Optional[ast.Stmt]]] = MappingProxyType({
    ast.Decl: _Checker._decl, ast.Assign: _Checker._assign, ast.CallStmt: _Checker._call_stmt,
    ast.Return: _Checker._return, ast.Input: _Checker._input, ast.Output: _Checker._output,
    ast.For: _Checker._for, ast.While: _Checker._while, ast.If: _Checker._if, ast.Block: _Checker._block,
})


def _root(target: ast.Expr) -> ast.Expr:
    while isinstance(target, ast.Index):
        target = target.array
    return target


def _indexes_const(target: ast.Index) -> bool:
    ty = target.array.ty
    return ty is not None and ty.const


def _default_secret(ty: Type) -> Label:
    return Label.BL if ty.base is Base.BOOL else Label.FL if ty.base is Base.FLOAT else Label.AL
