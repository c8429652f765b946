"""Rich progress bars for the audit: one bar per attack, with ETA and running accuracy."""

from __future__ import annotations

from typing import TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ltrobust.cli.common import stderr

P = TypeVar("P", bound="RichProgress")


class RichProgress:
    """Implements :class:`ltrobust.runtime.progress.Progress` with rich bars on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("acc {task.fields[acc]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=stderr,
            disable=not enabled,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.started = False

    def __enter__(self: P) -> P:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def start(self, name: str, total: int) -> None:
        if not self.started:  # the bars appear with the first task, not before the input checks
            self.progress.start()
            self.started = True
        self.tasks[name] = self.progress.add_task(name, total=total, acc="  —  ")

    def advance(self, name: str, n: int, correct: int, seen: int) -> None:
        acc = f"{100 * correct / seen:5.1f}%" if seen else "  —  "
        self.progress.update(self.tasks[name], advance=n, acc=acc)

    def finish(self, name: str) -> None:
        self.progress.refresh()
