"""Parsers of option values given as text, shared by the CLI and the library (torch-free).

Every parser raises :class:`ltrobust.errors.ConfigError` with a one-line message naming the
option, so that bad input is refused before any work starts.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from ltrobust.errors import ConfigError
from ltrobust.limits import KAPPA_LIMIT

_DECIMAL = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
#: a number, or one fraction of two numbers: ``0.03``, ``1e-2``, ``8/255``
_NUMBER = re.compile(rf"\s*({_DECIMAL})\s*(?:/\s*({_DECIMAL})\s*)?")
#: most values a kappa grid may hold
MAX_KAPPAS = 101
#: the norms of a threat model
NORMS = ("linf", "l2")


def parse_number(text: str | float | int, *, name: str = "value") -> float:
    """``"8/255"``, ``"0.03"`` or ``"1e-2"`` as a finite float.

    The grammar is a decimal number or one fraction ``a/b`` of two decimal numbers; anything
    else (``8/255/2``, ``nan``, ``inf``, ``1/0``) raises :class:`ConfigError`.
    """
    if isinstance(text, bool):
        raise ConfigError(f"{name} must be a number, got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _NUMBER.fullmatch(str(text))
        if match is None:
            raise ConfigError(f"{name}: cannot parse {text!r}; use a number like 0.03 or 8/255")
        num, den = match.group(1), match.group(2)
        if den is not None and Fraction(den) == 0:
            raise ConfigError(f"{name}: {text!r} divides by zero")
        value = float(Fraction(num) / Fraction(den)) if den is not None else float(num)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {text!r}")
    return value


def parse_numbers(text: str, *, name: str = "value") -> list[float]:
    """``"0.5,0.5,1/3"`` -> floats (each parsed by :func:`parse_number`)."""
    values = [parse_number(t, name=name) for t in text.split(",") if t.strip()]
    if not values:
        raise ConfigError(f"{name}: give at least one number")
    return values


def parse_kappas(text: str) -> tuple[float, ...]:
    """``"-2:2:0.5"`` (start:stop:step, inclusive) or ``"-2,0,2"`` -> sorted distinct kappas.

    The size of a grid is checked arithmetically before it is built (at most
    :data:`MAX_KAPPAS` values).
    """
    if ":" in text:
        parts = [parse_number(p, name="--kappa") for p in text.split(":")]
        if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
            raise ConfigError(f"--kappa {text!r}: use START:STOP:STEP with STEP > 0, e.g. -2:2:0.5")
        start, stop, step = parts
        span = (stop - start) / step
        if not math.isfinite(span) or span + 1 > MAX_KAPPAS:
            raise ConfigError(f"--kappa {text!r}: give 1 to {MAX_KAPPAS} values")
        count = int(round(span)) + 1
        values = [round(start + i * step, 10) for i in range(count)]
    else:
        values = [parse_number(p, name="--kappa") for p in text.split(",") if p.strip()]
    if not values or len(values) > MAX_KAPPAS:
        raise ConfigError(f"--kappa {text!r}: give 1 to {MAX_KAPPAS} values")
    if any(abs(v) > KAPPA_LIMIT for v in values):
        raise ConfigError(
            f"--kappa {text!r}: each kappa must be in [-{KAPPA_LIMIT:g}, {KAPPA_LIMIT:g}] "
            "(logits x 10^-kappa overflow beyond)"
        )
    return tuple(sorted(set(values)))


def parse_names(text: str, *, name: str) -> list[str]:
    """``"a, b,a"`` -> ``["a", "b"]`` (lower-cased, order kept, duplicates dropped)."""
    out: list[str] = []
    for raw in text.split(","):
        item = raw.strip().lower()
        if item and item not in out:
            out.append(item)
    if not out:
        raise ConfigError(f"{name}: give at least one name")
    return out
