"""Seconds per training step of AFR's stage 1 with the paper's CIFAR-100-LT recipe
(``--preset afr-cifar100``: ResNet-32, batch 128, AutoAugment + Cutout 16, crop 4 and flips,
BS+CMO), on uniform random pixels with exactly CIFAR-100-LT's class counts at imbalance ratio 100
(500 ... 5, 10,847 images; the ``tensors:`` pattern of ``ltrobust/bench/train_time.py``: the
speed of a step does not depend on what the pixels show). The real ``ltrobust.train.train`` loop
runs; the progress observer takes the time of every batch and stops the run after ``--steps``
timed steps (the first, warm-up step is reported apart). CMO mixes only from epoch 5 on (the
official code's start), so the script sets ``cmo_skip_first`` to 0: the timed batches of this
first epoch draw CMO's class-balanced second batch with probability 0.5, as every later epoch of
stage 1 does.

    .venv/bin/python benchmarks/afr_cifar100_steps.py --steps 5 --threads 1
    .venv/bin/python benchmarks/afr_cifar100_steps.py --device cuda --steps 0   # a whole epoch
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ltrobust.data.profile import lt_counts
from ltrobust.train import RunOptions, resolve_config, train
from ltrobust.train.options import AFR_PRESETS


class Enough(Exception):
    """Raised by the observer once enough steps are timed."""


class StepTimes:
    """The training loop's progress observer: the wall time of every batch."""

    def __init__(self, steps: int) -> None:
        self.steps, self.times, self.last = steps, [], 0.0

    def start(self, name: str, total: int) -> None:
        self.last = time.perf_counter()

    def advance(self, name: str, n: int, correct: int, seen: int) -> None:
        now = time.perf_counter()
        self.times.append(now - self.last)
        self.last = now
        if self.steps and len(self.times) > self.steps:
            raise Enough

    def finish(self, name: str) -> None:
        return None

    def epoch_end(self, row: dict[str, Any]) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps; 0 = one whole epoch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = AFR_PRESETS["afr-cifar100"]
    counts = lt_counts(500, preset["common"]["imbalance_ratio"], 100)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((sum(counts), 3, 32, 32), generator=gen)
    y = torch.repeat_interleave(torch.arange(100), torch.tensor(counts))
    given = {
        **{k: v for k, v in preset["common"].items() if k != "imbalance_ratio"},
        **preset["options"],
        "crop_padding": 4,
        "hflip": True,
        "cmo_skip_first": 0,
        "monitor_n": 0,
    }
    with tempfile.TemporaryDirectory(prefix="ltrobust-afr-steps-") as tmp:
        torch.save({"x": x, "y": y}, Path(tmp) / "train.pt")
        config = resolve_config("afr", f"tensors:{Path(tmp) / 'train.pt'}", given)
        observer = StepTimes(args.steps)
        run = RunOptions(out=Path(tmp) / "run", device=args.device, stop_after=1)
        try:
            train(config, run, observer)  # type: ignore[arg-type]
        except Enough:
            pass
    first, rest = observer.times[0], observer.times[1:]
    result = {
        "data": "uniform random pixels, CIFAR-100-LT counts at IR 100 (10,847 images)",
        "recipe": "afr-cifar100 stage 1: resnet32, batch 128, AutoAugment + Cutout 16, BS+CMO",
        "device": args.device,
        "threads": torch.get_num_threads(),
        "first_step_s": first,
        "steps_s": rest,
        "mean_step_s": sum(rest) / len(rest) if rest else None,
        "steps_per_epoch": -(-sum(counts) // 128),
    }
    if rest:
        result["epoch_estimate_s"] = result["mean_step_s"] * result["steps_per_epoch"]
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
