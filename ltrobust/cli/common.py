"""Shared CLI plumbing: consoles, one-line errors, warnings, and data made safe to print."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

from rich.console import Console
from rich.markup import escape

from ltrobust.report.text import visible

stdout = Console()
stderr = Console(stderr=True)
#: the width of the output when it is no terminal (a pipe, a file, a log): tables are not cut
PIPED_WIDTH = 400


def wide_when_piped() -> None:
    """Let tables keep every column and warnings stay one line when stdout or stderr is no
    terminal (``compare | cat``, ``2> log``): rich would fit them to 80 columns and cut cells."""
    for console in (stdout, stderr):
        if not console.is_terminal:
            console.width = PIPED_WIDTH


def shown(value: object) -> str:
    """Data (a class name, a path, a message) safe to print through rich: control characters
    visible and rich markup escaped, so that a name is shown as it is, never acted on."""
    return escape(visible(value))


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``ltrobust: error: message`` on one line of stderr and exit with ``code``."""
    line = " ".join(visible(" ".join(str(message).split())).split())
    print(f"ltrobust: error: {line}", file=sys.stderr)
    raise SystemExit(code)


def warn(message: str) -> None:
    """A warning on stderr (``message`` is data: shown as it is)."""
    stderr.print(f"[yellow]warning:[/] {shown(message)}", highlight=False)


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
