"""PGD speed: the floor of k forward+backward passes, our ``pgdK`` and torchattacks' PGD.

All three run on the same model object, the same batch, the same threads and device, in
interleaved rounds (:mod:`ltrobust.bench.timing`).

The floor is exactly the gradient work PGD cannot avoid, done the way our attack does it:
``k`` times, a fresh leaf copy of the clean batch with ``requires_grad=True``, a forward pass of
the model in eval mode, the per-sample cross-entropy summed over the batch, and
``torch.autograd.grad`` of that sum with respect to the input only. The model's parameters
keep their ``requires_grad`` (our attack does not change them; autograd then skips the weight
gradients because only the input's is asked for). It leaves out what an attack adds on top:
the random start, the sign step, the projection, input checks and per-sample seeds.

Our attack is called exactly as the audit calls it: ``build_attack("pgdK", threat, step)`` and
per-sample seeds ``sample_seeds(seed, salt_of("pgdK"), indices)`` drawn inside the timed call,
as the audit draws them per batch.
"""

from __future__ import annotations

import importlib.metadata
import statistics
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ltrobust.attacks.registry import build_attack
from ltrobust.attacks.rng import salt_of, sample_seeds
from ltrobust.attacks.threat import ThreatModel
from ltrobust.bench.config import AttackBenchConfig
from ltrobust.bench.timing import Timings, ratios, time_interleaved

#: the targets: ours <= 1.10 x the floor (in each precision), never slower than
#: torchattacks (float32: torchattacks has no mixed precision)
TARGETS = {"ours_vs_floor": 1.10, "ours_vs_torchattacks": 1.0, "ours@bf16_vs_floor@bf16": 1.10}
#: input shape per architecture when none is given: small_cnn is used on Fashion-MNIST here,
#: every other architecture on CIFAR
DEFAULT_SHAPES = {"small_cnn": (1, 28, 28)}
CIFAR_SHAPE = (3, 32, 32)
NUM_CLASSES = 10


def shape_for(arch: str, config: AttackBenchConfig) -> tuple[int, int, int]:
    return config.input_shape or DEFAULT_SHAPES.get(arch, CIFAR_SHAPE)


def build_bench_model(arch: str, shape: tuple[int, int, int], seed: int) -> nn.Module:
    """``create_model(arch)`` with random weights from ``seed`` (the global RNG is untouched)."""
    from ltrobust.models import create_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_model(
            arch, num_classes=NUM_CLASSES, in_channels=shape[0], input_size=shape[1]
        ).eval()


def floor_passes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, k: int) -> None:
    """``k`` forward+backward passes w.r.t. the input: the floor (see the module docstring)."""
    with torch.enable_grad():
        for _ in range(k):
            xr = x.detach().requires_grad_(True)
            loss = F.cross_entropy(model(xr), y, reduction="none").sum()
            torch.autograd.grad(loss, xr)


def torchattacks_version() -> str | None:
    try:
        return importlib.metadata.version("torchattacks")
    except importlib.metadata.PackageNotFoundError:
        return None


def contenders(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackBenchConfig,
    precision: str = "fp32",
    with_torchattacks: bool = True,
) -> tuple[dict[str, Callable[[], object]], dict[str, str]]:
    """The callables to time and a description of each, in ``precision``: ``fp32``, or
    ``bf16`` (keys ``floor@bf16``, ``ours@bf16``: both run under bfloat16 autocast, the way
    ``ltrobust audit --amp bf16`` runs an attack; torchattacks only in fp32, when installed)."""
    threat = ThreatModel("linf", config.eps)
    ours = build_attack(f"pgd{config.steps}", threat, config.step_size)
    salt = salt_of(ours.name)
    idx = torch.arange(len(y))

    def floor() -> None:
        floor_passes(model, x, y, config.steps)

    def attack() -> None:
        ours(model, x, y, seeds=sample_seeds(config.seed, salt, idx))

    fns: dict[str, Callable[[], object]] = {"floor": floor, "ours": attack}
    what = {
        "floor": f"{config.steps} x (forward + autograd.grad of summed CE w.r.t. the input)",
        "ours": repr(ours),
    }
    if precision == "bf16":
        dtype = torch.bfloat16
        return (
            {f"{k}@bf16": _autocast(fn, x.device.type, dtype) for k, fn in fns.items()},
            {f"{k}@bf16": f"{w}, under torch.autocast(bfloat16)" for k, w in what.items()},
        )
    if with_torchattacks and torchattacks_version() is not None:
        import torchattacks

        ta = torchattacks.PGD(
            model, eps=config.eps, alpha=config.step_size, steps=config.steps, random_start=True
        )
        fns["torchattacks"] = lambda: ta(x, y)
        what["torchattacks"] = (
            f"torchattacks.PGD(eps={config.eps:.6g}, alpha={config.step_size:.6g}, "
            f"steps={config.steps}, random_start=True)"
        )
    return fns, what


def _autocast(fn: Callable[[], object], device_type: str, dtype: torch.dtype) -> Callable[[], None]:
    def run() -> None:
        with torch.autocast(device_type=device_type, dtype=dtype):
            fn()

    return run


