"""Inlining: every call statement of an `inline def` function replaced by the function's body.

Why: the layer library (ezlang/lib/nn.ezpc) writes each network layer once, with its shapes as
parameters, and a model calls it once per layer. The fixed-point rewrite rules need to see
through those calls: the accumulator form of sum-of-products (ezlang.passes.rewrite_accumulators)
applies only to loops whose trip counts are public constants, and inside a library function
they are parameters. Inlined at a call whose shapes are literals or global constants, the loops
`for k = [0 : K]` become `for k.1 = [0 : 784]`, and every truncation of the layer is where the
rules can move it.

How. The call `f(a1, …, an)` becomes, in the caller's statement list (or a `{ }` block where
the call was an `if` branch), the declarations that bind the parameters, then a copy of f's
body in which:
* a scalar parameter is replaced by its argument expression when that is *pure and public*:
  literals, scalar variables and global constants combined by operators that cannot fail
  (no shift, no `^^`), and f never assigns the parameter. Its value is then the same wherever it
  is evaluated (f cannot name the caller's variables, and nothing it does changes them);
  otherwise the parameter becomes a fresh local `T p.k = a;` declared before the body, in
  argument order, as the call evaluated it;
* an array parameter is replaced by the argument array's name (arrays are passed by reference;
  a parameter's declared dimensions are never evaluated at a call, docs/spec.md §5);
* every local of f (declarations and loop variables, in nested scopes too) is renamed
  `name.k`, k one number per inlined call. EzPC identifiers are letters and digits only
  (grammar/ezpc.lark, ID), so no name the user wrote can contain `.`; k is chosen so that no
  name of the program so far has that form either (nested inlining renames `acc.1` to
  `acc.1.2`). `$`, also unwritable, is left to ezlang.passes.batch_rounds;
* global constants keep their names; every node is a fresh object carrying the span it had in
  f (errors inside the copy point at the library line), the argument's span for a substituted
  argument, and its `ty`, `known_to` and `rescale` unchanged, so the copy is typed as f was.
Nothing is evaluated at compile time: trip counts become constants only because the arguments
substituted for them are.

A call is kept as it is when inlining it would not preserve its meaning or is impossible: f
calls itself (the call inside f is kept; f's body is inlined once where others call it), f holds
an `input` or `output` (their names and spans identify program inputs and outputs), a `return`
(the checker refuses that in an inline function), an array argument is not a whole array (a
row `a[i]` would be bounds-checked at each use instead of at the call), or f names a global
constant that the caller shadows at the call. Functions are inlined in program order, each
inline function's own calls first, so what is inlined is already expanded. An inline function
that no call names any more is dropped from the program.

Assumes: a typed program (ezlang.passes.pipeline, possibly lowered by ezlang.passes.scales):
every Expr.ty set, implicit conversions explicit, names resolved with EzPC's scopes (a function,
loop, `while` body and `if` branch each open a scope; a `{ }` block opens none).
Guarantees: a typed program with the same outputs and run-time errors, whose calls of inline
functions are only the kept ones above; every other function, statement and global is the
same object as before.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Optional, TypeVar, Union, cast

from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Label

INLINE = "inline"
SEPARATOR = "."
_FALLIBLE = frozenset({BinaryOp.SHL, BinaryOp.SHR, BinaryOp.SHRL, BinaryOp.POW})

Binding = Union[str, ast.Expr]  # a local's new name, or the expression a parameter stands for
VarFn = Callable[[ast.Var], ast.Expr]
Node = TypeVar("Node")
Bodied = TypeVar("Bodied", ast.For, ast.While, ast.Block)


def inline_calls(program: ast.Program) -> ast.Program:
    """`program` with every call statement of an inline function inlined (see the module)."""
    inline = {g.name: g for g in program.globals if isinstance(g, ast.FunDef) and g.qualifier == INLINE}
    if not inline:
        return program
    names = _Names(set(_all_names(program)))
    expanded: dict[str, ast.FunDef] = {}
    globals_: list[ast.Global] = []
    for item in program.globals:
        if isinstance(item, ast.FunDef):
            item = _Expander(item, expanded, names).expand()
            if item.name in inline:
                expanded[item.name] = item
        globals_.append(item)
    called = {name for g in globals_ if isinstance(g, ast.FunDef) for name in _callees(g.body)}
    kept = tuple(g for g in globals_ if not (isinstance(g, ast.FunDef) and g.name in inline and g.name not in called))
    if all(a is b for a, b in zip(kept, program.globals)) and len(kept) == len(program.globals):
        return program
    return dataclasses.replace(program, globals=kept)


class _Names:
    """Fresh suffixes: one number per inlined call, unused by every name of the program."""

    def __init__(self, taken: set[str]):
        self.taken = taken
        self.counter = itertools.count(1)

    def suffix(self, locals_: set[str]) -> str:
        while True:
            candidate = f"{SEPARATOR}{next(self.counter)}"
            renamed = {name + candidate for name in locals_}
            if not renamed & self.taken:
                self.taken |= renamed
                return candidate


class _Expander:
    """Inlines the calls of one function, tracking which local names are in scope at each call."""

    def __init__(self, function: ast.FunDef, expanded: Mapping[str, ast.FunDef], names: _Names):
        self.function, self.expanded, self.names = function, expanded, names
        self.scopes: list[set[str]] = [{p.name for p in function.params}]

    def expand(self) -> ast.FunDef:
        body = self.stmts(self.function.body)
        return self.function if body is self.function.body else dataclasses.replace(self.function, body=body)

    def stmts(self, body: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
        result: list[ast.Stmt] = []
        changed = False
        for stmt in body:
            inlined = self.call(stmt) if isinstance(stmt, ast.CallStmt) else None
            if inlined is not None:
                result.extend(inlined)
                changed = True
                continue
            new = self.stmt(stmt)
            changed = changed or new is not stmt
            result.append(new)
        return tuple(result) if changed else body

    def scoped(self, body: tuple[ast.Stmt, ...], *names: str) -> tuple[ast.Stmt, ...]:
        self.scopes.append(set(names))
        try:
            return self.stmts(body)
        finally:
            self.scopes.pop()

    def stmt(self, stmt: ast.Stmt) -> ast.Stmt:
        if isinstance(stmt, (ast.Decl, ast.Input)):
            self.scopes[-1].add(stmt.name)
        elif isinstance(stmt, ast.For):
            return _with_body(stmt, self.scoped(stmt.body, stmt.var))
        elif isinstance(stmt, ast.While):
            return _with_body(stmt, self.scoped(stmt.body))
        elif isinstance(stmt, ast.Block):
            return _with_body(stmt, self.stmts(stmt.body))
        elif isinstance(stmt, ast.If):
            then, other = self.branch(stmt.then), None if stmt.other is None else self.branch(stmt.other)
            if then is not stmt.then or other is not stmt.other:
                return dataclasses.replace(stmt, then=then, other=other)
        return stmt

    def branch(self, stmt: ast.Stmt) -> ast.Stmt:
        """An `if` branch: its own scope; an inlined call becomes a block."""
        body = stmt.body if isinstance(stmt, ast.Block) else (stmt,)
        new = self.scoped(body)
        if new is body:
            return stmt
        if isinstance(stmt, ast.Block):
            return dataclasses.replace(stmt, body=new)
        return new[0] if len(new) == 1 else ast.Block(stmt.span, new)

    def call(self, stmt: ast.CallStmt) -> Optional[tuple[ast.Stmt, ...]]:
        callee = self.expanded.get(stmt.name)
        if callee is None or callee.name == self.function.name or not _inlinable(callee, stmt):
            return None
        visible = set().union(*self.scopes)
        if _free_names(callee) & visible:
            return None  # a local of the caller shadows a global constant the callee reads
        return _Copy(callee, stmt, self.names).stmts()


def _inlinable(callee: ast.FunDef, call: ast.CallStmt) -> bool:
    if any(isinstance(s, (ast.Input, ast.Output, ast.Return)) for s in _walk(callee.body)):
        return False
    return all(isinstance(arg, ast.Var) for param, arg in zip(callee.params, call.args) if param.type.dims)


class _Copy:
    """The callee's body for one call: parameters bound, locals renamed, every node fresh."""

    def __init__(self, callee: ast.FunDef, call: ast.CallStmt, names: _Names):
        self.callee, self.call = callee, call
        self.suffix = names.suffix(set(_locals(callee)))
        self.scopes: list[dict[str, Binding]] = []

    def stmts(self) -> tuple[ast.Stmt, ...]:
        assigned = _assigned(self.callee.body)
        params: dict[str, Binding] = {}
        bindings: list[ast.Stmt] = []
        for param, arg in zip(self.callee.params, self.call.args):
            if param.type.dims:
                assert isinstance(arg, ast.Var)  # _inlinable: whole arrays only
                params[param.name] = arg.name
            elif param.name not in assigned and _pure_public(arg):
                params[param.name] = arg
            else:
                params[param.name] = param.name + self.suffix
                bindings.append(ast.Decl(param.span, _copy(param.type, _fresh), param.name + self.suffix,
                                         param.span, _copy(arg, _fresh)))
        self.scopes.append(params)
        return tuple(bindings) + self.body(self.callee.body)

    def body(self, stmts: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
        return tuple(self.stmt(s) for s in stmts)

    def scoped(self, stmts: tuple[ast.Stmt, ...], bound: Optional[dict[str, Binding]] = None) -> tuple[ast.Stmt, ...]:
        self.scopes.append(bound or {})
        try:
            return self.body(stmts)
        finally:
            self.scopes.pop()

    def declare(self, name: str) -> str:
        self.scopes[-1][name] = name + self.suffix
        return name + self.suffix

    def stmt(self, stmt: ast.Stmt) -> ast.Stmt:
        e = self.expr
        if isinstance(stmt, ast.Decl):
            type_, init = _copy(stmt.type, self.var), None if stmt.init is None else e(stmt.init)
            return dataclasses.replace(stmt, type=type_, init=init, name=self.declare(stmt.name))
        if isinstance(stmt, ast.Assign):
            return dataclasses.replace(stmt, target=_copy(stmt.target, self.var), value=e(stmt.value))
        if isinstance(stmt, ast.CallStmt):
            return dataclasses.replace(stmt, args=tuple(e(a) for a in stmt.args))
        if isinstance(stmt, ast.For):
            lo, hi, var = e(stmt.lo), e(stmt.hi), stmt.var + self.suffix
            return dataclasses.replace(stmt, lo=lo, hi=hi, var=var, body=self.scoped(stmt.body, {stmt.var: var}))
        if isinstance(stmt, ast.While):
            return dataclasses.replace(stmt, cond=e(stmt.cond), body=self.scoped(stmt.body))
        if isinstance(stmt, ast.If):
            cond = e(stmt.cond)
            then = self.scoped_branch(stmt.then)
            other = None if stmt.other is None else self.scoped_branch(stmt.other)
            return dataclasses.replace(stmt, cond=cond, then=then, other=other)
        if isinstance(stmt, ast.Block):
            return dataclasses.replace(stmt, body=self.body(stmt.body))
        raise AssertionError(f"{type(stmt).__name__} in an inlinable function")  # _inlinable excludes the rest

    def scoped_branch(self, stmt: ast.Stmt) -> ast.Stmt:
        return self.scoped((stmt,))[0]

    def expr(self, node: ast.Expr) -> ast.Expr:
        return _copy(node, self.var)

    def var(self, node: ast.Var) -> ast.Expr:
        for scope in reversed(self.scopes):
            if node.name in scope:
                bound = scope[node.name]
                if isinstance(bound, str):
                    return dataclasses.replace(node, name=bound)
                return _copy(bound, _fresh)
        return dataclasses.replace(node)  # a global constant


def _fresh(node: ast.Var) -> ast.Expr:
    return dataclasses.replace(node)


def _copy(node: Node, on_var: VarFn) -> Node:
    """A deep copy of an expression, target or written type, each Var replaced by `on_var(var)`
    (a target's root stays a Var or Index: targets name variables, which `on_var` renames)."""
    return cast(Node, _copied(node, on_var))


def _copied(node: Any, on_var: VarFn) -> Any:
    if isinstance(node, ast.Var):
        return on_var(node)
    if isinstance(node, tuple):
        return tuple(_copied(item, on_var) for item in node)
    if not dataclasses.is_dataclass(node):
        return node
    changes = {f.name: _copied(getattr(node, f.name), on_var) for f in dataclasses.fields(node)
               if f.name in _CHILD_FIELDS}
    return dataclasses.replace(node, **changes)  # type: ignore[type-var]


_CHILD_FIELDS = frozenset({"array", "index", "args", "left", "right", "operand", "cond", "then", "other",
                           "dims"})


def _pure_public(node: ast.Expr) -> bool:
    """Public, scalar, and evaluating it can neither fail nor read an array."""
    if node.ty is None or node.ty.label is not Label.PL or node.ty.rank:
        return False
    if isinstance(node, (ast.IntLit, ast.BoolLit, ast.RoleLit, ast.Var)):
        return True
    if isinstance(node, ast.Binary):
        return node.op not in _FALLIBLE and _pure_public(node.left) and _pure_public(node.right)
    if isinstance(node, (ast.Unary, ast.Convert)):
        return _pure_public(node.operand)
    return False


# ---------------------------------------------------------------- facts about statements


def _walk(body: tuple[ast.Stmt, ...]) -> Iterator[ast.Stmt]:
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.For, ast.While, ast.Block)):
            yield from _walk(stmt.body)
        elif isinstance(stmt, ast.If):
            yield from _walk((stmt.then,) if stmt.other is None else (stmt.then, stmt.other))


