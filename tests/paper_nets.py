"""State_dicts with the exact key names and shapes of the papers' repositories, and a forward
pass written from the papers' equations, independent of ltrobust's model code.

Key names follow the modules as each repository defines them (docs/FORMATS.md gives commits):
the TRADES-style WideResNet block (RoBal, REAT, AT-BSL, RobustLT), kuangliu's CIFAR ResNet
(AT-BSL, RobustLT), REAT's ResNet (``conv1.0``/``conv1.1`` stem, ``residual_function``), the
pre-activation ResNet of AT-BSL's Tiny-ImageNet script and MCAT's torchvision ResNet-18
(``encoder.``, ``downsample``, ``classifier``). Values are random, BatchNorm statistics
positive, so the forward passes are non-trivial.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

SD = dict[str, torch.Tensor]


class Maker:
    """Adds tensors of given shapes under names, drawn from one seeded generator."""

    def __init__(self, seed: int = 0) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.sd: SD = {}

    def conv(self, name: str, cout: int, cin: int, k: int) -> None:
        std = math.sqrt(2.0 / (k * k * cout))
        self.sd[f"{name}.weight"] = torch.randn(cout, cin, k, k, generator=self.gen) * std

    def bn(self, name: str, c: int) -> None:
        g = self.gen
        self.sd[f"{name}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        self.sd[f"{name}.bias"] = 0.1 * torch.randn(c, generator=g)
        self.sd[f"{name}.running_mean"] = 0.1 * torch.randn(c, generator=g)
        self.sd[f"{name}.running_var"] = 0.5 + torch.rand(c, generator=g)
        self.sd[f"{name}.num_batches_tracked"] = torch.tensor(100)

    def linear(self, name: str, cout: int, cin: int, bias: bool = True) -> None:
        self.sd[f"{name}.weight"] = torch.randn(cout, cin, generator=self.gen) / math.sqrt(cin)
        if bias:
            self.sd[f"{name}.bias"] = 0.1 * torch.randn(cout, generator=self.gen)

    def vector(self, name: str, *shape: int) -> None:
        self.sd[name] = torch.randn(*shape, generator=self.gen)


# ------------------------------------------------------------------ key makers


def wrn_keys(m: Maker, p: str, depth: int, widen: int, sub_block: bool = False) -> int:
    """TRADES WideResNet (``conv1``, ``block{1,2,3}.layer.{i}``, ``bn1``); returns 64k."""
    n = (depth - 4) // 6
    widths = [16, 16 * widen, 32 * widen, 64 * widen]
    m.conv(f"{p}conv1", 16, 3, 3)
    groups = [("block1", 0), ("block2", 1), ("block3", 2)]
    if sub_block:
        groups.insert(1, ("sub_block1", 0))
    for name, g in groups:
        for i in range(n):
            cin = widths[g] if i == 0 else widths[g + 1]
            cout = widths[g + 1]
            q = f"{p}{name}.layer.{i}"
            m.bn(f"{q}.bn1", cin)
            m.conv(f"{q}.conv1", cout, cin, 3)
            m.bn(f"{q}.bn2", cout)
            m.conv(f"{q}.conv2", cout, cout, 3)
            if cin != cout:
                m.conv(f"{q}.convShortcut", cout, cin, 1)
    m.bn(f"{p}bn1", widths[3])
    return widths[3]


def resnet_keys(m: Maker, p: str, width: int = 64, names: str = "kuangliu", stem: int = 3) -> int:
    """CIFAR ResNet-18: kuangliu's names, REAT's (``residual_function``) or torchvision's
    (``downsample``, MCAT); returns the feature width."""
    if names == "reat":
        m.conv(f"{p}conv1.0", width, 3, 3)
        m.bn(f"{p}conv1.1", width)
    else:
        m.conv(f"{p}conv1", width, 3, stem)
        m.bn(f"{p}bn1", width)
    cin = width
    for layer in range(4):
        cout = width * 2**layer
        for i in range(2):
            q = f"{p}layer{layer + 1}.{i}"
            inp = cin if i == 0 else cout
            if names == "reat":
                m.conv(f"{q}.residual_function.0", cout, inp, 3)
                m.bn(f"{q}.residual_function.1", cout)
                m.conv(f"{q}.residual_function.3", cout, cout, 3)
                m.bn(f"{q}.residual_function.4", cout)
            else:
                m.conv(f"{q}.conv1", cout, inp, 3)
                m.bn(f"{q}.bn1", cout)
                m.conv(f"{q}.conv2", cout, cout, 3)
                m.bn(f"{q}.bn2", cout)
            if i == 0 and (layer > 0 or inp != cout):
                short = "downsample" if names == "torchvision" else "shortcut"
                m.conv(f"{q}.{short}.0", cout, inp, 1)
                m.bn(f"{q}.{short}.1", cout)
        cin = cout
    return 8 * width


def preact_keys(m: Maker, width: int = 64) -> int:
    """AT-BSL's PreActResNet-18 (``models/ti_preact_resnet.py``)."""
    m.conv("conv1", width, 3, 3)
    cin = width
    for layer in range(4):
        cout = width * 2**layer
        for i in range(2):
            q = f"layer{layer + 1}.{i}"
            inp = cin if i == 0 else cout
            m.bn(f"{q}.bn1", inp)
            m.conv(f"{q}.conv1", cout, inp, 3)
            m.bn(f"{q}.bn2", cout)
            m.conv(f"{q}.conv2", cout, cout, 3)
            if i == 0 and layer > 0:
                m.conv(f"{q}.shortcut.0", cout, inp, 1)
        cin = cout
    m.bn("bn", 8 * width)
    return 8 * width


