"""Seconds per epoch of robust training, on data the size and shape of a long-tailed preset.

The speed of an epoch depends on the number of images, their shape, the model, the method, the
inner attack's steps, the batch size and the precision, not on what the pixels show. So that the
figure can be taken on any machine, offline, the benchmark writes a ``tensors:`` file of uniform
random pixels with exactly the preset's long-tailed class counts (CIFAR-10-LT: 3x32x32,
``lt_counts(5000, 50, 10)`` = 13,996 images) and runs the real ``ltrobust train`` loop
(:func:`ltrobust.train.train`) on it with the preset's eps, step, crop padding and flips, no
monitoring. The loop's own per-epoch ``seconds`` (from the first batch to the last, the data
augmentation and the inner attack included; checkpoint writing not) are the figures. The first
epoch pays one-off costs (CUDA kernels selection, allocator growth), so the headline is the last
epoch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ltrobust.bench.config import TrainBenchConfig, class_counts_like

#: the target for resnet18 PGD-10 AT on CIFAR-10-LT with --amp on one H100, and the
#: REAT paper's figure for the same epoch on a V100
TARGET_S = 10.0
REFERENCE = "REAT reports 46 s per epoch on a V100 (resnet18, PGD-10 AT, CIFAR-10-LT)"


def synthetic_like(like: str, n_max: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform random images in [0, 1] with the class counts of :func:`class_counts_like`,
    shaped like preset ``like``'s images; labels sorted."""
    from ltrobust.data.specs import get_spec

    spec = get_spec(like)
    counts = class_counts_like(like, n_max)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((sum(counts), spec.channels, spec.size, spec.size), generator=gen)
    y = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return x, y


def time_train_epoch(
    config: TrainBenchConfig,
    device: torch.device,
    on_epoch: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train ``config.epochs`` epochs on synthetic data shaped like ``config.like`` and return
    the seconds of each epoch, the headline (the last epoch), images per second and the target.
    """
    from ltrobust.data.specs import get_spec
    from ltrobust.runtime.precision import amp_dtype
    from ltrobust.train import RunOptions, resolve_config, train
    from ltrobust.train.registry import get_method_class

    config.validate()
    spec = get_spec(config.like)
    x, y = synthetic_like(config.like, config.n_max, config.seed)
    # the clean methods (ce, cmo, afr) make no adversarial examples: no inner attack to size
    steps = config.steps if get_method_class(config.method).inner_attack else None
    attack = {"attack_steps": steps, "attack_step": spec.step_linf} if steps is not None else {}
    given: dict[str, Any] = {
        "arch": config.arch,
        "epochs": config.epochs,
        **attack,
        "precision": config.precision,
        "eps": spec.eps_linf,
        "crop_padding": spec.crop_padding,
        "hflip": spec.hflip,
        "monitor_n": 0,
        "seed": config.seed,
        "batch_size": config.batch_size,
    }
    with tempfile.TemporaryDirectory(prefix="ltrobust-bench-train-") as tmp:
        data = Path(tmp) / "train.pt"
        torch.save({"x": x, "y": y}, data)
        del x
        train_config = resolve_config(config.method, f"tensors:{data}", given)
        callback = _EpochTimes(on_epoch)
        run = RunOptions(
            out=Path(tmp) / "run", device=str(device), command="ltrobust bench (train epoch)"
        )
        result = train(train_config, run, callback)
    seconds = [float(row["seconds"]) for row in result.history]
    images = int(len(y))
    last = seconds[-1]
    on_h100 = device.type == "cuda" and "H100" in torch.cuda.get_device_name(device)
    return {
        "arch": config.arch,
        "method": config.method,
        "data": f"uniform random pixels shaped like {config.like}'s long-tailed training set",
        "like": config.like,
        "images": images,
        "class_counts": torch.bincount(y).tolist(),
        "batch_size": train_config.batch_size,
        "attack_steps": steps,
        "amp": train_config.amp,
        "amp_dtype": str(amp_dtype(device, train_config.amp_dtype)) if train_config.amp else None,
        "device": str(device),
        "epochs_s": seconds,
        "epoch_s": last,
        "images_per_s": images / last if last > 0 else None,
        "target_s": TARGET_S,
        "target_applies": on_h100,
        "passed": (last <= TARGET_S) if on_h100 else None,
        "reference": REFERENCE,
    }


class _EpochTimes:
    """The training loop's progress observer: passes each finished epoch's seconds on."""

    def __init__(self, on_epoch: Callable[[int, float], None] | None) -> None:
        self.on_epoch = on_epoch

    def start(self, name: str, total: int) -> None:
        return None

    def advance(self, name: str, n: int, correct: int, seen: int) -> None:
        return None

    def finish(self, name: str) -> None:
        return None

    def epoch_end(self, row: dict[str, Any]) -> None:
        if self.on_epoch is not None:
            self.on_epoch(int(row["epoch"]), float(row["seconds"]))
