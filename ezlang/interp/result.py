"""What a run of the reference interpreter produces: outputs, an optional trace, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ezlang.diagnostics import Diagnostic, Severity, register
from ezlang.source import Span
from ezlang.types import Role, Type

INDEX_OUT_OF_BOUNDS = register("E0601", "array index out of bounds")
NO_EXTERN_IMPLEMENTATION = register("E0604", "extern function without an implementation")
NEGATIVE_DIMENSION = register("E0605", "negative array dimension")
CALL_TOO_DEEP = register("E0606", "call depth exceeded")
NO_MAIN = register("E0607", "program has no main function")
BAD_EXTERN_RESULT = register("E0608", "extern function produced an ill-typed value")
MISSING_RETURN = register("E0609", "function ended without returning a value")


class InterpError(Exception):
    """A run-time error (E06xx) with the span of the construct that failed."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(f"{diagnostic.span}: {diagnostic.message}" if diagnostic.span else diagnostic.message)
        self.diagnostic = diagnostic

    @classmethod
    def at(cls, span: Optional[Span], code: str, message: str, *, label: str = "",
           help: Optional[str] = None) -> "InterpError":
        return cls(Diagnostic(code, Severity.ERROR, message, span, label, (), help))


@dataclass(frozen=True)
class OutputValue:
    """One executed `output(recipient, e)`; `text` is e's source text, `value` a deep copy."""

    span: Span
    recipient: Role
    text: str
    type: Type
    value: Any  # int | bool | float for scalars; nested lists for arrays (row-major)


@dataclass(frozen=True)
class TraceEvent:
    """`stmt`: a statement started (value None); `value`: a public scalar expression's value."""

    kind: str
    offset: int
    value: Any


@dataclass(frozen=True)
class RunResult:
    """Outputs per party (an ALL output appears under both), the trace, and input warnings."""

    outputs: dict[Role, tuple[OutputValue, ...]]
    trace: tuple[TraceEvent, ...] = ()
    warnings: tuple[Diagnostic, ...] = field(default=())

    def view(self, role: Role) -> tuple[tuple[TraceEvent, ...], tuple[Any, ...]]:
        """What `role` observes: the public trace and the values of the outputs sent to it."""
        return self.trace, tuple(out.value for out in self.outputs[role])
