"""The input side of a plain state_dict's architecture, inferred from its weights.

Most architectures pool globally and fit every input size; some (the TRADES SmallCNN) size
their first linear layer by the input. :func:`infer_input_size` tries the usual sides on the
meta device (nothing allocated) and returns the first whose parameter shapes all fit;
:func:`input_size` picks the side to build with and the hint for a shape error.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from .build import create_model
from .statedict import StateDict, describe_mismatch

#: the sides tried, in order (CIFAR, MNIST-like, then larger and smaller ones)
CANDIDATES = (32, 28, 64, 96, 224, 48, 16, 12)
#: the side used when neither the caller nor the weights fix one
DEFAULT = 32


def _fits(
    arch: str, sd: StateDict, side: int, num_classes: int, in_channels: int, head: str
) -> bool:
    """Whether ``arch`` built for ``side`` x ``side`` inputs has every shape of ``sd``."""
    try:
        with torch.device("meta"):
            probe = create_model(
                arch, num_classes=num_classes, in_channels=in_channels, input_size=side, head=head
            )
    except (ConfigError, ValueError, RuntimeError):
        return False
    return not describe_mismatch(sd, probe.state_dict())


def infer_input_size(
    arch: str, sd: StateDict, num_classes: int, in_channels: int, head: str
) -> int | None:
    """The first side of :data:`CANDIDATES` for which ``arch`` has ``sd``'s shapes, or None
    when none fits (or the keys do not fit at all)."""
    return next((s for s in CANDIDATES if _fits(arch, sd, s, num_classes, in_channels, head)), None)


def input_size(
    arch: str, sd: StateDict, given: int | None, num_classes: int, in_channels: int, head: str
) -> tuple[int, str]:
    """The side to build ``arch`` with (``given``, else inferred, else :data:`DEFAULT`) and the
    hint a shape error ends with: the side the weights fit, or how to give one."""
    if given is not None:
        if _fits(arch, sd, given, num_classes, in_channels, head):
            return given, ""
        found = infer_input_size(arch, sd, num_classes, in_channels, head)
        hint = f" (the weights fit {found}x{found} inputs, not {given}x{given})" if found else ""
        return given, hint
    found = infer_input_size(arch, sd, num_classes, in_channels, head)
    if found is None:
        return DEFAULT, " (the input size could not be inferred: pass --input-size or --dataset)"
    return found, ""
