"""The errors of `ezlang import` (E08xx): each is one Diagnostic naming the file and what to do.

Why: importing stops at the first problem it cannot work around, but within one problem it
reports everything at once; above all, a model with several unsupported operators gets one
error listing each node, so that the model owner sees the whole list before re-exporting.
"""

from __future__ import annotations

from typing import Optional, Sequence

from ezlang.diagnostics import Diagnostic, Severity, register

UNREADABLE_MODEL = register("E0801", "cannot read the ONNX model")
UNSUPPORTED = register("E0802", "the model uses operators or attributes ezlang cannot import")
UNSUPPORTED_SHAPE = register("E0803", "a tensor shape the importer cannot represent")
BAD_CALIBRATION = register("E0804", "cannot use the calibration inputs")
BAD_LABELS = register("E0805", "cannot read the class labels")
NO_FORMAT = register("E0806", "no fixed-point format fits the model")


class ImportFailure(Exception):
    """Why a model cannot be imported; `diagnostic` is what the CLI prints."""

    def __init__(self, code: str, message: str, *, notes: Sequence[str] = (), help: Optional[str] = None):
        super().__init__(message)
        self.diagnostic = Diagnostic(code, Severity.ERROR, message, None, notes=tuple(notes), help=help)
