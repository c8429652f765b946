"""MALT targeting on linear models whose nearest class is known by construction.

The small model has logits ``z = W (x - 0.5) + b`` on 3x8x8 inputs near 0.5, true class 0 with
``w_0 = 0``: class 1 is the runner-up by logit (gap 1) but nearly parallel (``||w_1||_1 = 0.192``,
linearised L-inf distance 5.2), class 2 has a lower logit (gap 3) but a steep weight
(``||w_2||_1 = 19.2``, distance 0.156), classes 3-5 lie at gap 5 and distance 2.6. Within
eps = 0.2 only class 2 can be reached, so AutoAttack's top-logit target fails and MALT's wins.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ltrobust.attacks.autoattack import aa_target_classes
from ltrobust.attacks.malt import MALTAttack, malt_scores, malt_targets, targeted_apgd
from ltrobust.attacks.threat import ThreatModel

SHAPE, D = (3, 8, 8), 192


class Shifted(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(weight)
            self.linear.bias.copy_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - 0.5).flatten(1))


@pytest.fixture(scope="module")
def setup() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, (6, D), generator=g).float() * 2 - 1
    scale = torch.tensor([0.0, 0.001, 0.1, 0.01, 0.01, 0.01])
    model = Shifted(scale[:, None] * signs, torch.tensor([3.0, 2.0, 0.0, -2.0, -2.0, -2.0]))
    x = (0.5 + 0.01 * (2 * torch.rand(8, D, generator=g) - 1)).reshape(8, *SHAPE)
    return model.eval(), x, torch.zeros(8, dtype=torch.int64)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_scores_are_the_linearised_distances(setup, norm):
    model, x, y = setup
    cand, dist = malt_scores(model, x, y, norm=norm, rows=5)  # rows < pairs: several passes
    with torch.no_grad():
        z = model(x)
    w = model.linear.weight.detach()
    dual = 1.0 if norm == "linf" else 2.0
    assert cand.shape == (8, 5)
    for i in range(8):
        assert cand[i].tolist() == z[i].argsort(descending=True)[1:].tolist()
        for j, c in enumerate(cand[i].tolist()):
            expected = (z[i, 0] - z[i, c]) / (w[0] - w[c]).norm(p=dual)
            assert float(dist[i, j]) == pytest.approx(float(expected), rel=1e-5)


def test_nearest_class_differs_from_the_top_logit_runner_up(setup):
    model, x, y = setup
    with torch.no_grad():
        logits = model(x)
    assert aa_target_classes(logits, 1).flatten().tolist() == [1] * 8
    assert malt_targets(model, x, y, k=1).flatten().tolist() == [2] * 8
    ranked = malt_targets(model, x, y, k=9)  # capped at C - 1 = 5
    assert ranked.shape == (8, 5) and ranked[:, 0].tolist() == [2] * 8
    assert set(ranked[:, 4].tolist()) == {1}  # the runner-up by logit is the farthest
    # with one candidate, only the top-logit class is ranked
    assert malt_targets(model, x, y, k=9, candidates=1).flatten().tolist() == [1] * 8


def test_malt_breaks_along_the_nearest_class_where_the_runner_up_fails(setup):
    model, x, y = setup
    threat = ThreatModel("linf", 0.2)
    aa_top = aa_target_classes(model(x).detach(), 1)
    x_top, broke_top = targeted_apgd(model, x, y, aa_top, threat, n_iter=50, seed=0)
    with torch.no_grad():
        assert bool((model(x_top).argmax(1) == y).all()) and broke_top.tolist() == [-1] * 8
    out = MALTAttack(threat, max_targets=1, n_iter=50).run(model, x, y)
    with torch.no_grad():
        pred = model(out.x_adv).argmax(1)
    assert pred.tolist() == [2] * 8  # broken, into the nearest class
    assert out.details["broken_by_rank"].tolist() == [0] * 8
    assert out.details["targets"].flatten().tolist() == [2] * 8
    assert float((out.x_adv - x).abs().max()) <= 0.2 + 1e-6


def test_malt_keeps_the_attack_contract(setup):
    model, x, y = setup
    threat = ThreatModel("linf", 0.2)
    x0 = x.clone()
    model.train()
    attack = MALTAttack(threat, n_iter=10)
    x_adv = attack(model, x, y)
    assert model.training and torch.equal(x, x0)
    model.eval()
    assert 0 <= float(x_adv.min()) and float(x_adv.max()) <= 1
    again = attack(model, x, y)
    assert torch.equal(x_adv, again)  # the same seed, the same batch: the same result
    s = attack.settings()
    assert s["max_targets"] == 9 and s["candidates"] == 100 and s["name"] == "malt"
    with pytest.raises(ValueError, match="4 classes"):
        small = Shifted(torch.zeros(3, D), torch.zeros(3))
        MALTAttack(threat).run(small, x, torch.zeros(8, dtype=torch.int64))


def test_malt_targets_the_tail_of_the_cifar100_shaped_model():
    """The tail-target test's model: head/body classes are only reachable from the tail side.
    AutoAttack's runners-up are never tail classes; MALT's nearest classes are."""
    from tests.test_tail_targets import SHAPE as C100_SHAPE
    from tests.test_tail_targets import C, TailWeakLinear

    tail = list(range(67, C))
    model = TailWeakLinear(tail, torch.Generator().manual_seed(0)).eval()
    y = torch.arange(0, 67, 3)  # head and body samples
    x = (0.5 + 0.1 * model.signs[y]).reshape(len(y), *C100_SHAPE)
    with torch.no_grad():
        logits = model(x)
    assert not set(aa_target_classes(logits, 9).flatten().tolist()) & set(tail)
    targets = malt_targets(model, x, y, k=9)
    assert set(targets.flatten().tolist()) <= set(tail)
    out = MALTAttack(ThreatModel("linf", 8 / 255), n_iter=20).run(model, x, y)
    with torch.no_grad():
        pred = model(out.x_adv).argmax(1)
    assert set(pred.tolist()) <= set(tail)  # every sample broken, into the tail
