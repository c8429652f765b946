"""The CIFAR ResNet-32 of the long-tailed literature (He et al., 2016, §4.2).

Three stages of 16, 32 and 64 channels with 5 post-activation basic blocks each, a 3x3 stem,
global average pooling to a 64-d feature and a linear head: 0.46 M parameters with 10 classes
(464,154). The first block of stages 2 and 3 halves the resolution; its shortcut is He et al.'s
"option A", parameter-free: the input subsampled by 2 and zero-padded with ``planes // 4``
channels on each side. Convolution and linear weights are Kaiming-normal (fan-in), biases keep
torch's default. This is the network of LDAM-DRW, CMO and AFR (their ``resnet32``); the key
names (``conv1``, ``bn1``, ``layer1..3.{i}.{conv1,bn1,conv2,bn2}``, ``linear``) match it, so
their state_dicts load with ``strict=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import ImageClassifier
from .heads import LinearHead

_WIDTHS = (16, 32, 64)


class PadShortcut(nn.Module):
    """Option-A shortcut: ``x[:, :, ::2, ::2]`` with ``pad`` zero channels on each side."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class CifarBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``; N x in x H x W to
    N x planes x H/stride x W/stride."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        changes = stride != 1 or in_planes != planes
        self.shortcut: nn.Module = PadShortcut(planes // 4) if changes else nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(ImageClassifier):
    """``conv1`` + ``bn1`` (16 channels), ``layer1..3`` (16/32/64), pool, ``linear``.

    Input ``N x in_channels x H x W`` (any H, W >= 4), features ``N x 64``, logits
    ``N x num_classes``.
    """

    head_path = "linear"

    def __init__(self, blocks: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, _WIDTHS[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(_WIDTHS[0])
        stages = []
        in_planes = _WIDTHS[0]
        for k, width in enumerate(_WIDTHS):
            stage = [CifarBlock(in_planes, width, 1 if k == 0 else 2)]
            stage += [CifarBlock(width, width, 1) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*stage))
            in_planes = width
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = LinearHead(_WIDTHS[-1], num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled output of ``layer3``, ``N x 64``."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)


def resnet32(*, num_classes: int = 10, in_channels: int = 3, input_size: int = 32) -> CifarResNet:
    """CIFAR ResNet-32 (LDAM-DRW, CMO, AFR): 3 stages x 5 blocks, 64-d feature."""
    del input_size  # global pooling makes the network size-agnostic
    return CifarResNet(5, num_classes=num_classes, in_channels=in_channels)