# ------------------------------------------------------------------ forward from the equations


def _bn(x: torch.Tensor, sd: SD, name: str) -> torch.Tensor:
    return F.batch_norm(
        x,
        sd[f"{name}.running_mean"],
        sd[f"{name}.running_var"],
        sd[f"{name}.weight"],
        sd[f"{name}.bias"],
        False,
        0.0,
        1e-5,
    )


def _conv(x: torch.Tensor, sd: SD, name: str, stride: int = 1) -> torch.Tensor:
    w = sd[f"{name}.weight"]
    return F.conv2d(x, w, stride=stride, padding=w.shape[-1] // 2)


def wrn_features(sd: SD, p: str, x: torch.Tensor) -> torch.Tensor:
    """Pre-activation wide blocks: ``a = relu(bn1(x))``; out = conv2(relu(bn2(conv1(a)))) plus
    x, or convShortcut(a) where the width changes; then relu(bn1), mean over space."""
    out = _conv(x, sd, f"{p}conv1")
    for g, stride in ((1, 1), (2, 2), (3, 2)):
        i = 0
        while f"{p}block{g}.layer.{i}.conv1.weight" in sd:
            q = f"{p}block{g}.layer.{i}"
            s = stride if i == 0 else 1
            a = F.relu(_bn(out, sd, f"{q}.bn1"))
            h = F.relu(_bn(_conv(a, sd, f"{q}.conv1", s), sd, f"{q}.bn2"))
            h = _conv(h, sd, f"{q}.conv2")
            skip = _conv(a, sd, f"{q}.convShortcut", s) if f"{q}.convShortcut.weight" in sd else out
            out = skip + h
            i += 1
    out = F.relu(_bn(out, sd, f"{p}bn1"))
    return out.mean(dim=(2, 3))


def resnet_features(sd: SD, p: str, x: torch.Tensor, names: str = "kuangliu") -> torch.Tensor:
    """Post-activation blocks ``relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut(x))``."""
    if names == "reat":
        out = F.relu(_bn(_conv(x, sd, f"{p}conv1.0"), sd, f"{p}conv1.1"))
    else:
        stride = 2 if sd[f"{p}conv1.weight"].shape[-1] == 7 else 1
        out = F.relu(_bn(_conv(x, sd, f"{p}conv1", stride), sd, f"{p}bn1"))
        if stride == 2:
            out = F.max_pool2d(out, 3, 2, 1)
    c1, b1, c2, b2 = (
        ("residual_function.0", "residual_function.1", "residual_function.3", "residual_function.4")
        if names == "reat"
        else ("conv1", "bn1", "conv2", "bn2")
    )
    short = "downsample" if names == "torchvision" else "shortcut"
    for layer in range(1, 5):
        for i in range(2):
            q = f"{p}layer{layer}.{i}"
            s = 2 if (layer > 1 and i == 0) else 1
            h = F.relu(_bn(_conv(out, sd, f"{q}.{c1}", s), sd, f"{q}.{b1}"))
            h = _bn(_conv(h, sd, f"{q}.{c2}"), sd, f"{q}.{b2}")
            skip = out
            if f"{q}.{short}.0.weight" in sd:
                skip = _bn(_conv(out, sd, f"{q}.{short}.0", s), sd, f"{q}.{short}.1")
            out = F.relu(h + skip)
    return out.mean(dim=(2, 3))


def preact_features(sd: SD, x: torch.Tensor) -> torch.Tensor:
    """Pre-activation blocks; ``relu(bn(.))`` before pooling."""
    out = _conv(x, sd, "conv1")
    for layer in range(1, 5):
        for i in range(2):
            q = f"layer{layer}.{i}"
            s = 2 if (layer > 1 and i == 0) else 1
            a = F.relu(_bn(out, sd, f"{q}.bn1"))
            skip = _conv(a, sd, f"{q}.shortcut.0", s) if f"{q}.shortcut.0.weight" in sd else out
            h = _conv(F.relu(_bn(_conv(a, sd, f"{q}.conv1", s), sd, f"{q}.bn2")), sd, f"{q}.conv2")
            out = h + skip
    return F.relu(_bn(out, sd, "bn")).mean(dim=(2, 3))


def linear_head(f: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """``f W^T + b``."""
    return f @ w.T + (0 if b is None else b)


def cosine_head(
    f: torch.Tensor, w: torch.Tensor, scale: float, gamma: float, b: torch.Tensor | None = None
) -> torch.Tensor:
    """RoBal Eq. 10: ``s * <f / ||f||, W_j / (||W_j|| + gamma)>`` (+ b for CosPlus)."""
    cos = (f / f.norm(dim=1, keepdim=True)) @ (w / (w.norm(dim=1, keepdim=True) + gamma)).T
    return scale * cos + (0 if b is None else b)


def prior_bias(tau: float, counts: list[int]) -> torch.Tensor:
    """RoBal Eq. 11's inference-time term ``-tau * ln(pi_j)``."""
    pi = torch.tensor(counts, dtype=torch.float64) / sum(counts)
    return (-tau * torch.log(pi)).float()


Forward = Callable[[torch.Tensor], torch.Tensor]
