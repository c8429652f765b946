"""The one progress protocol of the library: the CLI draws rich bars (or, when stderr is no
terminal, prints plain lines) with it; the library itself prints nothing.

A *task* is one pass over samples (an attack of an audit, an epoch of training, a monitoring
attack). ``advance`` reports how many samples the last batch held and the running count of
correct predictions among all samples seen so far in the task. A progress that also
implements :class:`PlanProgress` receives the audit's plan before its first pass, one that
implements :class:`StepProgress` the steps inside a long batch.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class Progress(Protocol):
    """Receives progress from audits and training runs (only the main process reports)."""

    def start(self, name: str, total: int) -> None: ...

    def advance(self, name: str, n: int, correct: int, seen: int) -> None: ...

    def finish(self, name: str) -> None: ...


@runtime_checkable
class PlanProgress(Protocol):
    """Receives what an audit will run (text lines, :func:`ltrobust.audit.plan.plan_lines`)
    once, after the input checks and before the first pass."""

    def plan(self, lines: list[str]) -> None: ...


@runtime_checkable
class StepProgress(Protocol):
    """Receives what the current task does inside a batch (one line of text: AutoAttack's
    component and run), when one batch takes long."""

    def step(self, text: str) -> None: ...


class TrainProgress(Progress, Protocol):
    """:class:`Progress` plus one call per finished training epoch with its history row."""

    def epoch_end(self, row: dict[str, Any]) -> None: ...
