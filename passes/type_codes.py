"""The diagnostic codes of the type checker, registered once, and the helpers that quote source.

E03xx are information-flow errors: the program would be accepted if the offending value were
public. E04xx are ordinary type and label errors, E05xx program-structure errors.
"""

from __future__ import annotations

from typing import Union

from ezlang.diagnostics import register
from ezlang.source import Span
from ezlang.syntax import ast
from ezlang.types import Label

SECRET_TO_PUBLIC = register("E0301", "secret value flows into a public destination")
SECRET_IF = register("E0302", "`if` condition depends on a secret")
SECRET_WHILE = register("E0303", "`while` condition depends on a secret")
SECRET_FOR_BOUND = register("E0304", "`for` bound depends on a secret")
SECRET_INDEX = register("E0305", "array index depends on a secret")
SECRET_DIMENSION = register("E0306", "array dimension depends on a secret")
SECRET_SHIFT = register("E0307", "shift amount depends on a secret")
SECRET_POW = register("E0308", "`^^` operand depends on a secret")
SECRET_TERNARY = register("E0309", "public ternary condition depends on a secret")
SECRET_ALL_INPUT = register("E0310", "input from ALL declared secret")
PUBLIC_PARTY_INPUT = register("E0311", "private input declared public")
SECRET_PUBLIC_OP = register("E0312", "secret operand of a public operation")
SECRET_DECLASSIFIED = register("E0313", "subsumption of a secret to public")
EXTERN_REVEALS = register("E0314", "extern could reveal a secret argument")

MISMATCH = register("E0401", "mismatched types")
NO_JOIN = register("E0402", "operands or branches of incompatible types")
NOT_SCALAR = register("E0403", "array used where a scalar is needed")
WRONG_LABEL = register("E0404", "value has the wrong label")
NO_LABEL = register("E0405", "operator label cannot be inferred")
UNARY_LABEL = register("E0406", "unary operator needs a boolean or public label")
BINARY_LABEL = register("E0407", "operator not available under this label")
NOT_ARRAY = register("E0408", "indexing a value that is not an array")
BAD_SUBSUMPTION = register("E0409", "invalid labels in subsumption")
NOT_NUMERIC = register("E0410", "operand must be an integer or a float")
NOT_INTEGER = register("E0411", "operand must be an integer")
NOT_BOOL = register("E0412", "operand must be a bool")
VOID_VALUE = register("E0413", "void function used as a value")
IMPURE_CALL = register("E0414", "call in an expression may modify an array")
BITLEN = register("E0415", "secret integer width differs from --bitlen")
INT_FL = register("E0416", "integers cannot be fl-shared")
BOOL_LABEL = register("E0417", "bool can only be pl or bl")
FLOAT_LABEL = register("E0418", "float can only be pl or fl")
ASSIGN_GLOBAL = register("E0419", "assignment to a global constant")
ASSIGN_CONST = register("E0420", "assignment into a const array")
NOT_LVALUE = register("E0421", "assignment target is not a variable or array element")
ASSIGN_LOOP_VAR = register("E0422", "loop variable assigned in its loop")
ARITY = register("E0423", "wrong number of arguments")
FIXED_OPERATOR = register("E0424", "operator not defined on fixed point")
FIXED_TO_INT = register("E0425", "fixed-point value where an integer is expected")
FIXED_LABEL = register("E0426", "fixed point can only be pl or al")
FIXED_LITERAL_RANGE = register("E0427", "literal does not fit the ring at its fixed-point scale")
FIXED_INT_MIX = register("E0428", "fixed point mixed with an unsigned or other-width integer")
FIXED_SCALE = register("E0429", "fixed-point scale not below the ring width")
INPUT_RANGE = register("E0430", "invalid declared input range")
INPUT_SCALE_CONFLICT = register("E0431", "input name read with different fixed-point types")

ARRAY_RETURN = register("E0501", "function returns an array")
DISCARDED_RESULT = register("E0502", "call statement discards a result")
MISSING_RETURN_VALUE = register("E0503", "`return;` in a non-void function")
INLINE_RETURN = register("E0504", "`return` in an inline function")
INLINE_NON_VOID = register("E0505", "inline function is not void")
NO_MAIN = register("E0506", "program does not end with `def void main()`")
MAIN_RETURN = register("E0507", "`return` in main")
VOID_RETURN_VALUE = register("E0508", "`return` with a value in a void function")

_MAX_QUOTE = 60
Quotable = Union[ast.Expr, ast.TypeNode, Span]


def quote(node: Quotable) -> str:
    """The source text of a node in backticks, on one line, shortened when long."""
    span = node if isinstance(node, Span) else node.span
    text = " ".join(span.text.split())
    if len(text) > _MAX_QUOTE:
        text = text[:_MAX_QUOTE - 3] + "..."
    return f"`{text}`"


def label_name(label: Label) -> str:
    return {Label.PL: "public", Label.AL: "arithmetic-shared", Label.BL: "boolean-shared",
            Label.FL: "SecFloat-shared"}[label]
