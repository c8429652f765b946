"""CutMix with a patch source: CMO's minority oversampling (Park et al., CVPR 2022) and AFR's
stage 2 (docs/METHODS.md §4.6, §4.7).

A box of a mixed sample follows CMO's ``rand_bbox``: ``lam ~ Beta(a, a)``, sides
``int(H sqrt(1 - lam))`` and ``int(W sqrt(1 - lam))``, a centre uniform over the pixels, the box
``[c - side//2, c + side//2)`` clipped to the image. The patch replaces those pixels of the
background image and the label weight becomes the area actually kept,
``lam = 1 - box area / (H W)``; the loss of a mixed sample is
``lam * L(z, y) + (1 - lam) * L(z, y_patch)``. Every draw comes from the given generator (Beta
variates from two Gamma variates of Marsaglia and Tsang's method).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ltrobust.attacks.iterative import LossFn


def _gamma(shape: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` Gamma(shape, 1) variates (float64): Marsaglia-Tsang, boosted for shape < 1."""
    boost = shape < 1
    d = (shape + 1 if boost else shape) - 1 / 3
    c = 1 / (9 * d) ** 0.5
    out = torch.zeros(n, dtype=torch.float64)
    todo = torch.ones(n, dtype=torch.bool)
    while bool(todo.any()):
        k = int(todo.sum())
        z = torch.randn(k, generator=generator, dtype=torch.float64)
        u = torch.rand(k, generator=generator, dtype=torch.float64)
        v = (1 + c * z) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * z**2 + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        idx = todo.nonzero().flatten()[ok]
        out[idx] = d * v[ok]
        todo[idx] = False
    if boost:
        out = out * torch.rand(n, generator=generator, dtype=torch.float64) ** (1 / shape)
    return out


def sample_beta(alpha: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` draws of Beta(alpha, alpha) (float64); Beta(1, 1) is a plain uniform draw."""
    if alpha == 1.0:
        return torch.rand(n, generator=generator, dtype=torch.float64)
    a, b = _gamma(alpha, n, generator), _gamma(alpha, n, generator)
    return a / (a + b)


@dataclass(frozen=True)
class Boxes:
    """Per-sample boxes ``[top, bottom) x [left, right)`` (each N, int64)."""

    top: torch.Tensor
    bottom: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor

    def mask(self, h: int, w: int) -> torch.Tensor:
        """N x 1 x H x W, True inside the box."""
        rows, cols = torch.arange(h)[None, :], torch.arange(w)[None, :]
        in_rows = (rows >= self.top[:, None]) & (rows < self.bottom[:, None])
        in_cols = (cols >= self.left[:, None]) & (cols < self.right[:, None])
        return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]

    def kept(self, h: int, w: int) -> torch.Tensor:
        """The share of each image outside its box (N, float32): CutMix's label weight."""
        area = (self.bottom - self.top) * (self.right - self.left)
        return (1.0 - area.double() / (h * w)).float()


def draw_boxes(lam: torch.Tensor, h: int, w: int, generator: torch.Generator) -> Boxes:
    """One box per entry of ``lam`` (N): sides ``int(H sqrt(1 - lam))``, centre uniform."""
    ratio = torch.sqrt(1.0 - lam.double())
    cut_h, cut_w = (h * ratio).long(), (w * ratio).long()
    cy = torch.randint(0, h, lam.shape, generator=generator)
    cx = torch.randint(0, w, lam.shape, generator=generator)
    return Boxes(
        (cy - cut_h // 2).clamp(0, h),
        (cy + cut_h // 2).clamp(0, h),
        (cx - cut_w // 2).clamp(0, w),
        (cx + cut_w // 2).clamp(0, w),
    )


def paste(
    x: torch.Tensor, patches: torch.Tensor, boxes: Boxes
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` with each box filled from ``patches`` (both N x C x H x W), and the kept shares."""
    h, w = x.shape[-2:]
    inside = boxes.mask(h, w).to(x.device)
    return torch.where(inside, patches, x), boxes.kept(h, w).to(x.device)


@dataclass
class Mixed:
    """A batch after mixing: images, the patches' labels and the label weight of the
    background (1 where a sample was not mixed)."""

    x: torch.Tensor
    y_patch: torch.Tensor
    lam: torch.Tensor


def unmixed(x: torch.Tensor, y: torch.Tensor) -> Mixed:
    """``x`` as it is (every label weight 1)."""
    return Mixed(x, y, torch.ones(len(y), device=x.device))


def mix_batch(
    x: torch.Tensor,
    patches: torch.Tensor,
    y_patch: torch.Tensor,
    alpha: float,
    generator: torch.Generator,
) -> Mixed:
    """CMO: one ``lam ~ Beta(alpha, alpha)`` and one box for the whole batch (N samples)."""
    lam = sample_beta(alpha, 1, generator)
    box = draw_boxes(lam, x.shape[-2], x.shape[-1], generator)
    many = Boxes(*(t.expand(len(x)) for t in (box.top, box.bottom, box.left, box.right)))
    mixed, kept = paste(x, patches, many)
    return Mixed(mixed, y_patch, kept)


def mix_some(
    x: torch.Tensor,
    y: torch.Tensor,
    chosen: torch.Tensor,
    patches: torch.Tensor,
    y_patch: torch.Tensor,
    alpha: float,
    generator: torch.Generator,
) -> Mixed:
    """AFR stage 2: the samples at positions ``chosen`` (K) get a patch each from ``patches``
    (K x C x H x W, labels ``y_patch``), with their own ``lam`` and box; the rest stay."""
    lam = sample_beta(alpha, len(chosen), generator)
    boxes = draw_boxes(lam, x.shape[-2], x.shape[-1], generator)
    chosen = chosen.to(x.device)
    mixed, kept = paste(x[chosen], patches, boxes)
    out = unmixed(x.clone(), y.clone())
    out.x[chosen], out.y_patch[chosen], out.lam[chosen] = mixed, y_patch, kept
    return out


def mixed_loss(loss: LossFn, logits: torch.Tensor, y: torch.Tensor, mixed: Mixed) -> torch.Tensor:
    """Per sample ``lam * L(z, y) + (1 - lam) * L(z, y_patch)`` (N)."""
    own = loss(logits, y)
    if bool((mixed.lam == 1).all()):
        return own
    return mixed.lam * own + (1 - mixed.lam) * loss(logits, mixed.y_patch)


def balanced_indices(y: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` indices into ``y`` drawn with replacement with probability proportional to
    ``1 / n_{y_i}``: every class equally likely (CMO's weighted sampler, alpha 1)."""
    counts = torch.bincount(y).double()
    weights = 1.0 / counts[y]
    return torch.multinomial(weights, n, replacement=True, generator=generator)