def _shifted(
    on_round: Callable[[int, int], None], done: int, total: int
) -> Callable[[int, int], None]:
    """``on_round`` with round numbers continued after ``done`` rounds, out of ``total``."""
    return lambda r, _t: on_round(done + r, total)


def bench_arch(
    arch: str,
    config: AttackBenchConfig,
    device: torch.device,
    on_round: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Time the floor, our PGD and torchattacks' PGD on ``arch`` (random init) at one batch.

    Returns a dict: ``arch``, ``input_shape``, ``parameters``, per contender its description
    and :meth:`Timings.summary`, ``ratios`` (see :func:`ltrobust.bench.timing.ratios`), the
    ``targets`` and whether the headline (median) ratios meet them (``passed``), and
    ``overhead`` (:func:`attack_overhead`, with ``vs_floor``: its seconds over the floor's
    median on ``arch``).
    """
    shape = shape_for(arch, config)
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    model = build_bench_model(arch, shape, config.seed).to(device)
    model = model.to(memory_format=fmt)
    gen = torch.Generator().manual_seed(config.seed)
    x = torch.rand((config.batch_size, *shape), generator=gen).to(device, memory_format=fmt)
    y = torch.randint(0, NUM_CLASSES, (config.batch_size,), generator=gen).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # one interleaved series per precision, each with its own warm-up: on a CPU the first call
    # after a switch of precision pays page faults for buffers of other sizes, which would land
    # on whichever contender comes first after the switch
    timed: dict[str, Timings] = {}
    what: dict[str, str] = {}
    per_series = config.warmup + config.repeats
    total = per_series * len(config.precisions)
    for i, precision in enumerate(config.precisions):
        fns, w = contenders(model, x, y, config, precision)
        what.update(w)
        done = i * per_series
        timed |= time_interleaved(
            fns,
            repeats=config.repeats,
            warmup=config.warmup,
            sync=sync,
            on_round=None if on_round is None else _shifted(on_round, done, total),
        )
    overhead = None
    if "floor" in timed:
        overhead = attack_overhead(x, y, config, sync)
        overhead["vs_floor"] = overhead["seconds"] / statistics.median(timed["floor"].wall)
    results = {}
    for k, t in timed.items():
        median = statistics.median(t.wall)
        ips = config.batch_size / median if median > 0 else None
        results[k] = {"what": what[k], "images_per_s": ips, **t.summary()}
    return {
        "arch": arch,
        "weights": f"random init (seed {config.seed}); speed does not depend on the values",
        "input_shape": list(shape),
        "memory_format": "channels_last" if config.channels_last else "contiguous",
        "num_classes": NUM_CLASSES,
        "parameters": sum(p.numel() for p in model.parameters()),
        "results": results,
        "overhead": overhead,
        **_judge(timed),
    }


def attack_overhead(
    x: torch.Tensor, y: torch.Tensor, config: AttackBenchConfig, sync: Callable[[], None]
) -> dict[str, Any]:
    """What our attack adds to the floor, measured where the passes cost almost nothing.

    Times the floor and our attack, interleaved, on ``test_linear`` (flatten + one linear
    layer) with the same batch: the difference of the medians is the attack's own work (input
    checks, per-sample seeds and noise, the random start, k sign steps and projections, the
    final check) on this batch, free of the noise that a real model's passes bring.
    """
    c, h, w = x.shape[1:]
    model = build_bench_model("test_linear", (c, h, w), config.seed).to(x.device)
    fns, _ = contenders(model, x, y, config, with_torchattacks=False)
    timed = time_interleaved(fns, repeats=max(10, config.repeats), warmup=1, sync=sync)
    floor, ours = (statistics.median(timed[k].wall) for k in ("floor", "ours"))
    return {
        "model": "test_linear (flatten + linear: passes cost almost nothing)",
        "floor_s": floor,
        "ours_s": ours,
        "seconds": ours - floor,
    }


def _judge(timed: dict[str, Timings]) -> dict[str, Any]:
    """Ratios of ours to the floor and to torchattacks (per precision timed), the bfloat16
    speed-up (``fp32_vs_bf16``: our fp32 seconds over our bf16 seconds), and the targets."""
    pairs = {
        "ours_vs_floor": ("ours", "floor"),
        "torchattacks_vs_floor": ("torchattacks", "floor"),
        "ours_vs_torchattacks": ("ours", "torchattacks"),
        "ours@bf16_vs_floor@bf16": ("ours@bf16", "floor@bf16"),
        "fp32_vs_bf16": ("ours", "ours@bf16"),
    }
    out = {
        k: ratios(timed[a], timed[b]) for k, (a, b) in pairs.items() if b in timed and a in timed
    }
    targets = {k: v for k, v in TARGETS.items() if pairs[k][0] in timed}
    passed: dict[str, bool | None] = {}
    for key, target in targets.items():
        value = out.get(key, {}).get("median")
        passed[key] = None if value is None else bool(value <= target)
    return {"ratios": out, "targets": targets, "passed": passed}
