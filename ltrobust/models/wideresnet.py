"""WideResNet-28-10 and WideResNet-34-10 (Zagoruyko & Komodakis, 2016).

Parameter names and the forward pass follow the WideResNet of TRADES (Zhang et al., 2019), also
used by RobustBench and RoBal: ``conv1``, ``block1..3.layer.{i}.{bn1,conv1,bn2,conv2}``,
``block{1,2,3}.layer.0.convShortcut`` (a 1x1 conv, only where in != out channels), final
``bn1``, ``relu``, ``fc``.

The TRADES WRN-34-10 also builds a ``sub_block1`` that its forward never uses, so some public
checkpoints carry ``sub_block1.*`` keys. :class:`WideResNet` drops those keys when a state_dict
is loaded (they hold no weights the model uses), so such checkpoints load with ``strict=True``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import ImageClassifier
from .heads import LinearHead

logger = logging.getLogger(__name__)

UNUSED_PREFIX = "sub_block1."
"""Key prefix of the unused TRADES sub-block; dropped on load."""


class WideBasicBlock(nn.Module):
    """Pre-activation wide block (TRADES ``BasicBlock``).

    With equal in/out channels: ``x + conv2(drop(relu2(bn2(conv1(relu1(bn1(x)))))))``.
    Otherwise the pre-activated ``a = relu1(bn1(x))`` feeds both branches:
    ``convShortcut(a) + conv2(drop(relu2(bn2(conv1(a)))))``.
    Input ``N x in_planes x H x W``, output ``N x out_planes x H/stride x W/stride``.
    """

    def __init__(self, in_planes: int, out_planes: int, stride: int, drop_rate: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.droprate = drop_rate
        self.equalInOut = in_planes == out_planes
        self.convShortcut: nn.Conv2d | None = None
        if not self.equalInOut:
            self.convShortcut = nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(act)))
        if self.droprate > 0:
            out = F.dropout(out, p=self.droprate, training=self.training)
        out = self.conv2(out)
        if self.convShortcut is None:
            return x + out
        return self.convShortcut(act) + out


class NetworkBlock(nn.Module):
    """``n`` wide blocks in ``self.layer`` (an ``nn.Sequential``); the first one strides."""

    def __init__(
        self, n: int, in_planes: int, out_planes: int, stride: int, drop_rate: float = 0.0
    ) -> None:
        super().__init__()
        self.layer = nn.Sequential(
            *[
                WideBasicBlock(
                    in_planes if i == 0 else out_planes,
                    out_planes,
                    stride if i == 0 else 1,
                    drop_rate,
                )
                for i in range(n)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(ImageClassifier):
    """WRN-depth-k: ``conv1``, ``block1..3``, ``relu(bn1)``, global pool, ``fc``.

    Args:
        depth: 6n + 4 (28 or 34 for the registered variants).
        widen_factor: k; stage widths 16k, 32k, 64k.
        num_classes, in_channels: logits and input channels.
        drop_rate: dropout inside blocks (0 in TRADES and RoBal).

    Input ``N x in_channels x H x W`` (32x32 in the references), features ``N x 64k``,
    logits ``N x num_classes``.
    """

    head_path = "fc"
    unused_prefixes = (UNUSED_PREFIX,)

    def __init__(
        self,
        depth: int = 34,
        widen_factor: int = 10,
        num_classes: int = 10,
        in_channels: int = 3,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ConfigError(f"WideResNet depth must be 6n + 4 (n >= 1), got {depth}")
        if not 0.0 <= drop_rate < 1.0:
            raise ConfigError(f"drop_rate must be in [0, 1), got {drop_rate}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, widths[0], widths[1], 1, drop_rate)
        self.block2 = NetworkBlock(n, widths[1], widths[2], 2, drop_rate)
        self.block3 = NetworkBlock(n, widths[2], widths[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU()
        self.fc = LinearHead(widths[3], num_classes)
        self.nChannels = widths[3]
        self._init_weights()

    def _init_weights(self) -> None:
        """TRADES initialisation: He-normal convs, BN (1, 0), zero linear bias.

        Skipped on the meta device (shape-only models), where it would only cost time.
        """
        if self.conv1.weight.is_meta:
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(bn1(block3(...)))`` globally pooled, ``N x 64k``."""
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = self.relu(self.bn1(out))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        unused = [k for k in state_dict if k.startswith(prefix + UNUSED_PREFIX)]
        if unused:
            logger.info("ignoring %d unused TRADES %s* keys", len(unused), UNUSED_PREFIX)
            for key in unused:
                del state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def wrn28_10(
    *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32, drop_rate: float = 0.0
) -> WideResNet:
    """WideResNet-28-10 (TRADES / RobustBench parameter names)."""
    del input_size
    return WideResNet(28, 10, num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate)


def wrn34_10(
    *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32, drop_rate: float = 0.0
) -> WideResNet:
    """WideResNet-34-10 (TRADES / RobustBench / RoBal parameter names)."""
    del input_size
    return WideResNet(34, 10, num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate)


def wideresnet(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    depth: int = 34,
    widen_factor: int = 10,
    drop_rate: float = 0.0,
) -> WideResNet:
    """WideResNet-depth-k with the TRADES parameter names, any ``depth = 6n + 4`` and width."""
    del input_size
    for label, value in (("depth", depth), ("widen_factor", widen_factor)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{label} must be a positive integer, got {value!r}")
    return WideResNet(depth, widen_factor, num_classes, in_channels, drop_rate)
