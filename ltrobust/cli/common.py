"""Shared CLI plumbing: consoles, one-line errors, number parsing for options."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from typing import NoReturn

from rich.console import Console

stdout = Console()
stderr = Console(stderr=True)


class Norm(str, enum.Enum):
    linf = "linf"
    l2 = "l2"


class GroupMode(str, enum.Enum):
    thirds = "thirds"
    shot = "shot"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``ltrobust: error: message`` on one line of stderr and exit with ``code``."""
    line = " ".join(str(message).split())
    print(f"ltrobust: error: {line}", file=sys.stderr)
    raise SystemExit(code)


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {message}", highlight=False)


def guarded(fn: Callable[[], None]) -> None:
    """Run ``fn``, turning bad-input errors into a one-line message and exit code 2."""
    from ltrobust.errors import LtRobustError

    try:
        fn()
    except LtRobustError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", code=130)


def parse_floats(text: str | None, name: str) -> list[float] | None:
    """``"0.5,0.5,0.5"`` -> floats (each may be a fraction like 1/3); None stays None."""
    if text is None:
        return None
    from ltrobust.attacks.threat import parse_number

    return [parse_number(t, name=name) for t in text.split(",") if t.strip()]


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"
