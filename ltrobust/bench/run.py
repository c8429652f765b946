"""``ltrobust bench`` as a library call: one run, one dict of results.

One run measures, with the same threads and device throughout:

- per architecture, at one batch: the floor (k forward+backward passes), our ``pgdK`` and
  torchattacks' PGD, interleaved, with the ratios (:mod:`ltrobust.bench.attack`);
- a full default audit on ``audit_n`` samples, split by attack (:mod:`ltrobust.bench.audit_time`);
- the peak memory of an audit at each of ``memory_sizes`` (:mod:`ltrobust.bench.memory`);
- with ``train``, the seconds per epoch of robust training on data shaped like a long-tailed
  preset (:mod:`ltrobust.bench.train_time`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import ltrobust
from ltrobust.bench.attack import bench_arch, torchattacks_version
from ltrobust.bench.config import BenchConfig, TrainBenchConfig
from ltrobust.fileio import atomic_write_text
from ltrobust.runtime.dist import resolve_device

SCHEMA = "ltrobust-bench/1"

#: receives one line about what the benchmark is doing now
EventFn = Callable[[str], None]


def cpu_model() -> str:
    """The CPU's model name (as ``lscpu`` shows it), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device, threads: int) -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": threads,
        "versions": {
            "ltrobust": ltrobust.__version__,
            "torch": torch.__version__,
            "torchattacks": torchattacks_version(),
            "python": platform.python_version(),
        },
    }
    if device.type == "cuda":
        info["cuda"] = {
            "version": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "tf32_conv": torch.backends.cudnn.allow_tf32,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        }
    if hasattr(os, "getloadavg"):
        info["load_average_start"] = list(os.getloadavg())
    return info


def run_bench(
    config: BenchConfig, *, command: str = "", on_event: EventFn | None = None
) -> dict[str, Any]:
    """Run the benchmark of ``config`` and return its results (see the module docstring).

    Sets torch's intra-op threads to ``config.threads`` for the run and restores them after.
    """
    config.validate()
    event = on_event or (lambda _msg: None)
    device = resolve_device(config.device)
    old_threads = torch.get_num_threads()
    threads = config.threads or old_threads
    torch.set_num_threads(threads)
    try:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command,
            "machine": machine_info(device, threads),
            "settings": _settings(config),
        }
        out["attack"] = [_one_arch(arch, config, device, event) for arch in config.archs]
        out["audit"] = _audit(config, device, event) if config.audit_n else None
        out["memory"] = _memory(config, device, threads, event) if config.memory_sizes else None
        out["train"] = _train(config.train, device, event) if config.train else None
        if hasattr(os, "getloadavg"):
            out["machine"]["load_average_end"] = list(os.getloadavg())
        return out
    finally:
        torch.set_num_threads(old_threads)


def _settings(config: BenchConfig) -> dict[str, Any]:
    out = asdict(config)
    out["attack"]["input_shape"] = config.attack.input_shape and list(config.attack.input_shape)
    out["attack"]["precisions"] = list(config.attack.precisions)
    return out


def _one_arch(
    arch: str, config: BenchConfig, device: torch.device, event: EventFn
) -> dict[str, Any]:
    cfg = config.attack
    rounds = cfg.warmup + cfg.repeats
    event(
        f"{arch}: floor / ours / torchattacks, batch {cfg.batch_size}, {rounds} rounds"
        + (f" per precision ({', '.join(cfg.precisions)})" if len(cfg.precisions) > 1 else "")
    )
    return bench_arch(arch, cfg, device, on_round=lambda i, t: event(f"{arch}: round {i}/{t} done"))


def _audit(config: BenchConfig, device: torch.device, event: EventFn) -> dict[str, Any]:
    from ltrobust.bench.audit_time import time_audit

    event(f"audit of {config.audit_model} on {config.audit_n} samples")
    out = time_audit(
        config.audit_model,
        dataset=config.audit_dataset,
        n=config.audit_n,
        attacks=config.audit_attacks,
        batch_size=config.attack.batch_size,
        device=str(device),
        precision=config.audit_precision,
        channels_last=config.attack.channels_last,
        data_dir=config.data_dir,
        on_phase=lambda name: event(f"audit: {name}"),
    )
    if config.audit_extrapolate and out["n"]:
        out["extrapolated"] = extrapolate(out, config.audit_extrapolate)
    return out


def extrapolate(audit: dict[str, Any], n: int) -> dict[str, Any]:
    """The audit's wall time scaled linearly from its ``n`` samples to ``n`` (an estimate, not a
    measurement: every attack's work grows with the samples it attacks, the fixed costs of
    loading are small; the robust share of the larger set is assumed the same)."""
    scale = n / audit["n"]
    return {
        "n": n,
        "measured_n": audit["n"],
        "total_s": audit["total_s"] * scale,
        "attacks_s": {k: v * scale for k, v in audit["attacks_s"].items()},
        "method": f"measured on {audit['n']} samples, scaled linearly by {scale:g}",
    }


def _memory(
    config: BenchConfig, device: torch.device, threads: int, event: EventFn
) -> dict[str, Any]:
    from ltrobust.bench.memory import memory_scaling

    return memory_scaling(
        config.audit_model,
        config.memory_sizes,
        on_size=lambda n: event(f"memory: fresh process, audit ({config.memory_attack}) n={n}"),
        dataset=config.audit_dataset,
        attack=config.memory_attack,
        batch_size=config.attack.batch_size,
        device=str(device),
        threads=threads,
        data_dir=config.data_dir,
    )


def _train(config: TrainBenchConfig, device: torch.device, event: EventFn) -> dict[str, Any]:
    from ltrobust.bench.train_time import time_train_epoch

    event(
        f"train: {config.arch}, {config.method}, PGD-{config.steps}, {config.precision}, "
        f"{config.epochs} epochs on data shaped like {config.like}"
    )
    return time_train_epoch(
        config, device, on_epoch=lambda e, s: event(f"train: epoch {e} took {s:.1f} s")
    )


def write_results(path: str | os.PathLike[str], results: dict[str, Any]) -> None:
    """Write ``results`` as indented JSON, atomically (a reader never sees half a file)."""
    atomic_write_text(path, json.dumps(results, indent=2, sort_keys=False) + "\n")
