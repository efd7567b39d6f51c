"""Protocol selection from ownership: which sums of products run the one-sided protocol.

Why: a sum of products whose one factor the SERVER knows in the clear (a model's weights) needs
no Beaver triple over that factor: the runtime's one-sided product (docs/protocols.md §5.10)
masks the known matrix once per session and then costs one round and messages the size of the
other factor and of the result. When the other factor is the CLIENT's own input, read only
there, the CLIENT does not even share it first: it sends it masked once, inside the product's
round. This pass decides, per sum of products (ezlang.passes.batch_matrices.SumItem), between
that protocol and the general one (ezrt_matmul_many), and which inputs are then never shared.

The choice (`OneSided`) is made when all of these hold:
* the known factor is `W[index]`, W an array the SERVER inputs at the top level of `main`, and
  the ownership analysis (passes/ownership.py) says the factor is known to the SERVER alone;
* W is *private*: every reference to W in the program is the known factor of a one-sided
  product, so W is never a wire and nothing else reads, writes or passes it;
* `index` reads only the sum loop's variables (as the matrix form's ROW_VAR/COLUMN_VAR for a
  divided form), and every bound that shapes the known matrix is a constant: the known matrix
  is then the same at every execution of the loop, in every query of a session, so the runtime
  may keep the masked copy it registered at the first execution (ezrt_onesided_matmul checks
  the shape at every call).
The other factor is the CLIENT's clear input (`CLIENT_CLEAR`) when it is `X[index]` for an
array X the CLIENT inputs at the top level of `main`, known to the CLIENT alone, and every
reference to X is such a factor; otherwise it is a wire (`WIRE`).

Assumes: a typed program after ezlang.passes.batch_sums (sum loops written), for the secure
backend.
Guarantees: `choose_protocols` returns the program annotated with `known_to` (the code
generator must emit that program: the plan refers to its sum loops by their sums' names) and a
plan in which slots are numbered 0, 1, ... in program order, every private input is consumed by
at least one one-sided product, and every reference to a private input is a factor of one.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Optional

from ezlang.passes.batch_forms import batch_loop, done_name, nodes, read_done, shape, var_names
from ezlang.passes.batch_rounds import batch_rounds
from ezlang.passes.batch_sums import batch_sums
from ezlang.passes.batch_matrices import COLUMN_VAR, ROW_VAR, SUMS_PREFIX, SumItem, SumLoop, sum_loop
from ezlang.passes.fused_ops import relu_rescale
from ezlang.passes.ownership import Ownership
from ezlang.passes.rewrite_tree import functions, root_name
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Role


class Side(enum.IntEnum):
    """Which factor of A·B the SERVER knows (the runtime's EZRT_KNOWN_LEFT / _RIGHT)."""

    LEFT = 0
    RIGHT = 1


class Other(enum.IntEnum):
    """What the other factor is (the runtime's EZRT_OTHER_WIRE / _CLIENT_CLEAR / _SHARED)."""

    WIRE = 0
    CLIENT_CLEAR = 1
    SHARED = 2


@dataclass(frozen=True)
class OneSided:
    """A sum of products computed by ezrt_onesided_matmul."""

    slot: int
    side: Side
    other: Other
    known: str            # the SERVER's private array
    other_array: Optional[str]  # the CLIENT's private array, for CLIENT_CLEAR
    span: Span            # the product `x * y`


@dataclass(frozen=True)
class General:
    """A sum of products left to the general protocol, and why."""

    span: Span
    reason: str


@dataclass(frozen=True)
class PrivateInput:
    """An input that is never shared: its owner keeps the clear values for the one-sided
    products in `slots`."""

    name: str
    owner: Role
    slots: tuple[int, ...]
    span: Span  # the input statement's


@dataclass(frozen=True)
class ProtocolPlan:
    products: dict[str, OneSided]   # by the sums' array name (`sums$G$k`)
    general: dict[str, General]
    inputs: dict[str, PrivateInput]  # by the input's variable name (top level of main)
    shared: dict[str, tuple[str, ...]] = field(default_factory=dict)  # array -> the batches writing it

    def product(self, temp: str) -> Optional[OneSided]:
        return self.products.get(temp)

    def to_shares(self, batch: str) -> bool:
        """Whether the fused ReLU-and-truncation batch `batch` ends with additive shares."""
        return any(batch in batches for batches in self.shared.values())

    def private_input(self, name: str) -> Optional[PrivateInput]:
        return self.inputs.get(name)


EMPTY_PLAN = ProtocolPlan({}, {}, {})

_SERVER, _CLIENT = frozenset({Role.SERVER}), frozenset({Role.CLIENT})


@dataclass(frozen=True)
class _Candidate:
    temp: str
    item: SumItem
    side: Side
    known: str
    known_factor: ast.Expr
    other_factor: ast.Expr


def choose_protocols(program: ast.Program) -> tuple[ast.Program, ProtocolPlan]:
    """The program annotated with ownership, and the protocol of every sum of products."""
    annotated = Ownership().run(program)
    assert isinstance(annotated, ast.Program)
    inputs = _top_level_inputs(annotated)
    references = Counter(name for fn in functions(annotated) for name in _references(fn.body))
    constants = _constants(annotated)
    sums = list(_sum_items(annotated))
    temps = Counter(temp for temp, _, _ in sums)
    general: dict[str, General] = {}
    candidates: list[_Candidate] = []
    for temp, loop, item in sums:
        if temps[temp] > 1:
            general[temp] = General(item.product.span, "its sums' name is not unique in the program")
            continue
        found = _candidate(temp, loop, item, inputs, constants)
        if isinstance(found, str):
            general[temp] = General(item.product.span, found)
        else:
            candidates.append(found)
    candidates = _private_only(candidates, references, general)
    clients = _private_clients(candidates, inputs, references)
    shared = _shared_arrays(annotated, candidates, references)
    products: dict[str, OneSided] = {}
    for slot, found in enumerate(candidates):
        other = _array_of(found.other_factor)
        kind = Other.CLIENT_CLEAR if other in clients else Other.SHARED if other in shared else Other.WIRE
        products[found.temp] = OneSided(slot, found.side, kind, found.known, other if kind is not Other.WIRE else None,
                                        found.item.product.span)
    private: dict[str, PrivateInput] = {}
    for choice in products.values():
        client = choice.other_array if choice.other is Other.CLIENT_CLEAR else None
        for name, owner in ((choice.known, Role.SERVER), (client, Role.CLIENT)):
            if name is not None:
                before = private.get(name)
                slots = (before.slots if before else ()) + (choice.slot,)
                private[name] = PrivateInput(name, owner, slots, inputs[name].span)
    return annotated, ProtocolPlan(products, general, private, shared)


def _top_level_inputs(program: ast.Program) -> dict[str, ast.Input]:
    """Secret array inputs of SERVER or CLIENT written directly in main's body."""
    main = next((fn for fn in functions(program) if fn.name == "main"), None)
    if main is None:
        return {}
    return {stmt.name: stmt for stmt in main.body
            if isinstance(stmt, ast.Input) and stmt.role in (Role.SERVER, Role.CLIENT)
            and ast.declared_type(stmt.type).label.is_secret and ast.declared_type(stmt.type).rank >= 1}


def _sum_items(program: ast.Program) -> Iterator[tuple[str, SumLoop, SumItem]]:
    for fn in functions(program):
        yield from _sums_in(fn.body)


def _sums_in(body: tuple[ast.Stmt, ...]) -> Iterator[tuple[str, SumLoop, SumItem]]:
    """The sum loops as the code generator meets them: a sum loop's inner loops are not others."""
    for stmt in body:
        loop = sum_loop(stmt) if isinstance(stmt, ast.For) else None
        if loop is not None:
            yield from ((item.temp, loop, item) for item in loop.items)
        elif isinstance(stmt, (ast.For, ast.While, ast.Block)):
            yield from _sums_in(stmt.body)
        elif isinstance(stmt, ast.If):
            yield from _sums_in((stmt.then,) if stmt.other is None else (stmt.then, stmt.other))


def _array_of(factor: ast.Expr) -> Optional[str]:
    """W for a factor `W[index]` whose index does not read W, else None."""
    if isinstance(factor, ast.Index) and isinstance(factor.array, ast.Var):
        name = factor.array.name
        if name not in var_names(factor.index):
            return name
    return None


def _candidate(temp: str, loop: SumLoop, item: SumItem, inputs: dict[str, ast.Input],
               constants: frozenset[str]) -> _Candidate | str:
    """The one-sided candidate for `item`, or why it stays general."""
    product = item.product
    for known, other in ((product.left, product.right), (product.right, product.left)):
        name = _array_of(known)
        if name is None or name not in inputs or inputs[name].role is not Role.SERVER:
            continue
        if known.known_to != _SERVER:
            return f"`{name}` is not known to the SERVER alone"
        side = Side.LEFT if name in var_names(item.form.a) else Side.RIGHT
        problem = _varying(loop, item, side, known, constants)
        if problem:
            return problem
        return _Candidate(temp, item, side, name, known, other)
    return "no factor is an input array the SERVER alone knows"


def _varying(loop: SumLoop, item: SumItem, side: Side, known: ast.Expr, constants: frozenset[str]) -> Optional[str]:
    """Why the known matrix could differ between executions, or None if it cannot."""
    loops = loop.loops
    own_vars = {level.var for level in loops}
    free = set(var_names(known)) - own_vars - {ROW_VAR, COLUMN_VAR}
    free.discard(_array_of(known) or "")
    if free:
        return f"the known factor reads {', '.join(sorted(free))}, not only the loops' variables"
    form = item.form
    if form.divisor is not None:
        shaping = [loops[-1]] + ([loops[0]] if side is Side.LEFT else [])
        if not set(var_names(form.divisor)) <= constants:
            return "the divisor of the loop's rows is not a constant"
    else:
        known_side = loops[:form.split] if side is Side.LEFT else loops[form.split:-1]
        shaping = [*known_side, loops[-1]]
    for level in shaping:
        if not set(var_names((level.lo, level.hi))) <= constants:
            return f"the bounds of loop `{level.var}` are not constants"
    return None


def _references(body: tuple[ast.Stmt, ...]) -> Iterator[str]:
    """The variables `body` reads or writes, except in the fallback of a sum loop's consumer
    (`if (sums$G$done[q]) {..} else {F}`): F runs only for a row whose operands failed a check,
    and then fails at the same operand (ezlang.passes.batch_sums), so what F computes before
    is never used."""
    for stmt in body:
        if isinstance(stmt, ast.If) and _is_sums_mask(stmt.cond):
            yield from var_names(stmt.cond)
            yield from _references((stmt.then,))
        elif isinstance(stmt, (ast.For, ast.While, ast.Block)):
            yield from var_names(tuple(getattr(stmt, f) for f in ("lo", "hi", "cond") if hasattr(stmt, f)))
            yield from _references(stmt.body)
        elif isinstance(stmt, ast.If):
            yield from var_names(stmt.cond)
            yield from _references((stmt.then,) if stmt.other is None else (stmt.then, stmt.other))
        else:
            yield from var_names(stmt)


def _is_sums_mask(cond: ast.Expr) -> bool:
    return (isinstance(cond, ast.Index) and isinstance(cond.array, ast.Var)
            and cond.array.name.startswith(SUMS_PREFIX) and cond.array.name.endswith("$done"))


def _constants(program: ast.Program) -> frozenset[str]:
    """Variables that hold one value for the whole run: global constants and variables declared
    once, with an initialiser made of literals and such variables, and never assigned (the batch
    passes hoist loop bounds into them)."""
    decls: Counter[str] = Counter()
    inits: dict[str, ast.Expr] = {}
    assigned: set[str] = set()
    for fn in functions(program):
        for node in nodes(fn.body):
            if isinstance(node, ast.Decl):
                decls[node.name] += 1
                if node.init is not None:
                    inits[node.name] = node.init
            elif isinstance(node, ast.Assign):
                assigned.add(root_name(node.target) or "")
            elif isinstance(node, (ast.Input, ast.For)):
                assigned.add(node.name if isinstance(node, ast.Input) else node.var)
    for global_ in program.globals:
        if isinstance(global_, ast.GlobalConst):  # never assignable
            decls[global_.name] += 1
            inits[global_.name] = global_.value
    candidates = {name for name, count in decls.items() if count == 1 and name in inits and name not in assigned}
    constant: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name in candidates - constant:
            if set(var_names(inits[name])) <= constant:
                constant.add(name)
                changed = True
    return frozenset(constant)


def _private_only(candidates: list[_Candidate], references: Counter[str],
                  general: dict[str, General]) -> list[_Candidate]:
    """The candidates whose known array every reference of which is a candidate's factor."""
    while True:
        uses = Counter(found.known for found in candidates)
        kept = [found for found in candidates if references[found.known] == uses[found.known]]
        for found in candidates:
            if found not in kept:
                general[found.temp] = General(found.item.product.span,
                                              f"`{found.known}` is also used elsewhere, so it must be shared")
        if len(kept) == len(candidates):
            return kept
        candidates = kept


def _private_clients(candidates: list[_Candidate], inputs: dict[str, ast.Input],
                     references: Counter[str]) -> set[str]:
    """CLIENT input arrays read only as the other factor of the chosen products."""
    uses = Counter(_array_of(found.other_factor) for found in candidates
                   if found.other_factor.known_to == _CLIENT)
    return {name for name, count in uses.items()
            if name is not None and name in inputs and inputs[name].role is Role.CLIENT
            and references[name] == count}


def _shared_arrays(program: ast.Program, candidates: list[_Candidate],
                   references: Counter[str]) -> dict[str, tuple[str, ...]]:
    """Arrays that may hold additive shares instead of wires, with the batches writing them: an
    array declared at the top level of main, read only as the other factor of one-sided products
    (whose round then opens it masked: EZRT_OTHER_SHARED), written only with the results of fused
    ReLU-and-truncation batches (ezlang.passes.fused_ops) read nowhere else, or with itself. The
    ReLU's second round, which would open its output, then disappears."""
    main = next((fn for fn in functions(program) if fn.name == "main"), None)
    if main is None:
        return {}
    relus = {temp for node in nodes(program) if isinstance(node, ast.For)
             for loop in [batch_loop(node)] if loop is not None
             for temp, value in loop.items if relu_rescale(value) is not None}
    writes: dict[str, list[ast.Assign]] = {}
    for node in nodes(program):
        if isinstance(node, ast.Assign):
            writes.setdefault(root_name(node.target) or "", []).append(node)
    uses = Counter(_array_of(found.other_factor) for found in candidates)
    shared: dict[str, tuple[str, ...]] = {}
    for stmt in main.body:
        if not (isinstance(stmt, ast.Decl) and uses[stmt.name] and ast.declared_type(stmt.type).rank >= 1):
            continue
        batches = _relu_writes(stmt.name, writes.get(stmt.name, []), relus)
        if batches is None:
            continue
        copies = len(writes.get(stmt.name, [])) - len(batches)
        read_once = all(references[temp] == 1 + batches.count(temp) for temp in set(batches))
        if batches and read_once and references[stmt.name] == uses[stmt.name] + len(writes[stmt.name]) + copies:
            shared[stmt.name] = tuple(dict.fromkeys(batches))
    return shared


def _relu_writes(name: str, assigns: list[ast.Assign], relus: set[str]) -> Optional[list[str]]:
    """The ReLU batches the assignments to `name` store, one per assignment that is not a copy
    of the same element; None if some assignment is neither."""
    batches: list[str] = []
    for assign in assigns:
        value = assign.value
        while isinstance(value, ast.Convert):
            value = value.operand
        if isinstance(value, ast.Index) and shape(value) == shape(assign.target):
            continue
        mask = read_done(value)
        batch = _array_of(value.then) if mask is not None and isinstance(value, ast.Ternary) else None
        if batch is None or batch not in relus or done_name(batch) != mask:
            return None
        batches.append(batch)
    return batches


def explain_secure(program: ast.Program) -> str:
    """`explain` for a prepared program, batched as the secure backend batches it
    (ezlang.run.program.compile_secure)."""
    return explain(choose_protocols(batch_sums(batch_rounds(program)))[1])


def explain(plan: ProtocolPlan) -> str:
    """`ezlang compile --explain-protocols`: the protocol of every sum of products, in program
    order, with why a general one was kept, then the inputs that are never shared."""
    entries: list[tuple[int, str]] = []
    for choice in plan.products.values():
        other = {Other.CLIENT_CLEAR: f"`{choice.other_array}`, the CLIENT's clear input (sent masked within the "
                                     "product's round)",
                 Other.SHARED: f"`{choice.other_array}`, kept as additive shares by the ReLUs that write it "
                               "(opened masked within the product's round)",
                 Other.WIRE: "a shared value"}[choice.other]
        entries.append((choice.span.start, f"{choice.span}: `{_text(choice.span)}`: one-sided product "
                        f"(slot {choice.slot}): `{choice.known}` is known to the SERVER alone and masked once "
                        f"per session; the other factor is {other}"))
    for general in plan.general.values():
        entries.append((general.span.start, f"{general.span}: `{_text(general.span)}`: general matrix product "
                        f"(matrix Beaver): {general.reason}"))
    lines = [text for _, text in sorted(entries, key=lambda entry: entry[0])]
    for private in plan.inputs.values():
        slots = ", ".join(str(slot) for slot in private.slots)
        lines.append(f"{private.span}: input `{private.name}` is never shared: the {private.owner.value} keeps it "
                     f"for slot{'s' * (len(private.slots) != 1)} {slots}")
    lines.append(f"{len(plan.products)} one-sided, {len(plan.general)} general sums of products")
    return "\n".join(lines)


def _text(span: Span) -> str:
    return " ".join(span.text.split())
