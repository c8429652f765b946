"""Training augmentation drawn from an explicit generator: random crop with zero padding
(torchvision's ``RandomCrop(size, padding)``) and horizontal flip with probability 1/2."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def augment(
    x: torch.Tensor, *, padding: int, hflip: bool, generator: torch.Generator
) -> torch.Tensor:
    """Crop (if ``padding`` > 0), then flip (if ``hflip``); a new tensor, ``x`` untouched."""
    out = random_crop(x, padding, generator) if padding > 0 else x.clone()
    return random_hflip(out, generator) if hflip else out
