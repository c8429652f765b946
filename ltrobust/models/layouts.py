"""Key layouts of state_dicts that are no paper format, for the hints that name ``--arch``
(torch-free)."""

from __future__ import annotations

import re
from collections.abc import Iterable

#: torchvision ResNets by (block counts of layer1..4, bottleneck blocks?)
_RESNETS: dict[tuple[tuple[int, ...], bool], str] = {
    ((2, 2, 2, 2), False): "resnet18",
    ((3, 4, 6, 3), False): "resnet34",
    ((3, 4, 6, 3), True): "resnet50",
    ((3, 4, 23, 3), True): "resnet101",
    ((3, 8, 36, 3), True): "resnet152",
}


def guess_torchvision(keys: Iterable[str]) -> str | None:
    """The torchvision ResNet whose parameter names ``keys`` are (``conv1``, ``bn1``,
    ``layerN.i``, ``downsample``, ``fc``): its name, ``"NAME"`` for block counts of no
    torchvision ResNet, or None for any other layout."""
    names = set(keys)
    needed = ("conv1.weight", "bn1.running_mean", "fc.weight", "layer2.0.downsample.0.weight")
    if not all(k in names for k in needed):
        return None
    blocks = [0, 0, 0, 0]
    for key in names:
        found = re.match(r"^layer([1-4])\.(\d+)\.", key)
        if found:
            layer, index = int(found[1]) - 1, int(found[2])
            blocks[layer] = max(blocks[layer], index + 1)
    bottleneck = "layer1.0.conv3.weight" in names
    return _RESNETS.get((tuple(blocks), bottleneck), "NAME")


def torchvision_hint(keys: Iterable[str]) -> str:
    """`` (...: pass --arch torchvision:NAME)`` for a torchvision ResNet layout, else ``""``."""
    name = guess_torchvision(keys)
    if name is None:
        return ""
    return f" (the keys are torchvision's ResNet layout: pass --arch torchvision:{name})"
