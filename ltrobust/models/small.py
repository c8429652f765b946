"""Small networks: the TRADES SmallCNN and the tiny ``test_*`` models of the test suite.

``small_cnn`` keeps the parameter names of the TRADES ``SmallCNN`` (Zhang et al., 2019) used for
MNIST-like data: ``feature_extractor.{conv1..conv4}`` and ``classifier.{fc1,fc2,fc3}``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import ImageClassifier
from .heads import LinearHead


def small_cnn_spatial(input_size: int) -> int:
    """Side ``s`` of the SmallCNN feature map for ``input_size`` inputs (4 for 28, 5 for 32)."""
    return ((input_size - 4) // 2 - 4) // 2


class SmallCNN(ImageClassifier):
    """TRADES SmallCNN.

    ``feature_extractor``: conv(in,32,3) relu conv(32,32,3) relu maxpool2 conv(32,64,3) relu
    conv(64,64,3) relu maxpool2; ``classifier``: fc1(64*s*s, 200) relu dropout fc2(200, 200) relu
    fc3(200, C), with ``s = small_cnn_spatial(input_size)``.

    Input ``N x in_channels x input_size x input_size`` (input_size >= 14), features ``N x 200``
    (after fc2 and its ReLU), logits ``N x num_classes``.
    """

    head_path = "classifier.fc3"

    def __init__(
        self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28, drop: float = 0.5
    ) -> None:
        super().__init__()
        side = small_cnn_spatial(input_size)
        if side < 1:
            raise ConfigError(f"small_cnn needs input_size >= 14, got {input_size}")
        if not 0.0 <= drop < 1.0:
            raise ConfigError(f"drop must be in [0, 1), got {drop}")
        self.flat_dim = 64 * side * side
        self.feature_extractor = nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(in_channels, 32, 3)),
                    ("relu1", nn.ReLU()),
                    ("conv2", nn.Conv2d(32, 32, 3)),
                    ("relu2", nn.ReLU()),
                    ("maxpool1", nn.MaxPool2d(2, 2)),
                    ("conv3", nn.Conv2d(32, 64, 3)),
                    ("relu3", nn.ReLU()),
                    ("conv4", nn.Conv2d(64, 64, 3)),
                    ("relu4", nn.ReLU()),
                    ("maxpool2", nn.MaxPool2d(2, 2)),
                ]
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("fc1", nn.Linear(self.flat_dim, 200)),
                    ("relu1", nn.ReLU()),
                    ("drop", nn.Dropout(drop)),
                    ("fc2", nn.Linear(200, 200)),
                    ("relu2", nn.ReLU()),
                    ("fc3", LinearHead(200, num_classes)),
                ]
            )
        )
        for m in self.feature_extractor:
            if isinstance(m, nn.Conv2d) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Output of ``classifier.relu2`` (everything before ``fc3``), ``N x 200``."""
        h = torch.flatten(self.feature_extractor(x), 1)
        for name, layer in self.classifier.named_children():
            if name == "fc3":
                break
            h = layer(h)
        return h


class TestLinear(ImageClassifier):
    """Flatten + one linear layer: ``logits = W @ x.flatten() + b``.

    ``weight`` (``C x D``, ``D = in_channels * input_size**2``) and ``bias`` are read-only
    aliases of ``linear.weight`` / ``linear.bias``, for closed-form attack tests. Features are
    the flattened input, ``N x D``.
    """

    __test__ = False  # not a pytest test class
    head_path = "linear"

    def __init__(self, num_classes: int = 10, in_channels: int = 3, input_size: int = 32) -> None:
        super().__init__()
        self.linear = LinearHead(in_channels * input_size * input_size, num_classes)

    @property
    def weight(self) -> torch.Tensor:
        """The head's weight, ``C x D``."""
        return self.head.weight  # type: ignore[return-value]

    @property
    def bias(self) -> torch.Tensor | None:
        """The head's bias, ``C`` (None with a cosine head)."""
        return getattr(self.head, "bias", None)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, 1)


class TestMLP(ImageClassifier):
    """Flatten, ``fc1`` (D -> 32), ReLU, ``fc2`` (32 -> C). Features ``N x 32``."""

    __test__ = False
    head_path = "fc2"

    def __init__(self, num_classes: int = 10, in_channels: int = 3, input_size: int = 32) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_channels * input_size * input_size, 32)
        self.fc2 = LinearHead(32, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc1(torch.flatten(x, 1)))


class TestCNN(ImageClassifier):
    """Tiny CNN: conv1 (3x3, 8) relu maxpool2, conv2 (3x3, 16) relu maxpool2, flatten, ``fc``.

    Input ``N x in_channels x input_size x input_size`` (input_size >= 4; e.g. 1x12x12 or
    3x16x16), features ``N x 16 * (input_size // 4) ** 2``, logits ``N x num_classes``.
    """

    __test__ = False
    head_path = "fc"

    def __init__(self, num_classes: int = 10, in_channels: int = 3, input_size: int = 32) -> None:
        super().__init__()
        if input_size < 4:
            raise ConfigError(f"test_cnn needs input_size >= 4, got {input_size}")
        self.conv1 = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = LinearHead(16 * (input_size // 4) ** 2, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return torch.flatten(h, 1)


def small_cnn(
    *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32, drop: float = 0.5
) -> SmallCNN:
    """TRADES SmallCNN for MNIST-like data (28x28: s = 4; 32x32: s = 5)."""
    return SmallCNN(num_classes, in_channels, input_size, drop)


def test_linear(*, num_classes: int = 10, in_channels: int = 3, input_size: int = 32) -> TestLinear:
    """Tiny test model: flatten + linear (closed-form attack tests)."""
    return TestLinear(num_classes, in_channels, input_size)


def test_mlp(*, num_classes: int = 10, in_channels: int = 3, input_size: int = 32) -> TestMLP:
    """Tiny test model: flatten, Linear(d, 32), ReLU, Linear(32, C)."""
    return TestMLP(num_classes, in_channels, input_size)


def test_cnn(*, num_classes: int = 10, in_channels: int = 3, input_size: int = 32) -> TestCNN:
    """Tiny test model: a two-conv CNN that trains in seconds on 12x12 or 16x16 inputs."""
    return TestCNN(num_classes, in_channels, input_size)


test_linear.__test__ = False  # type: ignore[attr-defined]
test_mlp.__test__ = False  # type: ignore[attr-defined]
test_cnn.__test__ = False  # type: ignore[attr-defined]
