"""The abstract state of the range analysis: scoped variables and a heap of array summaries.

Why: arrays are shared by reference (a callee writes its caller's array), so array variables
hold the set of allocation sites they may denote (`Roots`) and each site has one interval
summarising all its elements; scalars hold an interval of the values they may have.

Assumes: structured control flow, so states joined at a merge point have the same scopes.
Guarantees: `join` and `widen` are upper bounds of their arguments; `widen` moves every bound
that grew to the end of its type's range, so iterating it reaches a fixpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from ezlang.types import Base, Type

from ezlang.passes.ranges_domain import Interval, type_range


@dataclass(frozen=True)
class Roots:
    """The allocation sites (ids of their Decl/Input nodes) an array value may denote."""

    ids: frozenset[int]


Value = Union[Interval, Roots, None]  # None: a float or a void result (not tracked)
Binding = tuple[Type, Value]


def join_values(a: Value, b: Value) -> Value:
    if isinstance(a, Interval) and isinstance(b, Interval):
        return a.join(b)
    if isinstance(a, Roots) and isinstance(b, Roots):
        return Roots(a.ids | b.ids)
    return a if b is None else b


class State:
    """Variables by scope (innermost last; scope 0 holds the global constants) and the heap."""

    __slots__ = ("scopes", "heap")

    def __init__(self, scopes: list[dict[str, Binding]], heap: dict[int, Optional[Interval]]):
        self.scopes = scopes
        self.heap = heap

    def copy(self) -> "State":
        return State([dict(scope) for scope in self.scopes], dict(self.heap))

    def lookup(self, name: str) -> Binding:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise KeyError(name)

    def assign(self, name: str, value: Value) -> None:
        for scope in reversed(self.scopes):
            if name in scope:
                scope[name] = (scope[name][0], value)
                return
        raise KeyError(name)

    def declare(self, name: str, ty: Type, value: Value) -> None:
        self.scopes[-1][name] = (ty, value)

    def push(self) -> None:
        self.scopes.append({})

    def pop(self) -> None:
        self.scopes.pop()

    def elements(self, roots: Roots) -> Optional[Interval]:
        """The join of the summaries of every site `roots` may denote (None for floats)."""
        found: Value = None
        for site in roots.ids:
            found = join_values(found, self.heap.get(site))
        return found if isinstance(found, Interval) else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, State) and self.scopes == other.scopes and self.heap == other.heap


def join(a: Optional[State], b: Optional[State]) -> Optional[State]:
    """The least upper bound; None is the state of a point no run reaches."""
    if a is None or b is None:
        return b.copy() if a is None and b is not None else (a.copy() if a is not None else None)
    scopes = [_join_scope(x, y) for x, y in zip(a.scopes, b.scopes)]
    heap = dict(a.heap)
    for site, value in b.heap.items():
        joined = join_values(heap.get(site), value)
        heap[site] = joined if isinstance(joined, Interval) else None
    return State(scopes, heap)


def _join_scope(a: dict[str, Binding], b: dict[str, Binding]) -> dict[str, Binding]:
    merged = dict(a)
    for name, (ty, value) in b.items():
        merged[name] = (ty, join_values(merged[name][1], value)) if name in merged else (ty, value)
    return merged


def widen(old: State, new: State, bases: dict[int, Base]) -> State:
    """`new` with every bound that moved past `old` pushed to its type's end."""
    scopes = [{name: (ty, _widen(old_scope.get(name, (ty, None))[1], value, ty.base))
               for name, (ty, value) in new_scope.items()}
              for old_scope, new_scope in zip(old.scopes, new.scopes)]
    heap = {site: _widen(old.heap.get(site), value, bases[site]) for site, value in new.heap.items()}
    return State(scopes, {site: value if isinstance(value, Interval) else None for site, value in heap.items()})


def _widen(old: Value, new: Value, base: Base) -> Value:
    if not isinstance(old, Interval) or not isinstance(new, Interval) or old == new:
        return new
    ring = type_range(base)
    return Interval(ring.lo if new.lo < old.lo else new.lo, ring.hi if new.hi > old.hi else new.hi, new.wrapped)
