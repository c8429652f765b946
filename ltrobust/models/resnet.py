"""CIFAR ResNet-18 and PreAct ResNet-18.

Parameter names follow the definitions most public robustness checkpoints were trained with, so
their state_dicts load with ``strict=True``:

* ``resnet18``: the CIFAR ResNet-18 of kuangliu/pytorch-cifar, also used by TRADES, RoBal and
  REAT (He et al., 2016, with a 3x3 stride-1 stem and no max-pool). Keys ``conv1``, ``bn1``,
  ``layer1..4.{i}.{conv1,bn1,conv2,bn2}``, ``layer{2,3,4}.0.shortcut.{0,1}`` (1x1 conv + BN
  where the shape changes; an empty ``shortcut`` elsewhere), ``linear``.
* ``preact_resnet18``: the pre-activation ResNet-18 (He et al., 2016b) of Rice et al.
  "Overfitting in adversarially robust deep learning" and "Bag of tricks for AT". Keys
  ``conv1``, ``layer1..4.{i}.{bn1,conv1,bn2,conv2}``, ``layer{2,3,4}.0.shortcut.0`` (1x1 conv),
  final ``bn``, ``linear``.

Both end with global average pooling (identical to the reference 4x4 average pool at 32x32).
Options for foreign checkpoints: ``width`` (channels of the first stage, 64 in the references;
the stages have ``w, 2w, 4w, 8w``) and, for ``resnet18``/``resnet34``, ``stem="imagenet"``: the
torchvision stem (7x7 stride-2 ``conv1``, ``bn1``, ReLU, 3x3 stride-2 max-pool) instead of the
CIFAR one (3x3 stride-1 ``conv1``, no pooling), with the same parameter names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import ImageClassifier
from .heads import LinearHead

_STRIDES = (1, 2, 2, 2)
STEMS = ("cifar", "imagenet")


class BasicBlock(nn.Module):
    """Post-activation residual block: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    Input ``N x in_planes x H x W``, output ``N x planes x H/stride x W/stride``.
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class PreActBlock(nn.Module):
    """Pre-activation block: ``a = relu(bn1(x))``; ``conv2(relu(bn2(conv1(a)))) + sc``.

    ``sc`` is ``shortcut(a)`` (a 1x1 conv on the pre-activated input) where the shape changes,
    else ``x`` itself. Input ``N x in_planes x H x W``, output ``N x planes x H/s x W/s``.
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut: nn.Sequential | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ConfigError(f"width must be a positive integer, got {width!r}")


def _make_stages(
    block: type[BasicBlock] | type[PreActBlock],
    num_blocks: tuple[int, int, int, int],
    base: int = 64,
) -> tuple[nn.Sequential, nn.Sequential, nn.Sequential, nn.Sequential]:
    """The four stages (``base`` x 1, 2, 4, 8 channels); the first block of a stage strides."""
    stages = []
    in_planes = base
    widths = (base, 2 * base, 4 * base, 8 * base)
    for width, stride, n in zip(widths, _STRIDES, num_blocks, strict=True):
        blocks = [
            block(in_planes if i == 0 else width, width, stride if i == 0 else 1) for i in range(n)
        ]
        stages.append(nn.Sequential(*blocks))
        in_planes = width
    return stages[0], stages[1], stages[2], stages[3]


class ResNet(ImageClassifier):
    """CIFAR ResNet (post-activation): stem ``conv1``+``bn1``, ``layer1..4``, pool, ``linear``.

    Input ``N x in_channels x H x W`` (any H, W >= 8; 32 in the references), features
    ``N x 8 * width``, logits ``N x num_classes``. ``stem="imagenet"``: 7x7 stride-2 ``conv1``
    and a 3x3 stride-2 max-pool after ``bn1`` and ReLU (torchvision's ResNet).
    """

    head_path = "linear"

    def __init__(
        self,
        num_blocks: tuple[int, int, int, int],
        num_classes: int = 10,
        in_channels: int = 3,
        width: int = 64,
        stem: str = "cifar",
    ) -> None:
        super().__init__()
        _check_width(width)
        if stem not in STEMS:
            raise ConfigError(f"unknown stem {stem!r}; valid: {', '.join(STEMS)}")
        self.pool_stem = stem == "imagenet"
        kernel, stride = (7, 2) if self.pool_stem else (3, 1)
        self.conv1 = nn.Conv2d(in_channels, width, kernel, stride, kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1, self.layer2, self.layer3, self.layer4 = _make_stages(
            BasicBlock, num_blocks, width
        )
        self.linear = LinearHead(8 * width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled output of ``layer4``, ``N x 8 * width``."""
        out = F.relu(self.bn1(self.conv1(x)))
        if self.pool_stem:
            out = F.max_pool2d(out, 3, stride=2, padding=1)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)


class PreActResNet(ImageClassifier):
    """Pre-activation ResNet: ``conv1``, ``layer1..4``, ``relu(bn)``, pool, ``linear``.

    Input ``N x in_channels x H x W``, features ``N x 8 * width``, logits ``N x num_classes``.
    """

    head_path = "linear"

    def __init__(
        self,
        num_blocks: tuple[int, int, int, int],
        num_classes: int = 10,
        in_channels: int = 3,
        width: int = 64,
    ) -> None:
        super().__init__()
        _check_width(width)
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.layer1, self.layer2, self.layer3, self.layer4 = _make_stages(
            PreActBlock, num_blocks, width
        )
        self.bn = nn.BatchNorm2d(8 * width)
        self.linear = LinearHead(8 * width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(bn(...))`` of ``layer4``, globally pooled, ``N x 8 * width``."""
        out = self.conv1(x)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.relu(self.bn(out))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)


def resnet18(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    width: int = 64,
    stem: str = "cifar",
) -> ResNet:
    """CIFAR ResNet-18 (kuangliu/pytorch-cifar, TRADES, RoBal, REAT); blocks [2, 2, 2, 2]."""
    del input_size  # global pooling makes the network size-agnostic
    return ResNet((2, 2, 2, 2), num_classes, in_channels, width, stem)


def resnet34(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    width: int = 64,
    stem: str = "cifar",
) -> ResNet:
    """CIFAR ResNet-34 (kuangliu/pytorch-cifar names); blocks [3, 4, 6, 3]."""
    del input_size
    return ResNet((3, 4, 6, 3), num_classes, in_channels, width, stem)


def preact_resnet18(
    *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32, width: int = 64
) -> PreActResNet:
    """PreAct ResNet-18 (Rice et al. 2020; Pang et al. "Bag of tricks for AT")."""
    del input_size
    return PreActResNet((2, 2, 2, 2), num_classes=num_classes, in_channels=in_channels, width=width)
