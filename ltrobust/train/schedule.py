"""Optimiser and learning-rate schedule (docs/METHODS.md §4.1).

SGD (momentum 0.9, lr 0.1). The lr of epoch ``t`` (1-based) of a run of ``E`` epochs is
``lr * f(t)``:

* warm-up (``--warmup-epochs W``): ``f(t) = t / W`` for ``t <= W`` (LDAM-DRW's and CMO's 5);
* steps (``--lr-steps "M:F,..."``): after epoch ``M`` the factor is ``F`` (the factor of the last
  milestone passed; a later entry wins a tie). ``M`` is an epoch or ``P%`` of ``E`` rounded half
  up. Default ``75%:0.1,93.75%:0.01``: x0.1 after 60 and x0.01 after 75 of 80 epochs. The
  CMO/AFR recipe is ``160:0.01,180:0.0001`` of 200 (``80%:0.01,90%:0.0001``).

The peak lr (``lr`` times the largest factor) is at most :data:`MAX_LR` = 100. The schedule is
stepped once per epoch. This module's parsing half is torch-free; torch is
imported by :func:`build_optimizer` only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ltrobust.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

DEFAULT_LR_STEPS = "75%:0.1,93.75%:0.01"
#: The largest learning rate a run may reach (``--lr`` times any step factor; warm-up factors
#: are <= 1). 1000 x the default 0.1 and above every plain-SGD recipe (linear scaling to a
#: batch of 8192 gives 3.2), yet small enough that a step ``lr x gradient`` stays finite in
#: float32 (max 3.4e38) for any gradient below 1e36: ``--lr 1e300`` used to crash at step 1.
MAX_LR = 100.0
#: the schedule of LDAM-DRW's and CMO's CIFAR code, relative to the run's length
RECIPE_LR_STEPS = "80%:0.01,90%:0.0001"


def _num(value: float) -> str:
    """Shortest exact text of a number: ``160``, ``93.75``, ``0.0001``."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _entries(text: str) -> list[tuple[float, bool, float]]:
    """``(milestone, is_percent, factor)`` of every entry of ``text``; ConfigError if bad."""
    out = []
    for part in (p.strip() for p in str(text).split(",")):
        where, sep, factor_text = part.partition(":")
        percent = where.strip().endswith("%")
        try:
            milestone = float(where.strip().removesuffix("%"))
            factor = float(factor_text)
        except ValueError:
            milestone = factor = math.nan
        good = sep and math.isfinite(milestone) and math.isfinite(factor) and factor > 0
        if good and percent:
            good = 0 < milestone <= 100
        elif good:
            good = milestone >= 1 and milestone.is_integer()
        if not good:
            raise ConfigError(
                f"--lr-steps: bad entry {part!r}; write EPOCH:FACTOR or P%:FACTOR, comma-"
                "separated, e.g. 160:0.01,180:0.0001 or 80%:0.01,90%:0.0001"
            )
        out.append((milestone, percent, factor))
    return out


def parse_lr_steps(text: str) -> str:
    """The canonical text of a ``--lr-steps`` value (``160:0.01,180:0.0001``); ConfigError if
    bad."""
    return ",".join(
        f"{_num(m)}{'%' if pct else ''}:{_num(f)}" for m, pct, f in _entries(text)
    )  # fmt: skip


def check_peak_lr(
    lr: float, steps: str | None, what: str = "--lr", steps_flag: str = "--lr-steps"
) -> None:
    """Raise :class:`ConfigError` unless ``lr`` and ``lr`` times every factor of ``steps``
    (None: the default schedule) are in (0, :data:`MAX_LR`]."""
    if not (math.isfinite(lr) and 0 < lr <= MAX_LR):
        raise ConfigError(f"{what} must be a number in (0, {MAX_LR:g}], got {lr:g}")
    factor = max(f for _, _, f in _entries(steps or DEFAULT_LR_STEPS))
    if lr * factor > MAX_LR:
        raise ConfigError(
            f"{what} {lr:g} x {steps_flag} factor {factor:g} = {lr * factor:g} is above the "
            f"largest lr, {MAX_LR:g}"
        )


def lr_milestones(text: str, length: int) -> list[tuple[int, float]]:
    """``(epoch, factor)`` of ``text`` for a run (or stage) of ``length`` epochs, sorted by
    epoch (stable: a later entry for the same epoch wins)."""
    steps = []
    for milestone, percent, factor in _entries(text):
        epoch = int(milestone / 100 * length + 0.5) if percent else int(milestone)
        steps.append((epoch, factor))
    return sorted(steps, key=lambda s: s[0])


def lr_factor(epoch: int, *, length: int, warmup: int, steps: str) -> float:
    """The factor of the base lr in epoch ``epoch`` (1-based) of a run of ``length`` epochs."""
    if epoch <= warmup:
        return epoch / warmup
    factor = 1.0
    for milestone, value in lr_milestones(steps, length):
        if epoch > milestone:
            factor = value
    return factor


def step_schedule(length: int, warmup: int, steps: str | None) -> Callable[[int], float]:
    """``index -> factor`` for LambdaLR (``index`` = epochs done, 0-based) of one run."""
    text = steps or DEFAULT_LR_STEPS
    return lambda index: lr_factor(index + 1, length=length, warmup=warmup, steps=text)


def build_optimizer(
    model: nn.Module,
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    factor: Callable[[int], float],
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LambdaLR]:
    """SGD over all parameters and its LambdaLR with ``factor`` (call ``scheduler.step()`` per
    epoch)."""
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)
