"""Shared CLI plumbing: consoles, one-line errors, number parsing for options."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

from rich.console import Console

stdout = Console()
stderr = Console(stderr=True)


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


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"
