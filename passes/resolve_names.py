"""Name resolution: which declaration every variable use and every call refers to (§4.1).

Assumes: a parsed ast.Program.
Guarantees: every Var use is mapped to its Binding and every call to its FunDef/Extern, or an
E02xx diagnostic says why not (duplicate names, unknown variables, unknown or later-defined
functions). A Resolution produced with errors is incomplete and must not be type checked.

EzPC scopes (the reference's resolvevars.ml): the global scope; one scope per function holding
the parameters and the top-level statements of the body; one per `for` holding the loop variable
and the body; one per `while` body and one per `if` branch. A bare `{ }` opens no scope. Globals
are visible only after their definition, except that a function may call itself.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import ClassVar, Iterable, Mapping, Optional, Union

from ezlang.diagnostics import Diagnostics, SecondarySpan, register
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Base, Label, Role, Type

DUPLICATE_LOCAL = register("E0201", "name already defined in this scope")
UNKNOWN_VARIABLE = register("E0202", "unknown variable")
UNKNOWN_FUNCTION = register("E0203", "unknown function")
DUPLICATE_GLOBAL = register("E0204", "name already defined in the global scope")
DUPLICATE_PARAM = register("W0201", "duplicate parameter name")

Function = Union[ast.FunDef, ast.Extern]
CallSite = Union[ast.Call, ast.CallStmt]
Declaration = Union[ast.Decl, ast.Input, ast.Param, ast.For, ast.GlobalConst]


class BindingKind(Enum):
    GLOBAL = "global constant"
    PARAM = "parameter"
    LOCAL = "variable"
    INPUT = "input"
    LOOP = "loop variable"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, eq=False)
class Binding:
    """One declared name: its checked type, where it is declared and, for inputs, whose it is.
    Compared by identity: each declaration has exactly one Binding."""

    name: str
    kind: BindingKind
    ty: Type
    span: Span
    role: Optional[Role] = None


@dataclass(frozen=True)
class Resolution:
    """Use sites → declarations, keyed by the identity of the nodes of the resolved program."""

    variables: Mapping[int, Binding]
    functions: Mapping[int, Function]
    declarations: Mapping[int, Binding]

    def binding(self, var: ast.Var) -> Binding:
        return self.variables[id(var)]

    def declared(self, node: Declaration) -> Binding:
        """The binding a Decl, Input, Param, For or GlobalConst introduces."""
        return self.declarations[id(node)]

    def function(self, call: CallSite) -> Function:
        return self.functions[id(call)]


def binding_of(node: Declaration) -> Binding:
    """The binding a declaration introduces."""
    match node:
        case ast.Decl():
            return Binding(node.name, BindingKind.LOCAL, ast.declared_type(node.type), node.name_span)
        case ast.Input():
            return Binding(node.name, BindingKind.INPUT, ast.declared_type(node.type), node.name_span, node.role)
        case ast.Param():
            return Binding(node.name, BindingKind.PARAM, ast.declared_type(node.type), _param_name_span(node))
        case ast.For():
            return Binding(node.var, BindingKind.LOOP, Type(Base.INT32, Label.PL), node.var_span)
        case ast.GlobalConst():
            return Binding(node.name, BindingKind.GLOBAL, Type(node.base, Label.PL, scale=node.scale), node.name_span)


def _param_name_span(param: ast.Param) -> Span:
    """Params carry no name span; the name is the last token of the parameter."""
    return Span(param.span.file, param.span.end - len(param.name), param.span.end)


@dataclass(frozen=True)
class ResolveNames:
    """Assumes: a parsed program. Guarantees: a Resolution, complete when no E02xx was reported."""

    name: ClassVar[str] = "resolve-names"

    def run(self, program: ast.Program, diags: Diagnostics) -> Resolution:
        resolver = _Resolver(diags, {g.name: g for g in program.globals if not isinstance(g, ast.GlobalConst)})
        for global_ in program.globals:
            resolver.global_(global_)
        return Resolution(MappingProxyType(resolver.variables), MappingProxyType(resolver.calls),
                          MappingProxyType(resolver.declarations))


@dataclass
class _Resolver:
    diags: Diagnostics
    all_functions: dict[str, Function]
    globals: dict[str, Binding] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    global_spans: dict[str, Span] = field(default_factory=dict)
    scopes: list[dict[str, Binding]] = field(default_factory=list)
    current: Optional[Function] = None
    variables: dict[int, Binding] = field(default_factory=dict)
    calls: dict[int, Function] = field(default_factory=dict)
    declarations: dict[int, Binding] = field(default_factory=dict)

    def bind(self, node: Declaration) -> Binding:
        binding = binding_of(node)
        self.declarations[id(node)] = binding
        return binding

    # ------------------------------------------------------------ globals

    def global_(self, node: ast.Global) -> None:
        fresh = self._fresh_global(node.name, node.name_span)
        if isinstance(node, ast.GlobalConst):
            self.expr(node.value)
            if fresh:
                self.globals[node.name] = self.bind(node)
            return
        self.current = node
        self.scopes = [{}]
        for param in node.params:
            self._type(param.type)
            self._declare_param(param)
        if node.ret is not None:
            self._type(node.ret)
        if isinstance(node, ast.FunDef):
            self.block(node.body)
        self.scopes, self.current = [], None
        if fresh:
            self.functions[node.name] = node

    def _fresh_global(self, name: str, span: Span) -> bool:
        previous = self.global_spans.get(name)
        if previous is None:
            self.global_spans[name] = span
            return True
        self.diags.error(DUPLICATE_GLOBAL, f"`{name}` is already defined in the global scope", span,
                         label="defined again here",
                         secondary=(SecondarySpan(previous, "first defined here"),),
                         help="functions and global constants share one namespace and EzPC has no "
                              "overloading: rename one of them")
        return False

    def _declare_param(self, param: ast.Param) -> None:
        binding = self.bind(param)
        scope = self.scopes[-1]
        earlier = scope.get(param.name)
        if earlier is None:
            scope[param.name] = binding
            return
        # The reference accepts duplicate parameters and its body sees the first one.
        self.diags.warning(DUPLICATE_PARAM, f"parameter `{param.name}` is declared twice; the body "
                           "refers to the first one", binding.span, label="second parameter of this name",
                           help="rename one of the parameters")

    # ------------------------------------------------------------ statements

    def block(self, body: Iterable[ast.Stmt]) -> None:
        """A statement sequence in the current scope (iterated: bodies hold 36,000 statements)."""
        for stmt in body:
            self.stmt(stmt)

    def scoped(self, body: Iterable[ast.Stmt], *bindings: Binding) -> None:
        self.scopes.append({b.name: b for b in bindings})
        self.block(body)
        self.scopes.pop()

    def stmt(self, node: ast.Stmt) -> None:
        match node:
            case ast.Decl():
                self._type(node.type)
                binding = self._declare(node)
                if node.init is not None:
                    self.expr(node.init)
                self.scopes[-1].setdefault(node.name, binding)
            case ast.Input():
                self._type(node.type)
                self.scopes[-1].setdefault(node.name, self._declare(node))
            case ast.For() | ast.While() | ast.If() | ast.Block():
                self._compound(node)
            case ast.CallStmt():
                self._call(node)
            case ast.Assign() | ast.Return() | ast.Output():
                for expr in (getattr(node, "target", None), node.value):
                    if expr is not None:
                        self.expr(expr)

    def _compound(self, node: ast.For | ast.While | ast.If | ast.Block) -> None:
        match node:
            case ast.For():
                self.expr(node.lo)
                self.expr(node.hi)
                self.scoped(node.body, self.bind(node))
            case ast.While():
                self.expr(node.cond)
                self.scoped(node.body)
            case ast.If():
                self._if_chain(node)
            case ast.Block():
                self.block(node.body)

    def _if_chain(self, node: ast.If) -> None:
        """`if ... else if ... else` iteratively: each `else` is a scope holding the next `if`."""
        depth = len(self.scopes)
        branch: Optional[ast.Stmt] = node
        while isinstance(branch, ast.If):
            self.expr(branch.cond)
            self.scoped((branch.then,))
            branch = branch.other
            if branch is not None:
                self.scopes.append({})
        if branch is not None:
            self.stmt(branch)
        del self.scopes[depth:]

    def _declare(self, node: Union[ast.Decl, ast.Input]) -> Binding:
        binding = self.bind(node)
        earlier = self.scopes[-1].get(binding.name)
        if earlier is None:
            return binding
        self.diags.error(DUPLICATE_LOCAL, f"`{binding.name}` is already defined in this scope", binding.span,
                         label=f"{binding.kind} `{binding.name}` declared again",
                         secondary=(SecondarySpan(earlier.span, f"{earlier.kind} `{binding.name}` declared here"),),
                         help=_redeclare_help(earlier))
        return binding

    def _type(self, node: ast.TypeNode) -> None:
        for dim in node.dims:
            self.expr(dim)

    # ------------------------------------------------------------ expressions

    def expr(self, node: ast.Expr) -> None:
        match node:
            case ast.Var():
                self._var(node)
            case ast.Index():
                self.expr(node.array)
                self.expr(node.index)
            case ast.Call():
                self._call(node)
            case ast.Binary():
                self.expr(node.left)
                self.expr(node.right)
            case ast.Unary() | ast.Subsume() | ast.Convert():
                self.expr(node.operand)
            case ast.Ternary():
                self.expr(node.cond)
                self.expr(node.then)
                self.expr(node.other)

    def _var(self, node: ast.Var) -> None:
        binding = self._lookup(node.name)
        if binding is not None:
            self.variables[id(node)] = binding
            return
        self.diags.error(UNKNOWN_VARIABLE, f"cannot find variable `{node.name}`", node.span,
                         label="not declared in this scope", help=self._unknown_variable_help(node.name))

    def _lookup(self, name: str) -> Optional[Binding]:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return self.globals.get(name)

    def _call(self, node: CallSite) -> None:
        for arg in node.args:
            self.expr(arg)
        target = self.functions.get(node.name)
        if target is None and self.current is not None and self.current.name == node.name:
            target = self.current
        if target is not None:
            self.calls[id(node)] = target
            return
        self.diags.error(UNKNOWN_FUNCTION, f"cannot find function `{node.name}`", node.name_span,
                         label="no function of this name is defined above", help=self._unknown_function_help(node))

    # ------------------------------------------------------------ help texts

    def _visible_names(self) -> list[str]:
        names = set(self.globals)
        for scope in self.scopes:
            names.update(scope)
        return sorted(names)

    def _unknown_variable_help(self, name: str) -> Optional[str]:
        if name in self.functions or name in self.all_functions:
            return f"`{name}` is a function: call it as `{name}(...)`"
        close = difflib.get_close_matches(name, self._visible_names(), n=1)
        if close:
            return f"did you mean `{close[0]}`?"
        return "declare it first, e.g. `int32_pl " + name + " = 0;`; names are visible only after their declaration"

    def _unknown_function_help(self, node: CallSite) -> Optional[str]:
        later = self.all_functions.get(node.name)
        if later is not None and later.span.start > node.span.start:
            return (f"`{node.name}` is defined later, on line {later.name_span.line}; EzPC functions must be "
                    "defined (or declared `extern`) before their first use")
        if node.name in self.globals or any(node.name in scope for scope in self.scopes):
            return f"`{node.name}` is a variable, not a function"
        close = difflib.get_close_matches(node.name, sorted(self.functions), n=1)
        if close:
            return f"did you mean `{close[0]}`?"
        return "define it above this use, or declare it with `extern`"


def _redeclare_help(earlier: Binding) -> str:
    if earlier.kind is BindingKind.PARAM:
        return "the top level of a function body shares the parameters' scope: pick another name"
    if earlier.kind is BindingKind.LOOP:
        return "a loop body shares the loop variable's scope: pick another name"
    return "pick another name, or assign to the existing variable instead of declaring it again"
