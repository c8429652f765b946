"""Every attack loss where it saturates: a confidently correct sample (logits [80, 0, 10],
label 0) at logit scales 1, 10^3 and 10^-3 must get a non-zero input gradient wherever the
loss's definition allows one (docs/METHODS.md §2.3), and CW-PGD must break the same samples of
a model and of the same model with its logits x1000."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ltrobust.attacks import CrossEntropy, CWMargin, IterativeAttack, TemperatureCE, ThreatModel
from ltrobust.attacks.rng import salt_of, sample_seeds
from ltrobust.audit.diagnostics import LogitScale

from .conftest import EPS

SCALES = (1.0, 1e3, 1e-3)
LOGITS = torch.tensor([80.0, 0.0, 10.0])


def linear_model(scale: float) -> nn.Module:
    """A linear model whose logits at ``x0`` are ``scale * [80, 0, 10]``."""
    gen = torch.Generator().manual_seed(0)
    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(3, 4, generator=gen))
        layer.bias.copy_(LOGITS - layer.weight @ x0()[0])
        layer.weight.mul_(scale)
        layer.bias.mul_(scale)
    return layer


def x0() -> torch.Tensor:
    return torch.full((1, 4), 0.5)


def input_gradient(loss, scale: float) -> torch.Tensor:
    x = x0().requires_grad_(True)
    value = loss(linear_model(scale)(x), torch.tensor([0])).sum()
    (grad,) = torch.autograd.grad(value, x)
    return grad


def dlr(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """AutoAttack's DLR loss, from the reference implementation (pyautoattack)."""
    from pyautoattack.autopgd_base import APGDAttack

    return APGDAttack.dlr_loss(None, logits, y)


@dataclass(frozen=True)
class BelowClamp:
    """The CW loss of ltrobust < 0.2.0: the margin clamped below at -kappa (the bug)."""

    kappa: float = 50.0

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        true = logits.gather(1, y[:, None]).squeeze(1)
        others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
        return (others.amax(dim=1) - true).clamp(min=-self.kappa)


# loss, and at which of SCALES its float32 gradient can be non-zero: CE saturates (the softmax
# of a 70-logit lead is exactly 1 at x1000, and at x10 for CE(10 * logits)); the margin, the
# per-sample temperature and DLR are linear in or invariant to the scale
LOSSES = {
    "ce": (CrossEntropy(), (1.0, 1e-3)),
    "ce x10 (adaptive)": (CrossEntropy(scale=10.0), (1e-3,)),
    "ce x10^-2 (sweep kappa 2)": (CrossEntropy(scale=1e-2), (1.0, 1e-3)),
    "cw": (CWMargin(), SCALES),
    "cw x10^-2": (CWMargin(scale=1e-2), SCALES),
    "cw x10^2": (CWMargin(scale=1e2), SCALES),
    "temperature ce (adaptive-auto)": (TemperatureCE(), SCALES),
    "dlr (AutoAttack)": (dlr, SCALES),
}


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", list(LOSSES))
def test_confidently_correct_sample_has_a_gradient(name, scale):
    loss, nonzero_at = LOSSES[name]
    grad = input_gradient(loss, scale)
    assert torch.isfinite(grad).all()
    assert bool(grad.abs().sum() > 0) == (scale in nonzero_at), grad


def test_the_old_cw_clamp_had_no_gradient_there():
    """The issue's example: logits [80, 0, 10], label 0: [0, 0, 0] with the clamp at -kappa."""
    logits = LOGITS.clone().requires_grad_(True)
    (old,) = torch.autograd.grad(BelowClamp()(logits[None], torch.tensor([0])).sum(), logits)
    (new,) = torch.autograd.grad(CWMargin()(logits[None], torch.tensor([0])).sum(), logits)
    assert old.tolist() == [0.0, 0.0, 0.0]
    assert new.tolist() == [-1.0, 0.0, 1.0]
    assert float(CWMargin()(torch.tensor([[0.0, 80.0, 10.0]]), torch.tensor([0]))) == 50.0


def _broken(loss, model, x, y, idx) -> torch.Tensor:
    attack = IterativeAttack(ThreatModel("linf", EPS), loss, steps=20, step_size=0.02, name="cw20")
    x_adv = attack(model, x, y, seeds=sample_seeds(0, salt_of("cw20"), idx))
    with torch.no_grad():
        return model(x_adv).argmax(1) != y


def test_cw20_breaks_the_same_samples_at_any_logit_scale(trained_cnn, balanced_test):
    x, y = balanced_test
    idx = torch.arange(len(y))
    stretched = LogitScale(trained_cnn, 1000.0)
    plain = _broken(CWMargin(), trained_cnn, x, y, idx)
    assert 0 < int(plain.sum()) < len(y)
    assert torch.equal(_broken(CWMargin(), stretched, x, y, idx), plain)
    # the old clamp misses most of them on the stretched model: this test can fail
    old = _broken(BelowClamp(), stretched, x, y, idx)
    assert int(old.sum()) < int(plain.sum()) // 2


def test_compare_and_gate_warn_about_cw_rows_made_before_the_fix(tmp_path):
    from typer.testing import CliRunner

    from ltrobust.cli.main import app

    from .report_factory import make_report, standard_pair

    y, clean, adv = standard_pair()
    old = make_report(y, clean, {"cw20": next(iter(adv.values()))})
    new = make_report(y, clean, {"cw20": next(iter(adv.values()))})
    new.provenance["versions"]["ltrobust"] = "0.2.0"
    assert old.provenance["versions"]["ltrobust"] == "0.1.0"
    old.save(str(tmp_path / "old.json"))
    new.save(str(tmp_path / "new.json"))
    runner = CliRunner()
    res = runner.invoke(app, ["compare", str(tmp_path / "old.json"), str(tmp_path / "new.json")])
    assert res.exit_code == 0 and "before the CW loss fix of 0.2.0" in " ".join(res.stderr.split())
    assert "new: cw20" not in " ".join(res.stderr.split())  # the fixed report is not blamed
    gate = ["gate", str(tmp_path / "new.json"), "--baseline", str(tmp_path / "old.json")]
    res = runner.invoke(app, [*gate, "--max-drop", "cw20.overall=0"])
    assert res.exit_code == 0, res.output + res.stderr
    assert "baseline: cw20 made by ltrobust 0.1.0" in " ".join(res.stderr.split())
