"""Progress of an audit on stderr: rich bars on a terminal, plain lines for a log.

On a terminal, :class:`RichProgress` draws one bar per pass with its ETA and running accuracy.
When stderr is no terminal (SLURM, CI, ``2> log``, ``| tee``), :class:`PlainProgress` prints
lines a log keeps: each pass's start, a line at least every ``LTROBUST_PROGRESS_INTERVAL``
seconds (default 30) while it runs, and its end with accuracy and seconds. Both print the
audit's plan before the first pass and show what AutoAttack does inside a long batch.
"""

from __future__ import annotations

import os
import sys
import threading
import time
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
Q = TypeVar("Q", bound="PlainProgress")
#: environment variable: the most seconds between two plain progress lines of a pass
INTERVAL_ENV = "LTROBUST_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0


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
            TextColumn("[dim]{task.fields[step]}"),
            console=stderr,
            disable=not enabled,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.started = False
        self.enabled = enabled
        self.current: str | None = None

    def __enter__(self: P) -> P:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def start(self, name: str, total: int) -> None:
        if not self.started:  # the bars appear with the first task, not before the input checks
            self.progress.start()
            self.started = True
        self.tasks[name] = self.progress.add_task(name, total=total, acc="  —  ", step="")
        self.current = name

    def advance(self, name: str, n: int, correct: int, seen: int) -> None:
        acc = f"{100 * correct / seen:5.1f}%" if seen else "  —  "
        self.progress.update(self.tasks[name], advance=n, acc=acc, step="")

    def finish(self, name: str) -> None:
        self.progress.update(self.tasks[name], step="")
        self.current = None
        self.progress.refresh()

    def step(self, text: str) -> None:
        """What the current pass does inside its batch (AutoAttack's component and run)."""
        if self.current is not None:
            self.progress.update(self.tasks[self.current], step=text)

    def plan(self, lines: list[str]) -> None:
        """The audit's plan, before the bars."""
        if self.enabled:
            for line in lines:
                stderr.print(line, highlight=False, markup=False, soft_wrap=True)


def progress_interval() -> float:
    """Seconds between two plain progress lines: ``$LTROBUST_PROGRESS_INTERVAL`` or 30."""
    text = os.environ.get(INTERVAL_ENV, "")
    try:
        value = float(text) if text else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value > 0 else DEFAULT_INTERVAL


class PlainProgress:
    """Implements :class:`ltrobust.runtime.progress.Progress` with plain lines on stderr, for
    logs: ``[audit] pgd20: start, 500 samples``, ``[audit] pgd20: 38% (190/500), 31 s`` at
    most and at least every ``interval`` seconds while a pass runs (a timer thread writes it
    when no batch ends in time), ``[audit] pgd20: done, accuracy 61.6%, 12.3 s``."""

    def __init__(
        self, enabled: bool = True, prefix: str = "audit", interval: float | None = None
    ) -> None:
        self.enabled, self.prefix = enabled, prefix
        self.interval = progress_interval() if interval is None else interval
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.timer: threading.Thread | None = None
        self.current: str | None = None
        self.total = self.done = self.correct = 0
        self.t0 = self.last = 0.0
        self.detail = ""

    def __enter__(self: Q) -> Q:
        return self

    def __exit__(self, *exc: object) -> None:
        self.current = None
        self.wake.set()
        if self.timer is not None:
            self.timer.join(timeout=5)

    def _print(self, text: str) -> None:
        print(f"[{self.prefix}] {text}", file=sys.stderr, flush=True)
        self.last = time.monotonic()

    def plan(self, lines: list[str]) -> None:
        if self.enabled:
            for line in lines:
                self._print(line)

    def start(self, name: str, total: int) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.current, self.total, self.done, self.correct = name, total, 0, 0
            self.t0, self.detail = time.monotonic(), ""
            self._print(f"{name}: start, {total} samples")
        if self.timer is None:
            timer = threading.Thread(target=self._beat, daemon=True)
            timer.start()
            self.timer = timer  # only a started thread is joined

    def advance(self, name: str, n: int, correct: int, seen: int) -> None:
        if not self.enabled:
            return
        with self.lock:
            self.done, self.correct, self.detail = seen, correct, ""
            if time.monotonic() - self.last >= self.interval:
                self._status()

    def step(self, text: str) -> None:
        """What the current pass does inside its batch: shown on the next status line."""
        with self.lock:
            self.detail = text

    def finish(self, name: str) -> None:
        if not self.enabled:
            return
        with self.lock:
            acc = f"{100 * self.correct / self.done:.1f}%" if self.done else "—"
            self._print(f"{name}: done, accuracy {acc}, {time.monotonic() - self.t0:.1f} s")
            self.current = None

    def _status(self) -> None:
        share = f"{100 * self.done / self.total:.0f}%" if self.total else "—"
        line = f"{self.current}: {share} ({self.done}/{self.total}), "
        line += f"{time.monotonic() - self.t0:.0f} s"
        self._print(line + (f", {self.detail}" if self.detail else ""))

    def _beat(self) -> None:
        """The timer thread: a status line whenever a pass has printed nothing for a while."""
        while not self.wake.wait(min(self.interval, 1.0)):
            with self.lock:
                if self.current is not None and time.monotonic() - self.last >= self.interval:
                    self._status()


def make_progress(enabled: bool = True, prefix: str = "audit") -> RichProgress | PlainProgress:
    """Rich bars when stderr is a terminal, else plain lines (``prefix`` names the command)."""
    if stderr.is_terminal:
        return RichProgress(enabled=enabled)
    return PlainProgress(enabled=enabled, prefix=prefix)
