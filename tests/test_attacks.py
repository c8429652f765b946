"""Attack invariants (the contract of ltrobust.attacks.base), closed forms on linear models, and cross-checks against
torchattacks and AutoAttack's reference implementation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ltrobust.attacks import (
    CrossEntropy,
    CWMargin,
    ThreatModel,
    build_attack,
    parse_attack_list,
    salt_of,
    sample_seeds,
)
from ltrobust.attacks.registry import ATTACKS, attack_spec
from ltrobust.errors import ConfigError
from ltrobust.values import parse_number

from .conftest import EPS

THREAT = ThreatModel("linf", EPS)
STEP = 0.02


def _robust_acc(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x_adv).argmax(1) == y).float().mean())


@pytest.fixture(scope="module")
def small_batch(balanced_test):
    x, y = balanced_test
    idx = torch.arange(0, len(y), 10)  # 24 samples, every class
    return x[idx], y[idx], idx


def _is_autoattack(name: str) -> bool:
    spec = attack_spec(name)
    return spec.kind in ("autoattack", "tail-targeted") or spec.backend_attack == "AutoAttack"


#: the tail classes the tail-targeted row is built with (the fixture's three rarest)
TAIL = (3, 4, 5)


@pytest.mark.parametrize("name", ATTACKS.names(hidden=True))
def test_attack_invariants(name, trained_cnn, small_batch):
    """Every row of the attack table, the protocols' and the diagnostics' hidden rows included;
    a row's ball is the audit's unless its budget says otherwise (the unbounded attack's)."""
    x, y, idx = small_batch
    if _is_autoattack(name):  # AutoAttack is costly on CPU: fewer samples
        x, y, idx = x[::2], y[::2], idx[::2]
    x_before = x.clone()
    attack = build_attack(name, THREAT, STEP, sample_shape=x.shape[1:], tail=TAIL)
    ball, spec = attack.threat, attack_spec(name)
    whole = spec.budget == "whole-box"
    assert ball.eps == (1.0 if whole else THREAT.eps * spec.eps_scale)  # whole box: its width
    seeds = sample_seeds(0, salt_of(name), idx)
    trained_cnn.train()
    x_adv = attack(trained_cnn, x, y, seeds=seeds)
    assert trained_cnn.training, "model.training must be restored"
    trained_cnn.eval()
    assert torch.equal(x, x_before), "x must not be mutated"
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert float(ball.distance(x_adv, x).max()) <= ball.eps + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    if not _is_autoattack(name):  # AutoAttack's determinism: test_aa_matches_pyautoattack
        again = attack(trained_cnn, x, y, seeds=seeds)
        assert torch.equal(x_adv, again), "same seeds must give the same output"
    zero = build_attack(name, ThreatModel("linf", 0.0), STEP, sample_shape=x.shape[1:], tail=TAIL)
    if not whole:  # a whole-box ball does not shrink with the audit's
        assert torch.equal(zero(trained_cnn, x, y, seeds=seeds), x)
    if spec.steps != 1 and spec.backend_attack != "FGSM":  # all but FGSM find something here
        assert _robust_acc(trained_cnn, x_adv, y) < _robust_acc(trained_cnn, x, y)


def test_pgd_no_weaker_than_fgsm(trained_cnn, balanced_test):
    x, y = balanced_test
    idx = torch.arange(len(y))
    accs = {}
    for name in ("fgsm", "pgd20"):
        x_adv = build_attack(name, THREAT, STEP)(
            trained_cnn, x, y, seeds=sample_seeds(0, salt_of(name), idx)
        )
        accs[name] = _robust_acc(trained_cnn, x_adv, y)
    clean = _robust_acc(trained_cnn, x, y)
    assert accs["pgd20"] <= accs["fgsm"] < clean
    assert 0.05 < accs["pgd20"] < 0.95, accs  # the fixture model is neither broken nor perfect


def test_fgsm_on_linear_model_lowers_margin_by_eps_l1():
    """Two-class linear model: FGSM lowers z_y - z_o by exactly eps * ||w_y - w_o||_1."""
    torch.manual_seed(0)
    lin = nn.Linear(16, 2)
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.full((3, 1, 4, 4), 0.5)
    x[1] += 0.05
    y = torch.tensor([0, 1, 0])
    eps = 0.03
    x_adv = build_attack("fgsm", ThreatModel("linf", eps), 0.01)(model, x, y)
    w = lin.weight.detach()
    with torch.no_grad():
        z, z_adv = model(x), model(x_adv)
    for i in range(3):
        o = 1 - int(y[i])
        drop = (z[i, y[i]] - z[i, o]) - (z_adv[i, y[i]] - z_adv[i, o])
        assert float(drop) == pytest.approx(eps * float((w[y[i]] - w[o]).abs().sum()), rel=1e-5)


def test_results_do_not_depend_on_batch_size(trained_cnn, balanced_test):
    x, y = balanced_test
    idx = torch.arange(len(y))
    attack = build_attack("pgd20", THREAT, STEP)
    whole = attack(trained_cnn, x, y, seeds=sample_seeds(0, salt_of("pgd20"), idx))
    parts = [
        attack(
            trained_cnn,
            x[s : s + 7],
            y[s : s + 7],
            seeds=sample_seeds(0, salt_of("pgd20"), idx[s : s + 7]),
        )
        for s in range(0, len(y), 7)
    ]
    assert torch.allclose(whole, torch.cat(parts), atol=1e-6)
    other = attack(trained_cnn, x, y, seeds=sample_seeds(1, salt_of("pgd20"), idx))
    assert not torch.equal(whole, other), "a different seed must change the random start"


def test_l2_pgd_respects_budget(trained_cnn, small_batch):
    x, y, idx = small_batch
    threat = ThreatModel("l2", 0.8)
    x_adv = build_attack("pgd20", threat, 0.2)(trained_cnn, x, y, seeds=idx)
    assert float(threat.distance(x_adv, x).max()) <= 0.8 + 1e-5
    assert float(threat.distance(x_adv, x).min()) > 0.1
    assert _robust_acc(trained_cnn, x_adv, y) < _robust_acc(trained_cnn, x, y)


def test_losses_by_hand():
    z = torch.tensor([[2.0, 1.0, -1.0], [0.0, 3.0, 1.0]])
    y = torch.tensor([0, 2])
    assert CWMargin()(z, y).tolist() == pytest.approx([1.0 - 2.0, 3.0 - 1.0])
    # clamped above at kappa (docs/METHODS.md §2.3): a correct sample keeps its margin
    assert CWMargin(kappa=0.5)(z, y).tolist() == pytest.approx([-1.0, 0.5])
    lse = math.log(math.exp(2) + math.exp(1) + math.exp(-1))
    assert float(CrossEntropy()(z, y)[0]) == pytest.approx(lse - 2.0)
    lse10 = math.log(math.exp(20) + math.exp(10) + math.exp(-10))
    assert float(CrossEntropy(scale=10)(z.double(), y)[0]) == pytest.approx(lse10 - 20.0, rel=1e-9)


def test_adaptive_attack_scales_logits():
    attack = build_attack("adaptive", THREAT, STEP)
    assert attack.settings()["loss"] == "ce(scale=10)"
    assert attack.settings()["steps"] == 20


def test_parsing_and_names():
    assert parse_number("8/255") == pytest.approx(8 / 255)
    assert parse_number("0.1") == 0.1
    with pytest.raises(ConfigError, match="cannot parse"):
        parse_number("eight")
    assert parse_attack_list("fgsm, PGD20,pgd20,aa") == ["fgsm", "pgd20", "aa"]
    with pytest.raises(ConfigError, match="valid: fgsm, pgd20"):
        parse_attack_list("pgd20,deepfool")


def test_pgd_agrees_with_torchattacks(trained_cnn, balanced_test):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = balanced_test
    ours = build_attack("pgd20", THREAT, STEP)(
        trained_cnn, x, y, seeds=sample_seeds(0, 1, torch.arange(len(y)))
    )
    torch.manual_seed(0)
    theirs = torchattacks.PGD(trained_cnn, eps=EPS, alpha=STEP, steps=20, random_start=True)(x, y)
    a, b = _robust_acc(trained_cnn, ours, y), _robust_acc(trained_cnn, theirs, y)
    p = (a + b) / 2
    noise = 3 * math.sqrt(2 * p * (1 - p) / len(y))
    assert abs(a - b) <= max(noise, 2 / len(y)), (a, b, noise)


def test_aa_matches_pyautoattack_called_directly(trained_cnn, small_batch):
    from pyautoattack import AutoAttack

    x, y, _ = small_batch
    rng_before = torch.random.get_rng_state()
    ours = build_attack("aa", THREAT, STEP, seed=0)(trained_cnn, x, y)
    assert torch.equal(torch.random.get_rng_state(), rng_before), "global RNG must be untouched"
    direct = AutoAttack(trained_cnn, norm="Linf", eps=EPS, seed=0, version="standard")
    direct.apgd_targeted.n_target_classes = 5  # 6 classes: at most C - 1 targets
    direct.fab.n_target_classes = 5
    x_direct, y_direct = direct.run_standard_evaluation(x, y, batch_size=len(y))
    with torch.no_grad():
        ours_pred = trained_cnn(ours).argmax(1)
    assert torch.equal(ours_pred, y_direct)
    assert torch.equal(ours, x_direct)
