"""Benchmarks: PGD speed against its floor and torchattacks, a full audit split by attack, peak
memory against ``--n`` (:mod:`ltrobust.bench.memory`, also the child process's ``__main__``),
and seconds per training epoch. The library returns data; ``ltrobust bench`` prints. Names
load lazily: :mod:`ltrobust.bench.config` is torch-free."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltrobust.lazy import exports

if TYPE_CHECKING:
    from ltrobust.bench.attack import TARGETS, bench_arch, floor_passes
    from ltrobust.bench.config import (
        DEFAULT_AUDIT_MODEL,
        AttackBenchConfig,
        BenchConfig,
        TrainBenchConfig,
        parse_shape,
        parse_sizes,
    )
    from ltrobust.bench.run import SCHEMA, machine_info, run_bench, write_results
    from ltrobust.bench.timing import Timings, ratios, time_interleaved

_WHERE = {
    **dict.fromkeys(("TARGETS", "bench_arch", "floor_passes"), "ltrobust.bench.attack"),
    **dict.fromkeys(
        (
            "DEFAULT_AUDIT_MODEL",
            "AttackBenchConfig",
            "BenchConfig",
            "TrainBenchConfig",
            "parse_shape",
            "parse_sizes",
        ),
        "ltrobust.bench.config",
    ),
    **dict.fromkeys(("SCHEMA", "machine_info", "run_bench", "write_results"), "ltrobust.bench.run"),
    **dict.fromkeys(("Timings", "ratios", "time_interleaved"), "ltrobust.bench.timing"),
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, globals(), _WHERE)
