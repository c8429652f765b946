"""Training losses against hand-computed values on tiny examples (docs/METHODS.md §4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ltrobust.attacks import CrossEntropy, IterativeAttack, ThreatModel
from ltrobust.train.losses import (
    ClassWeightedCE,
    FocalLoss,
    KLToReference,
    LDAMLoss,
    LogitAdjustedCE,
    build_outer_loss,
    class_balanced_weights,
    kl_per_sample,
    ldam_margins,
    rbl_weights,
    robal_logits,
    robal_margins,
    tail_official,
    tail_paper,
    tail_weights,
)
from ltrobust.train.options import LossOptions
from ltrobust.train.registry import build_method
from ltrobust.train.resolve import resolve_config

ZERO = torch.zeros(2, 2)
Y01 = torch.tensor([0, 1])
C41 = torch.tensor([4.0, 1.0])


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_balanced_softmax_and_logit_adjustment():
    # zero logits: BSL gives -ln(n_y / N): counts [4, 1] -> ln(5/4) and ln 5
    bsl = LogitAdjustedCE(C41, 1.0, "bsl")(ZERO, Y01)
    assert bsl.tolist() == pytest.approx([math.log(5 / 4), math.log(5)])
    # tau 2: p_y = n_y^2 / sum n^2 = [16/17, 1/17]
    la = LogitAdjustedCE(C41, 2.0, "la")(ZERO, Y01)
    assert la.tolist() == pytest.approx([math.log(17 / 16), math.log(17)])
    # a logit shift that exactly cancels the prior gives the uniform loss ln 2
    z = torch.tensor([[0.0, math.log(4.0)]])
    assert LogitAdjustedCE(C41)(z, torch.tensor([1])).item() == pytest.approx(math.log(2))


def test_ldam_margins_and_loss():
    counts = torch.tensor([16.0, 1.0])  # n^(-1/4) = [1/2, 1] -> margins [0.25, 0.5]
    assert ldam_margins(counts, 0.5).tolist() == pytest.approx([0.25, 0.5])
    loss = LDAMLoss(counts, max_m=0.5, scale=1.0)(ZERO, Y01)
    # y=0: logits [-0.25, 0] -> ln(1 + e^0.25); y=1: [0, -0.5] -> ln(1 + e^0.5)
    assert loss.tolist() == pytest.approx([math.log(1 + math.exp(0.25)), math.log1p(math.e**0.5)])
    scaled = LDAMLoss(counts, max_m=0.5, scale=2.0)(ZERO, Y01)
    assert scaled.tolist() == pytest.approx([math.log1p(math.e**0.5), math.log1p(math.e**1.0)])


def test_class_balanced_weights():
    # beta 0.5: E = (1 - 0.5^n) / 0.5 -> [1.5, 1] for n = [2, 1]; 1/E = [2/3, 1], sum to C=2
    w = class_balanced_weights(torch.tensor([2, 1]), 0.5)
    assert w.tolist() == pytest.approx([0.8, 1.2])
    # beta 0.9999 on the CIFAR-10-LT head/tail counts: tail weighted ~ n_head / n_tail-ish
    w = class_balanced_weights(torch.tensor([5000, 100]), 0.9999)
    e = [(1 - 0.9999**n) / (1 - 0.9999) for n in (5000, 100)]
    ref = [2 * (1 / e[0]) / (1 / e[0] + 1 / e[1]), 2 * (1 / e[1]) / (1 / e[0] + 1 / e[1])]
    assert w.tolist() == pytest.approx(ref)
    loss = ClassWeightedCE(torch.tensor([0.8, 1.2]), "cb")(ZERO, Y01)
    assert loss.tolist() == pytest.approx([0.8 * math.log(2), 1.2 * math.log(2)])


def test_focal_loss():
    assert FocalLoss(2.0)(ZERO, Y01).tolist() == pytest.approx([0.25 * math.log(2)] * 2)
    z = torch.tensor([[math.log(3.0), 0.0]])  # p_0 = 3/4
    assert FocalLoss(1.0)(z, torch.tensor([0])).item() == pytest.approx(0.25 * math.log(4 / 3))


def test_outer_loss_names():
    opts = {"loss": "la", "la_tau": 2.0, "ldam_max_m": 0.5, "ldam_scale": 1.0}
    opts.update(cb_beta=0.5, focal_gamma=2.0)
    la = build_outer_loss(LossOptions(**opts), C41)
    assert la(ZERO, Y01).tolist() == pytest.approx([math.log(17 / 16), math.log(17)])
    assert repr(build_outer_loss(LossOptions(**{**opts, "loss": "bsl"}), C41)) == "bsl"


def test_rbl_weights_epoch_one_and_later():
    n = torch.tensor([4, 2])
    # epoch 1: a = n; beta = [3/4, 1/2]; E = [(1 - (3/4)^4) * 4, (1 - 1/4) * 2] = [175/64, 3/2]
    w = rbl_weights(n, n)
    inv = [64 / 175, 2 / 3]
    assert w.tolist() == pytest.approx([2 * v / sum(inv) for v in inv], rel=1e-4)
    assert float(w.sum()) == pytest.approx(2.0)
    # later: a = [1, 6] -> E = [1, (1 - 1/64) * 2 = 63/32]
    w = rbl_weights(n, torch.tensor([1, 6]))
    inv = [1.0, 32 / 63]
    assert w.tolist() == pytest.approx([2 * v / sum(inv) for v in inv], rel=1e-4)
    # a class no adversarial example landed in (a = 0) takes (almost) all the weight
    w = rbl_weights(n, torch.tensor([0, 6]))
    assert w[0].item() == pytest.approx(2.0, rel=1e-4) and w[1].item() < 1e-4


def test_reat_method_uses_previous_epoch_counts():
    config = resolve_config("reat", "tensors:x.pt", {"arch": "test_mlp"})
    method = build_method(config)
    method.prepare(nn.Linear(2, 2), [4, 2])
    assert method.weights.tolist() == pytest.approx(
        rbl_weights(torch.tensor([4, 2]), torch.tensor([4.0, 2.0])).tolist()
    )
    method.end_epoch(torch.tensor([[1, 3], [0, 3]]))  # predicted-class totals a = [1, 6]
    assert method.adv_counts.tolist() == [1.0, 6.0]
    assert method.weights.tolist() == pytest.approx(
        rbl_weights(torch.tensor([4, 2]), torch.tensor([1, 6])).tolist()
    )
    restored = build_method(config)
    restored.prepare(nn.Linear(2, 2), [4, 2])
    restored.load_state_dict(method.state_dict())
    assert restored.weights.tolist() == method.weights.tolist()


def test_robal_margins_bias_and_kl():
    counts = C41  # pi = [0.8, 0.2]
    margins = robal_margins(counts, scale=10.0, m0=0.1, tau_m=0.5)
    assert margins.tolist() == pytest.approx([1.0 + 0.5 * math.log(4), 1.0])
    bias = 1.0 * torch.log(counts / counts.sum())
    cos = torch.tensor([[0.5, 0.2], [0.5, 0.2]])
    z = robal_logits(cos, Y01, scale=10.0, margins=margins, bias=bias)
    expected = [
        [5 - (1 + 0.5 * math.log(4)) + math.log(0.8), 2 + math.log(0.2)],
        [5 + math.log(0.8), 2 - 1 + math.log(0.2)],
    ]
    assert z.tolist()[0] == pytest.approx(expected[0])
    assert z.tolist()[1] == pytest.approx(expected[1])
    nat, adv = torch.tensor([[0.5, 0.2]]), torch.tensor([[0.1, 0.3]])
    p = [math.exp(0.5) / (math.exp(0.5) + math.exp(0.2)), 0.0]
    p[1] = 1 - p[0]
    q = [math.exp(0.1) / (math.exp(0.1) + math.exp(0.3)), 0.0]
    q[1] = 1 - q[0]
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    assert kl_per_sample(nat, adv).item() == pytest.approx(kl, rel=1e-5)
    assert KLToReference(nat)(adv, torch.tensor([0])).item() == pytest.approx(kl, rel=1e-5)


def test_robal_deployed_adjustment_and_presets():
    config = resolve_config("robal", "cifar10-lt", {"preset": "cifar10-N"})
    assert config.options.tau_p == 0.1 and config.options.head_gamma == 1 / 32
    assert (config.batch_size, config.weight_decay, config.attack_steps) == (64, 2e-4, 5)
    method = build_method(config)
    assert method.model_kwargs() == {"head": "cosine", "head_scale": 10.0, "head_gamma": 1 / 32}
    method.counts = C41.double()
    assert method.logit_adjustment() == pytest.approx([-0.1 * math.log(0.8), -0.1 * math.log(0.2)])
    r100 = resolve_config("robal", "cifar100-lt", {"preset": "cifar100-r", "tau_p": 1.0})
    assert (r100.options.m0, r100.options.head_gamma, r100.options.tau_p) == (
        0.3,
        1 / 16,
        1.0,
    )


def _tail_reference(f, y, omega, tail, official):
    """Naive loops over pairs (python floats via torch scalars, autograd kept)."""
    b, d = f.shape
    logp = torch.log_softmax(f, dim=1)
    total, count = f.sum() * 0.0, 0
    for i in range(b):
        if not tail[y[i]]:
            continue
        count += 1
        if official:
            ref, logref = logp[i].exp().detach(), logp[i].detach()
            k = sum((ref * (logref - logp[j])).sum() for j in range(b)) / (b * d)
            coef = (
                sum(
                    (-1.0 if y[i] == y[j] else 1.0) * float(omega[y[i]] + omega[y[j]])
                    for j in range(b)
                )
                / b
            )
            total = total + k * coef
        else:
            for j in range(b):
                kl = (logp[j].exp() * (logp[j] - logp[i])).sum()
                s = -1.0 if y[i] == y[j] else 1.0
                total = total - s * float(omega[y[i]] + omega[y[j]]) * kl / b
    return total / count if count else total


@pytest.mark.parametrize("official", [True, False])
def test_tail_both_forms_match_the_definitions(official):
    counts = torch.tensor([3.0, 1.0])
    omega = tail_weights(counts)
    assert omega.tolist() == pytest.approx([math.sqrt(4 / 3), 2.0])
    tail = torch.tensor([False, True])
    y = torch.tensor([0, 1, 1])
    f = torch.tensor([[1.0, 0.0, 0.5], [0.2, 0.7, -0.3], [0.0, 1.5, 0.1]], requires_grad=True)
    fn = tail_official if official else tail_paper
    got = fn(f, y, omega, tail)
    (grad,) = torch.autograd.grad(got, f)
    f2 = f.detach().clone().requires_grad_(True)
    ref = _tail_reference(f2, y, omega, tail, official)
    (ref_grad,) = torch.autograd.grad(ref, f2)
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    assert torch.allclose(grad, ref_grad, atol=1e-6)
    assert got.item() != 0.0


def test_tail_forms_differ_and_vanish_without_tail_samples():
    omega, tail = tail_weights(torch.tensor([3.0, 1.0])), torch.tensor([False, True])
    f = torch.tensor([[1.0, 0.0], [0.2, 0.7], [0.0, 1.5]])
    y = torch.tensor([0, 1, 1])
    assert tail_official(f, y, omega, tail).item() != pytest.approx(
        tail_paper(f, y, omega, tail).item()
    )
    y0 = torch.tensor([0, 0, 0])
    assert tail_official(f, y0, omega, tail).item() == 0.0
    assert tail_paper(f, y0, omega, tail).item() == 0.0


def test_rbl_leaves_sign_gradient_pgd_unchanged():
    """With the model in eval mode, a positive per-sample weight rescales each sample's input
    gradient without changing its sign: RBL's L-inf PGD examples equal plain CE's."""
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 5),
    )
    model.train()
    model(torch.rand(16, 1, 8, 8))  # non-trivial BatchNorm running statistics
    x = torch.rand(12, 1, 8, 8)
    y = torch.arange(12) % 5
    weights = rbl_weights(torch.tensor([500, 200, 80, 30, 10]), torch.tensor([900, 0, 3, 20, 7]))
    assert weights.max() / weights.min() > 1e3
    threat = ThreatModel("linf", 0.1)
    outs = []
    for loss in (CrossEntropy(), ClassWeightedCE(weights.float(), "rbl")):
        attack = IterativeAttack(threat, loss, steps=5, step_size=0.03)
        outs.append(attack(model, x, y, generator=torch.Generator().manual_seed(0)))
    assert not torch.equal(outs[0], x)
    assert torch.equal(outs[0], outs[1])
    assert model.training  # restored by the attack
