"""Optimiser, learning-rate schedule and mixed precision of METHODS §4.

SGD (momentum 0.9, lr 0.1) with the step schedule ``lr x 0.1`` at 75% and 93.75% of the epochs
(60 and 75 of 80), stepped once per epoch. Mixed precision (``--amp``): ``torch.autocast`` with
float16 and a ``GradScaler`` on CUDA, bfloat16 without scaler on CPU (``--amp-dtype`` overrides).
The inner attack runs under the same autocast: sign steps ignore the gradient's scale, but an
entry that underflows to 0 in float16 gives no step there; bfloat16 has float32's range.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

MILESTONE_FRACTIONS = (0.75, 0.9375)
LR_DECAY = 0.1


def milestones(epochs: int) -> list[int]:
    """Epoch counts after which the lr decays: ``round(f * epochs)`` (half up), deduplicated."""
    out = [int(f * epochs + 0.5) for f in MILESTONE_FRACTIONS]
    return sorted({m for m in out if 0 < m})


def build_optimizer(
    model: nn.Module, *, lr: float, momentum: float, weight_decay: float, epochs: int
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.MultiStepLR]:
    """SGD over all parameters and its MultiStepLR (call ``scheduler.step()`` per epoch)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones(epochs), gamma=LR_DECAY)
    return opt, sched


def amp_dtype(device: torch.device, name: str) -> torch.dtype:
    """The autocast dtype: ``auto`` is float16 on CUDA and bfloat16 elsewhere."""
    if name == "fp16" or (name == "auto" and device.type == "cuda"):
        return torch.float16
    return torch.bfloat16


def autocast_factory(
    device: torch.device, enabled: bool, dtype_name: str
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A zero-argument callable returning the autocast context (a no-op when disabled)."""
    if not enabled:
        return contextlib.nullcontext
    dtype = amp_dtype(device, dtype_name)
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def build_scaler(device: torch.device, enabled: bool, dtype_name: str) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for float16 autocast on CUDA."""
    use = enabled and device.type == "cuda" and amp_dtype(device, dtype_name) == torch.float16
    return torch.amp.GradScaler("cuda", enabled=use)
