"""FMN against the closed-form minimal radius of a linear classifier.

For logits ``z = W x + b`` the misclassified region is the union over ``c != y`` of the
half-spaces ``z_c >= z_y``, so without a box the smallest perturbation has norm
``min_c (z_y - z_c) / ||w_y - w_c||_*`` (``*`` the dual norm: L1 for L-inf, L2 for L2). The inputs
lie near the middle of the box and the radii are small, so the box does not bind for them.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ltrobust.attacks.fmn import FastMinimumNorm
from ltrobust.attacks.threat import ThreatModel

C, SHAPE, D = 10, (3, 8, 8), 192


def linear_setup(dtype: torch.dtype, n: int = 48) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    lin = nn.Linear(D, C).to(dtype)
    with torch.no_grad():
        lin.weight.copy_(0.1 * torch.randn(C, D, generator=g))
        lin.bias.copy_(0.2 * torch.randn(C, generator=g))
    model = nn.Sequential(nn.Flatten(), lin)
    x = (0.5 + 0.05 * (2 * torch.rand(n, D, generator=g) - 1)).to(dtype).reshape(n, *SHAPE)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def closed_form(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str) -> torch.Tensor:
    lin = model[1]
    w, z = lin.weight.detach().double(), model(x).detach().double()
    dual = 1.0 if norm == "linf" else 2.0
    out = []
    for i in range(len(y)):
        yi = int(y[i])
        best = math.inf
        for c in range(C):
            if c != yi:
                gap = float(z[i, yi] - z[i, c])
                best = min(best, gap / float((w[yi] - w[c]).norm(p=dual)))
        out.append(best)
    return torch.tensor(out, dtype=torch.double)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fmn_finds_the_closed_form_radius(norm):
    model, x, y = linear_setup(torch.float64)
    truth = closed_form(model, x, y, norm)
    assert float(truth.max()) < 0.4  # the box [0, 1] does not bind around 0.5 +- 0.05
    found = FastMinimumNorm(ThreatModel(norm, 0.1), steps=100).minimal(model, x, y)
    rel = (found.radius - truth) / truth
    assert float(rel.min()) >= -1e-9  # never below the truth
    assert float(rel.max()) <= 1e-3  # within 0.1% after 100 steps
    # the returned point is adversarial, at the reported distance, inside the box
    with torch.no_grad():
        assert bool((model(found.x_adv).argmax(1) != y).all())
    assert torch.allclose(ThreatModel(norm, 1.0).distance(found.x_adv, x), found.radius)


def test_fmn_in_float32_on_cifar_sized_inputs():
    g = torch.Generator().manual_seed(1)
    d = 3 * 32 * 32
    lin = nn.Linear(d, C)
    with torch.no_grad():
        lin.weight.copy_(0.02 * torch.randn(C, d, generator=g))
        lin.bias.zero_()
    model = nn.Sequential(nn.Flatten(), lin)
    x = (0.5 + 0.02 * torch.randn(32, d, generator=g)).clamp(0.3, 0.7).reshape(32, 3, 32, 32)
    y = model(x).argmax(1).detach()
    truth = closed_form(model, x, y, "linf")
    r = FastMinimumNorm(ThreatModel("linf", 8 / 255)).minimal(model, x, y).radius.double()
    assert float((r - truth).min()) >= -1e-6  # float32 rounding only
    assert float(((r - truth) / truth).max()) <= 1e-2


def test_fmn_respects_the_box_and_reports_misclassified_and_unbreakable_samples():
    model, x, y = linear_setup(torch.float64, n=8)
    x = x.clone()
    x[:4] = (x[:4] > 0.5).to(x.dtype)  # on the box's corners: the box binds
    with torch.no_grad():
        z = model(x)
    y = z.argmax(1)
    y[4] = (y[4] + 1) % C  # misclassified clean: radius 0
    found = FastMinimumNorm(ThreatModel("linf", 0.1), steps=50).minimal(model, x, y)
    assert float(found.x_adv.min()) >= 0.0 and float(found.x_adv.max()) <= 1.0
    assert float(found.radius[4]) == 0.0 and torch.equal(found.x_adv[4], x[4])
    free = closed_form(model, x, y, "linf")
    keep = torch.arange(8) != 4
    assert bool((found.radius[keep] >= free[keep] - 1e-9).all())  # a box only adds distance
    # a constant model is never broken: radius inf, point = clean input
    const = nn.Sequential(nn.Flatten(), nn.Linear(D, C).double())
    with torch.no_grad():
        const[1].weight.zero_()
        const[1].bias.copy_(torch.arange(C, dtype=torch.float64))
    yc = torch.full((8,), C - 1)
    none = FastMinimumNorm(ThreatModel("l2", 0.5), steps=5).minimal(const, x, yc)
    assert bool(torch.isinf(none.radius).all()) and torch.equal(none.x_adv, x)


def test_fmn_keeps_the_attack_contract():
    model, x, y = linear_setup(torch.float64, n=16)
    truth = closed_form(model, x, y, "linf")
    eps = float(truth.median())
    attack = FastMinimumNorm(ThreatModel("linf", eps), steps=100)
    x0 = x.clone()
    model.train()
    out = attack.run(model, x, y)
    assert model.training and torch.equal(x, x0)
    radius = out.details["radius"]
    inside = radius <= eps
    assert 0 < int(inside.sum()) < len(y)
    with torch.no_grad():
        wrong = model(out.x_adv).argmax(1) != y
    assert torch.equal(wrong, inside)  # broken exactly where the radius fits the budget
    assert float((out.x_adv - x).abs().amax()) <= eps + 1e-9
    assert torch.equal(out.x_adv[~inside], x[~inside])
    s = attack.settings()
    assert s["steps"] == 100 and s["alpha_init"] == 1.0 and s["gamma_init"] == 0.05
    with pytest.raises(ValueError):
        FastMinimumNorm(ThreatModel("linf", eps), steps=0)
