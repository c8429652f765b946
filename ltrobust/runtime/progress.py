"""The one progress protocol of the library: the CLI draws rich bars with it, nothing prints.

A *task* is one pass over samples (an attack of an audit, an epoch of training, a monitoring
attack). ``advance`` reports how many samples the last batch held and the running count of
correct predictions among all samples seen so far in the task.
"""

from __future__ import annotations

from typing import Any, Protocol


class Progress(Protocol):
    """Receives progress from audits and training runs (only the main process reports)."""

    def start(self, name: str, total: int) -> None: ...

    def advance(self, name: str, n: int, correct: int, seen: int) -> None: ...

    def finish(self, name: str) -> None: ...


class TrainProgress(Progress, Protocol):
    """:class:`Progress` plus one call per finished training epoch with its history row."""

    def epoch_end(self, row: dict[str, Any]) -> None: ...
