"""Which registered architecture a state_dict in ltrobust's parameter names describes.

Used for the paper formats (docs/FORMATS.md), whose files do not name their architecture: the
depth, width, block counts and stem are read from the keys and the tensor shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ltrobust.errors import ModelLoadError

#: where the head of each family lives (``head_path`` of its class)
HEAD_PATHS = {"wrn": "fc", "resnet": "linear", "preact": "linear"}
_WRN_NAMES = {(28, 10): "wrn28_10", (34, 10): "wrn34_10"}
_RESNET_NAMES: dict[tuple[int, ...], str] = {(2, 2, 2, 2): "resnet18", (3, 4, 6, 3): "resnet34"}


@dataclass(frozen=True)
class ArchGuess:
    """A registered architecture, its ``create_model`` options and its family."""

    arch: str
    family: str
    in_channels: int
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def head_path(self) -> str:
        return HEAD_PATHS[self.family]


def _count(sd: Mapping[str, torch.Tensor], pattern: str) -> int:
    """How many consecutive indices ``i`` have ``pattern.format(i)`` in ``sd``."""
    i = 0
    while pattern.format(i) in sd:
        i += 1
    return i


def _wrn(sd: Mapping[str, torch.Tensor]) -> ArchGuess:
    n = _count(sd, "block1.layer.{}.conv1.weight")
    out = int(sd["block1.layer.0.conv1.weight"].shape[0])
    stem = int(sd["conv1.weight"].shape[0])
    if stem != 16 or out % 16:
        raise ModelLoadError(
            f"a WideResNet with {stem} stem and {out} first-stage channels is not 16 and 16k"
        )
    depth, widen = 6 * n + 4, out // 16
    name = _WRN_NAMES.get((depth, widen))
    args = {} if name else {"depth": depth, "widen_factor": widen}
    return ArchGuess(name or "wideresnet", "wrn", int(sd["conv1.weight"].shape[1]), args)


def _resnet(sd: Mapping[str, torch.Tensor], family: str) -> ArchGuess:
    blocks = tuple(_count(sd, f"layer{i}.{{}}.conv1.weight") for i in range(1, 5))
    conv1 = sd["conv1.weight"]
    args: dict[str, Any] = {}
    if int(conv1.shape[0]) != 64:
        args["width"] = int(conv1.shape[0])
    if family == "preact":
        name = "preact_resnet18" if blocks == (2, 2, 2, 2) else None
    else:
        name = _RESNET_NAMES.get(blocks)
        if int(conv1.shape[-1]) == 7:
            args["stem"] = "imagenet"
    if name is None:
        raise ModelLoadError(f"a {family} ResNet with blocks {list(blocks)} is not registered")
    return ArchGuess(name, family, int(conv1.shape[1]), args)


def infer_arch(sd: Mapping[str, torch.Tensor], families: tuple[str, ...]) -> ArchGuess:
    """The architecture (of ``families``: ``wrn``, ``resnet``, ``preact``) ``sd`` describes.

    ``sd`` uses ltrobust's parameter names (head keys may be missing). Raises
    :class:`ModelLoadError` when the keys fit none of the families.
    """
    if "conv1.weight" not in sd or sd["conv1.weight"].ndim != 4:
        raise ModelLoadError("no 4-d conv1.weight: not a ResNet or WideResNet backbone")
    if "wrn" in families and "block1.layer.0.conv1.weight" in sd:
        return _wrn(sd)
    if "layer1.0.conv1.weight" in sd:
        if "resnet" in families and "bn1.weight" in sd and "bn.weight" not in sd:
            return _resnet(sd, "resnet")
        if "preact" in families and "bn.weight" in sd:
            return _resnet(sd, "preact")
    found = sorted({re.sub(r"\..*", "", k) for k in sd})[:6]
    raise ModelLoadError(
        f"the backbone keys ({', '.join(found)}) fit none of {', '.join(families)}"
    )
