"""Interleaved timing: wall and process-CPU seconds of several callables, measured in rounds.

Every round calls each callable once, in an order rotated by one place per round, so that a
slow spell of a shared machine (other processes, thermal or frequency changes) falls on all of
them alike and no callable always runs first. Ratios are taken round by round (``a_i / b_i`` of
calls made seconds apart) and summarised by their median, which a single disturbed round
cannot move.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: a barrier that waits until queued device work is done (``torch.cuda.synchronize``), or a no-op
Sync = Callable[[], None]


def _no_sync() -> None:
    return None


@dataclass
class Timings:
    """Seconds of one callable, one entry per round (``wall[i]`` and ``cpu[i]`` of round i).

    ``cpu`` is the process CPU time (all threads of this process, user + system): it leaves
    out time the process waited for a core held by another process, but counts every core the
    process used, so with T threads it can exceed the wall time by up to T times.
    """

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Median and min of the wall time, median of the CPU time, and the raw rounds."""
        return {
            "median_s": statistics.median(self.wall),
            "min_s": min(self.wall),
            "cpu_median_s": statistics.median(self.cpu),
            "rounds_wall_s": list(self.wall),
            "rounds_cpu_s": list(self.cpu),
        }


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int = 1,
    sync: Sync = _no_sync,
    on_round: Callable[[int, int], None] | None = None,
) -> dict[str, Timings]:
    """Time each of ``fns`` ``repeats`` times, interleaved, after ``warmup`` untimed rounds.

    Round r calls the callables in their given order rotated left by r. ``sync`` runs before
    the clock starts and before it stops (so asynchronous device work is counted); Python's
    cyclic garbage collector runs once before the first call and is paused inside every timed
    call (it then runs between calls), so a collection never lands in one contender's time.
    ``on_round(done, total)`` is told after every round, warmup included.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(fns)
    out = {name: Timings() for name in names}
    total = warmup + repeats
    gc.collect()
    for r in range(total):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            sync()
            gc.disable()
            try:
                w0, c0 = time.perf_counter(), time.process_time()
                fns[name]()
                sync()
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            finally:
                gc.enable()
            if r >= warmup:
                out[name].wall.append(wall)
                out[name].cpu.append(cpu)
        if on_round is not None:
            on_round(r + 1, total)
    return out


def _div(x: float, y: float) -> float | None:
    return x / y if y > 0 else None


def ratios(a: Timings, b: Timings) -> dict[str, float | None]:
    """How many times slower ``a`` is than ``b``.

    ``median``: median over rounds of ``a.wall[i] / b.wall[i]`` (the headline figure);
    ``min``: ``min(a.wall) / min(b.wall)`` (best case of each); ``cpu``: ratio of the medians
    of the process CPU time. A zero denominator (a clock too coarse) gives ``None``.
    """
    per_round = [x / y for x, y in zip(a.wall, b.wall, strict=True) if y > 0]
    return {
        "median": statistics.median(per_round) if per_round else None,
        "min": _div(min(a.wall), min(b.wall)),
        "cpu": _div(statistics.median(a.cpu), statistics.median(b.cpu)),
    }