def _exprs(stmt: ast.Stmt) -> Iterator[ast.Expr]:
    """The expressions a statement holds itself (written types' sizes included)."""
    if isinstance(stmt, (ast.Decl, ast.Input)):
        yield from stmt.type.dims
    for name in ("init", "target", "value", "lo", "hi", "cond"):
        value = getattr(stmt, name, None)
        if value is not None and not isinstance(value, ast.TypeNode):
            yield value
    if isinstance(stmt, ast.CallStmt):
        yield from stmt.args


def _nodes(node: ast.Expr) -> Iterator[ast.Expr]:
    yield node
    for name in _CHILD_FIELDS:
        child = getattr(node, name, None)
        if isinstance(child, tuple):
            for item in child:
                yield from _nodes(item)
        elif child is not None:
            yield from _nodes(child)


def _locals(function: ast.FunDef) -> Iterator[str]:
    yield from (p.name for p in function.params)
    for stmt in _walk(function.body):
        if isinstance(stmt, (ast.Decl, ast.Input)):
            yield stmt.name
        elif isinstance(stmt, ast.For):
            yield stmt.var


def _free_names(function: ast.FunDef) -> set[str]:
    """Names the function reads that none of its parameters, declarations or loops binds: the
    global constants it uses (a local declared in one scope and a global of the same name read
    in another count as global, which is safe: such a call is merely kept)."""
    exprs = [e for s in _walk(function.body) for e in _exprs(s)] + [d for p in function.params for d in p.type.dims]
    return {n.name for e in exprs for n in _nodes(e) if isinstance(n, ast.Var)} - set(_locals(function))


def _assigned(body: tuple[ast.Stmt, ...]) -> set[str]:
    """Names assigned as a whole (`x = e`) anywhere in `body`."""
    return {s.target.name for s in _walk(body) if isinstance(s, ast.Assign) and isinstance(s.target, ast.Var)}


def _callees(body: tuple[ast.Stmt, ...]) -> Iterator[str]:
    for stmt in _walk(body):
        if isinstance(stmt, ast.CallStmt):
            yield stmt.name
        for expr in _exprs(stmt):
            yield from (n.name for n in _nodes(expr) if isinstance(n, ast.Call))


def _all_names(program: ast.Program) -> Iterator[str]:
    for item in program.globals:
        yield item.name
        if isinstance(item, ast.FunDef):
            yield from _locals(item)


def _with_body(stmt: Bodied, body: tuple[ast.Stmt, ...]) -> Bodied:
    return stmt if body is stmt.body else dataclasses.replace(stmt, body=body)
