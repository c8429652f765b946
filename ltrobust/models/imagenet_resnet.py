"""ResNet-50 as torchvision defines it, with torchvision's parameter names.

``resnet50`` is ``torchvision.models.resnet50(weights=None)`` (He et al. 2016, bottleneck
blocks [3, 4, 6, 3], the ImageNet stem: 7x7 stride-2 ``conv1``, ``bn1``, ReLU, 3x3 stride-2
max-pool; the v1.5 stride in each bottleneck's 3x3 convolution), whose modules become this
classifier's own: the state_dict keys are torchvision's (``conv1.weight``, ``bn1.*``,
``layer1.0.conv1.weight``, ..., ``layer2.0.downsample.0.weight``, ``fc.weight``), so a
torchvision state_dict loads with ``strict=True``, and under ``create_model(mean=, std=)`` they
carry the ``net.`` prefix of :class:`~ltrobust.models.wrappers.NormalizedModel` like every
registered architecture. Nothing is downloaded.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import ImageClassifier

#: the stem and stages taken over from torchvision's ResNet, in its registration order
_PARTS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")


class TorchvisionResNet(ImageClassifier):
    """A torchvision ``ResNet`` whose submodules are this module's own (same names), with
    ``features`` (the pooled 2048-d output of ``layer4`` for ResNet-50) and ``fc`` as head."""

    head_path = "fc"
    conv1: nn.Module
    bn1: nn.Module
    relu: nn.Module
    maxpool: nn.Module
    layer1: nn.Module
    layer2: nn.Module
    layer3: nn.Module
    layer4: nn.Module
    avgpool: nn.Module
    fc: nn.Module

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        for name in _PARTS:
            self.add_module(name, net.get_submodule(name))
        self.fc = net.get_submodule("fc")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return torch.flatten(self.avgpool(out), 1)


def resnet50(
    *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
) -> TorchvisionResNet:
    """ResNet-50 (torchvision's definition and parameter names; ImageNet stem)."""
    from torchvision.models import resnet50 as torchvision_resnet50

    del input_size  # adaptive average pooling makes the network size-agnostic
    net = torchvision_resnet50(weights=None, num_classes=num_classes)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    return TorchvisionResNet(net)
