"""Mixed precision shared by the audit and training: the autocast dtype, context and scaler.

``auto`` is float16 (with a ``GradScaler``) on CUDA and bfloat16 (no scaler) elsewhere; ``fp16``
and ``bf16`` force one. Attacks run under the same autocast as the forward they attack: sign
steps ignore the gradient's scale, but an entry that underflows to 0 in float16 gives no step
there; bfloat16 has float32's range.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch


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
