"""Training augmentation drawn from an explicit generator (docs/METHODS.md §4.1).

In order: random crop with zero padding (torchvision's ``RandomCrop(size, padding)``), a
horizontal flip with probability 1/2, a policy (torchvision's ``AutoAugment`` with its CIFAR-10
policy, or ``RandAugment(N, M)``) and Cutout (one ``S x S`` square of zeros at a uniform centre,
clipped at the border; DeVries & Taylor 2017), the order of CMO's CIFAR code.

The policies are torchvision's own classes, applied image by image to 8-bit images (pixels are
rounded to multiples of 1/255 first, which is exact for CIFAR and Fashion-MNIST). They draw from
torch's global RNG, which ltrobust never lets them touch: each batch's policies run inside
``torch.random.fork_rng`` with the CPU generator seeded from a number drawn from the training
generator, so the global state is unchanged afterwards and the draws follow from the run's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from ltrobust.train.config import TrainConfig


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Per-sample crop of the original size from ``x`` (N x C x H x W) zero-padded by
    ``padding`` on every side; offsets uniform in ``0..2*padding``."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    rows = (top[:, None] + torch.arange(h)).view(n, 1, h, 1).to(x.device)
    cols = (left[:, None] + torch.arange(w)).view(n, 1, 1, w).to(x.device)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    chans = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, chans, rows, cols]


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each sample of ``x`` (N x C x H x W) left-right with probability 1/2."""
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero rows ``[cy - size//2, cy + size//2)`` x the same columns around a uniform centre
    ``(cy, cx)`` of each sample of ``x`` (N x C x H x W), clipped at the border."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n, 1), generator=generator)
    cx = torch.randint(0, w, (n, 1), generator=generator)
    half = size // 2
    rows = torch.arange(h)[None, :]
    cols = torch.arange(w)[None, :]
    in_rows = (rows >= cy - half) & (rows < cy + half)
    in_cols = (cols >= cx - half) & (cols < cx + half)
    hole = (in_rows[:, :, None] & in_cols[:, None, :]).to(x.device)
    return x.masked_fill(hole[:, None], 0.0)


def policy_transform(policy: str, num_ops: int, magnitude: int) -> Any:
    """torchvision's ``AutoAugment(CIFAR10)`` or ``RandAugment(num_ops, magnitude)``."""
    from torchvision.transforms import AutoAugment, AutoAugmentPolicy, RandAugment

    if policy == "autoaugment":
        return AutoAugment(AutoAugmentPolicy.CIFAR10)
    return RandAugment(num_ops=num_ops, magnitude=magnitude)


def apply_policy(x: torch.Tensor, transform: Any, generator: torch.Generator) -> torch.Tensor:
    """``transform`` on every image of ``x`` (N x C x H x W in [0, 1], CPU), as 8-bit images,
    with torch's CPU RNG forked and seeded from ``generator`` (global state unchanged)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    images = (x * 255).round().to(torch.uint8)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        out = torch.stack([transform(image) for image in images])
    return out.to(x.dtype) / 255


@dataclass(frozen=True)
class Augmentation:
    """One run's training augmentation; ``augmentation(x, generator)`` returns a new tensor."""

    padding: int = 0
    hflip: bool = False
    policy: str = "none"
    randaugment_n: int = 2
    randaugment_m: int = 9
    cutout: int = 0

    @classmethod
    def of(cls, config: TrainConfig) -> Augmentation:
        """The augmentation ``config`` asks for."""
        return cls(
            config.crop_padding,
            config.hflip,
            config.augment,
            config.randaugment_n,
            config.randaugment_m,
            config.cutout,
        )

    def basic(self) -> Augmentation:
        """Crop and flip only (no policy, no Cutout)."""
        return replace(self, policy="none", cutout=0)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        out = random_crop(x, self.padding, generator) if self.padding > 0 else x.clone()
        if self.hflip:
            out = random_hflip(out, generator)
        if self.policy != "none":
            transform = policy_transform(self.policy, self.randaugment_n, self.randaugment_m)
            out = apply_policy(out, transform, generator)
        if self.cutout > 0:
            out = cutout(out, self.cutout, generator)
        return out


def augment(
    x: torch.Tensor, *, padding: int, hflip: bool, generator: torch.Generator
) -> torch.Tensor:
    """Crop (if ``padding`` > 0), then flip (if ``hflip``); a new tensor, ``x`` untouched."""
    return Augmentation(padding, hflip)(x, generator)
