"""The kinds of value a report holds, as types: each names its bounds once, for the dataclasses
that carry it, for the validation of report.json and for its JSON Schema.

A type is a plain Python type with its constraints attached (``Annotated``), so mypy sees a
``float`` where pydantic sees a finite float in [0, 1]. A value of the wrong kind is refused
with one sentence, ``must be a number in [0, 1] or null, got "0.5"``, whatever the underlying
check was. Numbers are strict: a string, a boolean or NaN is never read as a number, and an
integer must fit a double exactly (|n| <= 2**53). Torch-free.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeGuard, TypeVar

from pydantic import AfterValidator, Field, Strict, ValidationError, WrapValidator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from ltrobust.limits import KAPPA_LIMIT, MAX_INT

T = TypeVar("T")


def brief(v: Any) -> str:
    """A value as a message shows it: one line, short, control characters escaped."""
    if isinstance(v, Mapping):
        return "an object"
    if isinstance(v, list | tuple):
        return "a list"
    if isinstance(v, str):
        return json.dumps(v[:40]) + ("..." if len(v) > 40 else "")
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, int):
        if abs(v) < 10**20:
            return str(v)
        return f"an integer of about {int(v.bit_length() * 0.30103) + 1} digits"
    if isinstance(v, float):
        return json.dumps(v)  # NaN, Infinity, -Infinity as JSON readers write them
    return f"a {type(v).__name__}"


def is_number(v: object) -> TypeGuard[float]:
    """A finite int or float (not a bool) that a float can hold."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond the float range
        return False


def is_int(v: object) -> TypeGuard[int]:
    """An int (not a bool) of at most 2**53 in size."""
    return isinstance(v, int) and not isinstance(v, bool) and -MAX_INT <= v <= MAX_INT


def expect(what: str) -> WrapValidator:
    """Refuse whatever the wrapped type refuses with one sentence: ``must be {what}, got X``;
    an integer beyond 2**53 is refused wherever a number is read (a double cannot hold it)."""

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            if is_int(value) or not isinstance(value, int) or isinstance(value, bool):
                return handler(value)
        except ValidationError:
            pass
        raise PydanticCustomError(
            "report_value", "must be {what}, got {got}", {"what": what, "got": brief(value)}
        )

    return WrapValidator(check)


def _present(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("report_value", "must not be null (leave the key out)")
    return value


#: a field that may be left out but is never null: ``None`` in Python means "not written"
Omit = Annotated[T | SkipJsonSchema[None], AfterValidator(_present)]

_F = Annotated[float, Strict()]
_I = Annotated[int, Strict(), Field(ge=-MAX_INT, le=MAX_INT)]

#: a finite number (an integer stays one: a threshold that counts samples)
Real = Annotated[Annotated[int, Strict()] | _F, expect("a finite number")]
#: a number > 0 (a budget, a step)
Positive = Annotated[_F, Field(gt=0), expect("a number > 0")]
#: a number >= 0
NonNegative = Annotated[_F, Field(ge=0), expect("a number >= 0")]
#: wall seconds
Seconds = Annotated[_F, Field(ge=0), expect("a number >= 0")]
#: a recall, an accuracy, a share of samples; None: no samples
Fraction = Annotated[Annotated[_F, Field(ge=0, le=1)] | None, expect("a number in [0, 1] or null")]
#: a fraction minus another (boundary error, inflation)
Difference = Annotated[
    Annotated[_F, Field(ge=-1, le=1)] | None, expect("a number in [-1, 1] or null")
]
#: the logits are multiplied by 10^-kappa
Kappa = Annotated[
    _F,
    Field(ge=-KAPPA_LIMIT, le=KAPPA_LIMIT),
    expect(f"a number in [{-KAPPA_LIMIT:g}, {KAPPA_LIMIT:g}]"),
]
#: an integer (|n| <= 2**53)
Integer = Annotated[_I, expect("an integer")]
#: a count of samples, classes, steps
Count = Annotated[_I, Field(ge=0), expect("an integer >= 0")]
#: an integer >= 1
PositiveInt = Annotated[_I, Field(ge=1), expect("an integer >= 1")]
#: a class index (its upper bound, the number of classes, is checked against the data)
ClassIndex = Annotated[_I, Field(ge=0), expect("an integer >= 0")]
Text = Annotated[str, Strict(), expect("a string")]
Flag = Annotated[bool, Strict(), expect("true or false")]
#: an attack's settings (its ``repr`` as data), a checkpoint's description: free-form JSON
#: objects, whose numbers the validation checks are finite
Settings = dict[str, Any]
VerdictName = Annotated[
    Literal["reliable", "suspect", "inflated", "degenerate"],
    expect('one of "reliable", "suspect", "inflated", "degenerate"'),
]
