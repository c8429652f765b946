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
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ltrobust.attacks import ThreatModel, build_attack, salt_of, sample_seeds
from ltrobust.bench.timing import Timings, ratios, time_interleaved
from ltrobust.errors import ConfigError

#: the issue's targets: ours <= 1.10 x the floor, and never slower than torchattacks
TARGETS = {"ours_vs_floor": 1.10, "ours_vs_torchattacks": 1.0}
#: input shape per architecture when none is given: small_cnn is used on Fashion-MNIST here,
#: every other architecture on CIFAR
DEFAULT_SHAPES = {"small_cnn": (1, 28, 28)}
CIFAR_SHAPE = (3, 32, 32)
NUM_CLASSES = 10


@dataclass
class AttackBenchConfig:
    """Settings of one speed comparison (the same for every architecture)."""

    batch_size: int = 256
    steps: int = 20
    repeats: int = 5
    warmup: int = 1
    eps: float = 8 / 255
    step_size: float = 2 / 255
    seed: int = 0
    input_shape: tuple[int, int, int] | None = None

    def validate(self) -> None:
        for label, value, low in (
            ("--batch-size", self.batch_size, 1),
            ("--steps", self.steps, 1),
            ("--repeats", self.repeats, 1),
            ("--warmup", self.warmup, 0),
        ):
            if value < low:
                raise ConfigError(f"{label} must be >= {low}, got {value}")
        if not 0 < self.eps <= 1 or not 0 < self.step_size <= 1:
            raise ConfigError(f"--eps and --step must be in (0, 1], got {self.eps}, {self.step_size}")
        if self.input_shape is not None and (
            len(self.input_shape) != 3 or min(self.input_shape) < 1
        ):
            raise ConfigError(f"--input-shape must be CxHxW, got {self.input_shape}")


def parse_shape(text: str) -> tuple[int, int, int] | None:
    """``"3x32x32"`` -> (3, 32, 32); ``"auto"`` -> None (the architecture's default)."""
    if text.strip().lower() == "auto":
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--input-shape: cannot parse {text!r}; use CxHxW like 3x32x32") from None
    if len(shape) != 3 or min(shape) < 1 or shape[1] != shape[2]:
        raise ConfigError(f"--input-shape: need CxHxW with H = W > 0, got {text!r}")
    return shape  # type: ignore[return-value]


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


def _contenders(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackBenchConfig,
    with_torchattacks: bool = True,
) -> tuple[dict[str, Callable[[], object]], dict[str, str]]:
    """The callables to time and a description of each (torchattacks when installed)."""
    threat = ThreatModel("linf", config.eps)
    ours = build_attack(f"pgd{config.steps}", threat, config.step_size)
    salt = salt_of(ours.name)
    idx = torch.arange(len(y))
    fns: dict[str, Callable[[], object]] = {
        "floor": lambda: floor_passes(model, x, y, config.steps),
        "ours": lambda: ours(model, x, y, seeds=sample_seeds(config.seed, salt, idx)),
    }
    what = {
        "floor": f"{config.steps} x (forward + autograd.grad of summed CE w.r.t. the input)",
        "ours": repr(ours),
    }
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
    model = build_bench_model(arch, shape, config.seed).to(device)
    gen = torch.Generator().manual_seed(config.seed)
    x = torch.rand((config.batch_size, *shape), generator=gen).to(device)
    y = torch.randint(0, NUM_CLASSES, (config.batch_size,), generator=gen).to(device)
    fns, what = _contenders(model, x, y, config)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    timed = time_interleaved(
        fns, repeats=config.repeats, warmup=config.warmup, sync=sync, on_round=on_round
    )
    overhead = attack_overhead(x, y, config, sync)
    overhead["vs_floor"] = overhead["seconds"] / statistics.median(timed["floor"].wall)
    return {
        "arch": arch,
        "weights": f"random init (seed {config.seed}); speed does not depend on the values",
        "input_shape": list(shape),
        "num_classes": NUM_CLASSES,
        "parameters": sum(p.numel() for p in model.parameters()),
        "results": {k: {"what": what[k], **t.summary()} for k, t in timed.items()},
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
    model = build_bench_model("test_linear", tuple(x.shape[1:]), config.seed).to(x.device)
    fns, _ = _contenders(model, x, y, config, with_torchattacks=False)
    timed = time_interleaved(fns, repeats=max(10, config.repeats), warmup=1, sync=sync)
    floor, ours = (statistics.median(timed[k].wall) for k in ("floor", "ours"))
    return {
        "model": "test_linear (flatten + linear: passes cost almost nothing)",
        "floor_s": floor,
        "ours_s": ours,
        "seconds": ours - floor,
    }


def _judge(timed: dict[str, Timings]) -> dict[str, Any]:
    pairs = {"ours_vs_floor": ("ours", "floor"), "torchattacks_vs_floor": ("torchattacks", "floor")}
    pairs["ours_vs_torchattacks"] = ("ours", "torchattacks")
    out = {k: ratios(timed[a], timed[b]) for k, (a, b) in pairs.items() if b in timed and a in timed}
    passed: dict[str, bool | None] = {}
    for key, target in TARGETS.items():
        value = out.get(key, {}).get("median")
        passed[key] = None if value is None else bool(value <= target)
    return {"ratios": out, "targets": dict(TARGETS), "passed": passed}
