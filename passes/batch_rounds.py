"""Round batching: the interactive secret operations of a loop's iterations, hoisted into one batch.

Why: in the secure backend every secret `*`, comparison, logic operator, oblivious `?:`,
integer `& | ^`, right shift and `/`/`%` is a runtime call of one or more round trips. Written in
a loop, n independent operations cost n rounds although the runtime's calls are vectorised. This
pass moves each such operation out of its loop into a *batch loop* placed just before it, which
stores the results for all iterations into a fresh array; the loop body then reads that array.
The code generator (ezlang.codegen.batch) lowers a batch loop as one loop evaluating the
operands, ONE vectorised runtime call, and the stores: one round instead of n. Nested operations
(`a[i] * b[i] < c[i]`) become successive batch loops, one round each. Independent operations of
one level (1 + the highest level of the batches their operands read) and one call kind
(`call_kind`) share one batch loop, so one call: one round per level and kind, not per operation.

An operation is hoisted out of `for v = [lo : hi]` when it is interactive (`interactive`), its
operands contain no call and no interactive operation not yet hoisted, they mention `v`, and
every other name they mention is neither declared nor assigned anywhere in the loop, nor an
array the loop may write (an indexed assignment, an array passed to a call; writing an array
parameter counts as writing every array parameter of the same element type: they may alias).
Such an operation has the same operands in the batch loop as in iteration v, so the same value.
Inner loops are batched first; an operation of an inner loop that depends only on an outer
loop's variable is batched by the outer loop. A right shift is hoisted only if its amount does
not mention `v`. A fused ReLU and truncation `(x > 0 ? x : 0) >> s` (ezlang.passes.fused_ops) is
one operation of its own call kind: its comparison and selection are never hoisted apart from it.

A loop whose last statement `arr[v] = e` computes on scalars the body declared (a network layer:
`for j { acc = ...; for i { acc = acc + x[i] * w[i][j] }; hidden[j] = (acc > 0 ? acc : 0) >> s }`)
is first split in two (`_Tail` states when): the body stores those scalars into arrays over the
iterations (`expand$L$acc`) and ends with `arr[v] = arr[v]`, which fails where the assignment
failed; a second loop does `arr[v] = e` from the arrays, and its operations are batched like any.

Before a loop's own operations are hoisted, the batch loops its inner loops left at the top of
its body are lifted out of it where they depend on nothing the loop changes
(ezlang.passes.batch_nests): the products of a whole layer `for j { ... for i { acc = acc +
x[i] * w[i][j] } ... }` become one batch over all (j, i), one call, one round.

The rewrite of `for v = [lo : hi] { ... e ... }`, names containing `$` (no user name can):

    int32 lo$L = lo;  int32 hi$L = hi;
    int64 len$L = hi$L > lo$L ? (int64) hi$L - (int64) lo$L : 0;
    <type of e>[len$L] batch$G$0;  ...;  bool[len$L] batch$G$done;
    for v = [lo$L : hi$L] { batch$G$0[p] = e; ...; batch$G$done[p] = true };  (the batch loop of group G)
    for v = [lo$L : hi$L] { ... (batch$G$done[p] ? batch$G$0[p] : e) ... }
    where p = (int64) v - (int64) lo$L

Run-time errors: evaluating e's operands can fail (an index out of bounds, a negative shift
amount or exponent). The code generator skips such an element of a batch loop instead of
failing: it is not computed and its `done` stays false; the others are computed. An iteration
whose element was skipped evaluates `e` itself, whose operands are the same, so it fails
exactly where and how the original program fails, and before any interaction (an operation's
operands are evaluated first). An element skipped in an iteration that never runs costs
nothing. So compiled code keeps the program's outputs and errors, and every operation hoisted
costs no round beyond its batch's call. The interpreter, running the rewritten program, fails in
the batch loop at the first failing element: the same error, reported before the loop's earlier
iterations ran (or one the program avoids, in a branch it does not take).

Assumes: a typed program (ezlang.passes.pipeline): every Expr.ty set, implicit conversions
explicit, names resolved with EzPC's scopes.
Guarantees: a typed program with the same outputs and errors as compiled code (see above), in
which every hoisted operation sits in a batch loop (`batch_loop` recognises them); `for` bounds
are evaluated once, in order, as before, except bounds that cannot fail and that the enclosing
loop does not change, which batch_nests may evaluate once before it; a loop with nothing to
hoist, lift or split is unchanged.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Hashable, Iterator, Optional

from ezlang.passes.batch_forms import (
    BATCH_PREFIX,
    EXPAND_PREFIX,
    BOOL,
    BatchLoop,
    Bounds,
    batch_loop,
    children,
    done_name,
    done_store,
    infallible,
    map_children,
    map_stmt,
    nodes,
    read,
    read_done,
    replace_vars,
    shape,
    typed,
    var_names,
)
from ezlang.passes.batch_nests import lift_batches
from ezlang.passes.fused_ops import relu_rescale
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.syntax.ast import BinaryOp
from ezlang.types import Base, Type

__all__ = ["BATCH_PREFIX", "EXPAND_PREFIX", "BatchLoop", "batch_loop", "batch_rounds", "call_kind", "interactive",
           "relu_rescale"]

_COMPARISONS = frozenset({BinaryOp.LT, BinaryOp.GT, BinaryOp.LE, BinaryOp.GE, BinaryOp.EQ})
# Products of wires: interactive unless one factor is a public value (then a local step).
_PRODUCTS = frozenset({BinaryOp.MUL, BinaryOp.AND, BinaryOp.OR, BinaryOp.XOR})
_BOOL_BITWISE = frozenset({BinaryOp.BAND, BinaryOp.BOR, BinaryOp.BXOR})
_DIVISION = frozenset({BinaryOp.DIV, BinaryOp.MOD})
_RIGHT_SHIFTS = frozenset({BinaryOp.SHR, BinaryOp.SHRL})


def interactive(node: ast.Expr) -> bool:
    """An operation the secure backend lowers to one vectorisable runtime call on its operands."""
    if isinstance(node, ast.Ternary):
        return _secret(node.cond.ty) and not _float(node.ty)
    if not isinstance(node, ast.Binary) or node.label is None or not node.label.is_secret:
        return False
    if _float(node.left.ty) or _float(node.right.ty):
        return False
    if node.op in _COMPARISONS or node.op in _DIVISION or node.op in _RIGHT_SHIFTS:
        return True
    boolean = node.left.ty is not None and node.left.ty.base is Base.BOOL
    if node.op in _BOOL_BITWISE:
        return not boolean or not (_public_value(node.left) or _public_value(node.right))
    if node.op in _PRODUCTS:
        return not (_public_value(node.left) or _public_value(node.right))
    return False


def call_kind(node: ast.Expr) -> Hashable:
    """Which runtime call an interactive operation needs: operations of one kind share one call
    (a shift's amount is part of its kind, as one call has one amount)."""
    fused = relu_rescale(node)
    if fused is not None:
        return ("relu_rescale", fused.shift)
    if isinstance(node, ast.Ternary):
        return ("mul",)
    assert isinstance(node, ast.Binary)
    left, right = node.left.ty, node.right.ty
    assert left is not None and right is not None and node.ty is not None
    if node.op in _COMPARISONS:
        return ("lt", _join(left.base, right.base).signed)
    if left.base is Base.BOOL or node.op is BinaryOp.MUL:
        return ("mul",)
    if node.op in _BOOL_BITWISE:
        return ("and",)
    if node.op in _DIVISION:
        return ("divmod", node.ty.base.signed)
    return ("shr", node.op is BinaryOp.SHR and node.ty.base.signed, shape(node.right))


def batch_rounds(program: ast.Program) -> ast.Program:
    """The program with the interactive operations of its loops batched (module docstring)."""
    names = itertools.count()
    globals_ = tuple(_function(g, names) if isinstance(g, ast.FunDef) else g for g in program.globals)
    return dataclasses.replace(program, globals=globals_)


# ---------------------------------------------------------------- statements


def _function(node: ast.FunDef, names: Iterator[int]) -> ast.FunDef:
    arrays = [p for p in node.params if p.type.dims]
    # Array parameters may share storage when their elements have one type.
    aliases = {p.name: frozenset(q.name for q in arrays if q.type.base is p.type.base) for p in arrays}
    return dataclasses.replace(node, body=_Rewriter(aliases, names).stmts(node.body))


@dataclass(frozen=True)
class _Rewriter:
    """Rewrites the statements of one function; `aliases[p]`: the array parameters that may share
    storage with the array parameter p."""

    aliases: dict[str, frozenset[str]]
    names: Iterator[int]

    def stmts(self, stmts: tuple[ast.Stmt, ...]) -> tuple[ast.Stmt, ...]:
        return tuple(out for stmt in stmts for out in self.stmt(stmt))

    def stmt(self, stmt: ast.Stmt) -> tuple[ast.Stmt, ...]:
        if isinstance(stmt, ast.For):
            return self.loop(dataclasses.replace(stmt, body=self.stmts(stmt.body)))
        if isinstance(stmt, ast.While):
            return (dataclasses.replace(stmt, body=self.stmts(stmt.body)),)
        if isinstance(stmt, ast.Block):
            return (dataclasses.replace(stmt, body=self.stmts(stmt.body)),)
        if isinstance(stmt, ast.If):
            other = None if stmt.other is None else self.single(stmt.other)
            return (dataclasses.replace(stmt, then=self.single(stmt.then), other=other),)
        return (stmt,)

    def single(self, stmt: ast.Stmt) -> ast.Stmt:
        out = self.stmt(stmt)
        return out[0] if len(out) == 1 else ast.Block(stmt.span, out)

    def loop(self, node: ast.For) -> tuple[ast.Stmt, ...]:
        """`node`, whose inner loops are rewritten: its tail split off, or its inner batches
        lifted out of it and its own operations hoisted."""
        facts = _LoopFacts.of(node, self.aliases)
        if node.var in facts.bound:
            return (node,)
        tail = _Tail.of(node, facts, self.aliases)
        if tail is not None:
            return self.split(node, tail)
        bounds = Bounds(node.span, next(self.names))
        lifted = lift_batches(node, bounds, facts.invariant, self.names)
        if lifted is not None:
            node = dataclasses.replace(node, body=lifted.body)
            facts = _LoopFacts.of(node, self.aliases)
        hoister = _Hoister(node.var, facts, bounds, self.names)
        body = tuple(map_stmt(stmt, hoister.expr) for stmt in node.body)
        if not hoister.ops and lifted is None:
            return (node,)
        main = dataclasses.replace(node, lo=bounds.lo_var(), hi=bounds.hi_var(), body=body)
        before = () if lifted is None else lifted.before
        return (*bounds.prelude(node), *before, *hoister.hoisted(), main)

    def split(self, node: ast.For, tail: "_Tail") -> tuple[ast.Stmt, ...]:
        """`for v { P; arr[v] = e }` as `for v { P; expand$l[v - lo] = l; ...; arr[v] = arr[v] }`
        then `for v { arr[v] = e[l := expand$l[v - lo]] }` over bounds evaluated once, each loop
        then batched. The self-assignment fails where `arr[v] = e` failed (e itself cannot)."""
        bounds = Bounds(node.span, next(self.names))
        span, lo, hi = node.span, bounds.lo_var(), bounds.hi_var()
        arrays = {name: f"{EXPAND_PREFIX}{bounds.number}${name}" for name in tail.scalars}

        def element(var: ast.Var) -> ast.Index:
            ty = typed(var)
            array = ast.Var(span, arrays[var.name], ty=dataclasses.replace(ty, rank=1))
            return ast.Index(span, array, bounds.offset(node.var), ty=ty)

        declared = tuple(ast.Decl(span, ast.TypeNode(span, ty.base, ty.label, (bounds.len_var(),), scale=ty.scale),
                                  arrays[name], span) for name, ty in tail.scalars.items())
        stores = tuple(ast.Assign(span, element(ast.Var(span, name, ty=ty)), ast.Var(span, name, ty=ty))
                       for name, ty in tail.scalars.items())
        probe = ast.Assign(tail.stmt.span, tail.stmt.target, tail.stmt.target)
        head = dataclasses.replace(node, lo=lo, hi=hi, body=(*node.body[:-1], *stores, probe))
        value = replace_vars(tail.stmt.value, lambda var: element(var) if var.name in arrays else var)
        rest = dataclasses.replace(node, lo=lo, hi=hi, body=(dataclasses.replace(tail.stmt, value=value),))
        return (*bounds.prelude(node), *declared, *self.loop(head), *self.loop(rest))


# ---------------------------------------------------------------- what a loop may change


@dataclass(frozen=True)
class _LoopFacts:
    """Names a loop body declares or assigns (`bound`) and arrays it may write (`written`)."""

    bound: frozenset[str]
    written: frozenset[str]

    @staticmethod
    def of(node: ast.For, aliases: dict[str, frozenset[str]]) -> "_LoopFacts":
        bound: set[str] = set()
        written: set[str] = set()
        for item in nodes(node.body):
            if isinstance(item, (ast.Decl, ast.Input)):
                bound.add(item.name)
            elif isinstance(item, ast.For):
                bound.add(item.var)
            elif isinstance(item, ast.Assign):
                target = item.target
                (bound if isinstance(target, ast.Var) else written).add(_base(target))
            elif isinstance(item, (ast.Call, ast.CallStmt)):
                written.update(_base(arg) for arg in item.args if arg.ty is not None and arg.ty.rank)
        for name in list(written):
            written |= aliases.get(name, frozenset())
        return _LoopFacts(frozenset(bound), frozenset(written))

    def invariant(self, name: str) -> bool:
        return name not in self.bound and name not in self.written


def _base(node: ast.Expr) -> str:
    while isinstance(node, (ast.Index, ast.Convert, ast.Subsume)):
        node = node.array if isinstance(node, ast.Index) else node.operand
    return node.name if isinstance(node, ast.Var) else ""


@dataclass(frozen=True)
class _Tail:
    """The last statement `arr[v] = e` of a loop body, when e has an interactive operation that
    reads scalars the body declares (`scalars`: name -> type), so that it cannot be hoisted as it
    stands (the MLP's `hidden[j] = (acc > 0 ? acc : 0) >> s` after an accumulation into `acc`).
    Moving it into a loop of its own, with those scalars expanded into arrays over the
    iterations, keeps the outputs and errors when: `arr` (nor what may alias it) is not used by
    the rest of the body, which has no `return`; e reads nothing but those scalars, `v` and names
    the loop leaves alone, through operators that cannot fail (so neither can e)."""

    stmt: ast.Assign
    scalars: dict[str, Type]

    @staticmethod
    def of(node: ast.For, facts: _LoopFacts, aliases: dict[str, frozenset[str]]) -> Optional["_Tail"]:
        last, head = node.body[-1] if node.body else None, node.body[:-1]
        if not head or not isinstance(last, ast.Assign) or not _indexed_by(last.target, node.var):
            return None
        if not any(interactive(item) for item in nodes(last.value) if isinstance(item, (ast.Binary, ast.Ternary))):
            return None
        assert isinstance(last.target, ast.Index) and isinstance(last.target.array, ast.Var)
        target = last.target.array.name
        if target in facts.bound:  # declared in the body: the second loop would not see it
            return None
        untouchable = {target} | aliases.get(target, frozenset())
        if any(isinstance(item, ast.Return) or (isinstance(item, ast.Var) and item.name in untouchable)
               for item in nodes(head)):
            return None
        declared = {s.name: ast.declared_type(s.type) for s in head if isinstance(s, ast.Decl) and not s.type.dims}
        scalars: dict[str, Type] = {}
        for item in nodes(last.value):
            if not infallible(item):
                return None
            if isinstance(item, ast.Var) and item.name in declared:
                scalars[item.name] = declared[item.name]
            elif isinstance(item, ast.Var) and item.name != node.var and not facts.invariant(item.name):
                return None
        return _Tail(last, scalars) if scalars else None


def _indexed_by(target: ast.Expr, var: str) -> bool:
    """`arr[var]` for an array variable `arr`."""
    return (isinstance(target, ast.Index) and isinstance(target.array, ast.Var)
            and isinstance(target.index, ast.Var) and target.index.name == var)


# ---------------------------------------------------------------- hoisting


@dataclass(frozen=True)
class _Hoisted:
    """One hoisted operation: its batch, its level (1 + the highest level of the batches its
    operands read, 0 if none) and the group (level, call kind) whose batch loop computes it."""

    temp: str
    node: ast.Expr
    group: tuple[int, Hashable]


class _Hoister:
    """Replaces the hoistable operations of one loop body, innermost first, by reads of their
    batches; `hoisted()` gives the declarations and batch loops, one per level and call kind, in
    dependency order (levels ascending)."""

    def __init__(self, var: str, facts: _LoopFacts, bounds: Bounds, names: Iterator[int]):
        self.var, self.facts, self.bounds, self.names = var, facts, bounds, names
        self.ops: list[_Hoisted] = []
        self.groups: dict[tuple[int, Hashable], int] = {}
        self.levels: dict[str, int] = {}

    def expr(self, node: ast.Expr) -> ast.Expr:
        if read_done(node) is not None:
            return node
        fused = relu_rescale(node)
        if fused is not None:
            # The comparison and the selection inside stay put: the whole is one operation.
            assert isinstance(node, ast.Binary)
            node = fused.with_operand(node, self.expr(fused.x))
        else:
            node = map_children(node, self.expr)
        if interactive(node) and self._hoistable(node):
            return self._hoist(node)
        return node

    def _hoistable(self, node: ast.Expr) -> bool:
        fused = relu_rescale(node)
        operands = [fused.x] if fused is not None else list(children(node))
        amount = node.right if fused is None and isinstance(node, ast.Binary) and node.op in _RIGHT_SHIFTS else None
        if amount is not None and self.var in var_names(amount):
            return False  # one call has one amount
        return (all(self._safe(op) and not _pending(op) for op in operands)
                and any(self.var in var_names(op) for op in operands))

    def _safe(self, node: ast.Expr) -> bool:
        for item in nodes(node):
            if isinstance(item, ast.Call):
                return False
            if isinstance(item, ast.Var) and item.name != self.var and not self.facts.invariant(item.name):
                return False
        return True

    def _level(self, node: ast.Expr) -> int:
        read_levels = [self.levels[name] for name in var_names(node) if name in self.levels]
        return 1 + max(read_levels, default=-1)

    def _hoist(self, node: ast.Expr) -> ast.Expr:
        level = self._level(node)
        group = (level, call_kind(node))
        if group not in self.groups:
            self.groups[group] = next(self.names)
        members = sum(1 for op in self.ops if op.group == group)
        temp = f"{BATCH_PREFIX}{self.groups[group]}${members}"
        self.levels[temp] = level
        self.ops.append(_Hoisted(temp, node, group))
        return read(node.span, temp, typed(node), self.bounds.offset(self.var), node)

    def hoisted(self) -> tuple[ast.Stmt, ...]:
        bounds = self.bounds
        out: list[ast.Stmt] = []
        for op in self.ops:
            ty, span = typed(op.node), op.node.span
            out.append(_array(span, op.temp, ty, bounds.len_var()))
        for group in sorted(self.groups, key=lambda g: (g[0], self.groups[g])):
            members = [op for op in self.ops if op.group == group]
            span, done = members[0].node.span, done_name(members[0].temp)
            out.append(_array(span, done, BOOL, bounds.len_var()))
            body = tuple(ast.Assign(op.node.span, self._element(op), op.node) for op in members)
            mark = done_store(span, done, self.bounds.offset(self.var))
            out.append(ast.For(span, self.var, span, bounds.lo_var(), bounds.hi_var(), (*body, mark)))
        return tuple(out)

    def _element(self, op: _Hoisted) -> ast.Index:
        ty, span = typed(op.node), op.node.span
        array = ast.Var(span, op.temp, ty=Type(ty.base, ty.label, 1))
        return ast.Index(span, array, self.bounds.offset(self.var), ty=Type(ty.base, ty.label))


def _array(span: Span, name: str, ty: Type, length: ast.Expr) -> ast.Decl:
    """`ty[length] name;`: a batch, or a group's mask of computed elements (all false at first)."""
    return ast.Decl(span, ast.TypeNode(span, ty.base, ty.label, (length,)), name, span)


def _join(left: Base, right: Base) -> Base:
    """The operand type of a comparison (ezlang.interp.exprs decides it the same way)."""
    if left is right or not left.is_int:
        return left
    return left if left.width >= right.width else right


def _pending(node: ast.Expr) -> bool:
    """Whether `node` still contains an interactive operation outside batch reads."""
    if read_done(node) is not None:
        return False
    return interactive(node) or any(_pending(child) for child in children(node))


# ---------------------------------------------------------------- node helpers


def _secret(ty: Optional[Type]) -> bool:
    return ty is not None and ty.label.is_secret


def _float(ty: Optional[Type]) -> bool:
    return ty is not None and ty.base is Base.FLOAT


def _public_value(node: ast.Expr) -> bool:
    """A public value made secret by a conversion: a product with it is local."""
    return isinstance(node, ast.Convert) and node.operand.ty is not None and not node.operand.ty.label.is_secret
