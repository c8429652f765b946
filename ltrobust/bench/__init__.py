"""Benchmarks (issue 6): PGD speed against its floor and torchattacks, a full audit split by
attack, and peak memory against ``--n`` (:mod:`ltrobust.bench.memory`, not imported here: it is
also the child process's ``__main__``). The library returns data; ``ltrobust bench`` prints."""

from ltrobust.bench.attack import TARGETS, AttackBenchConfig, bench_arch, floor_passes, parse_shape
from ltrobust.bench.run import (
    DEFAULT_AUDIT_MODEL,
    SCHEMA,
    BenchConfig,
    machine_info,
    resolve_device,
    run_bench,
    write_results,
)
from ltrobust.bench.timing import Timings, ratios, time_interleaved

__all__ = [
    "DEFAULT_AUDIT_MODEL",
    "SCHEMA",
    "TARGETS",
    "AttackBenchConfig",
    "BenchConfig",
    "Timings",
    "bench_arch",
    "floor_passes",
    "machine_info",
    "parse_shape",
    "ratios",
    "resolve_device",
    "run_bench",
    "time_interleaved",
    "write_results",
]
