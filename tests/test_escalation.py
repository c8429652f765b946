"""Escalation past gradient masking (docs/METHODS.md §3.9): an input-quantising model whose
input gradient is exactly zero is broken by Square on the survivors, and the believed accuracy
includes it; --no-escalate turns it off; a randomised model gets EOT attacks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ltrobust

from .conftest import EPS, TRAIN_COUNTS


class Quantised(nn.Module):
    """Rounds its input to 4 levels before a classifier: a zero gradient almost everywhere."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x * 3) / 3)


@pytest.fixture(scope="module")
def data(balanced_test):
    x, y = balanced_test
    return x[::6].clone(), y[::6].clone()


def _audit(model, data, **kw):
    from ltrobust.data.loading import EvalData

    x, y = data
    evald = EvalData(
        name="quantised-test",
        x=x,
        y=y,
        indices=torch.arange(len(y)),
        class_counts=TRAIN_COUNTS,
        class_names=[str(c) for c in range(len(TRAIN_COUNTS))],
        num_classes=len(TRAIN_COUNTS),
        test_imbalanced=False,
        imbalance_ratio=None,
        source="memory",
        spec=None,
    )
    return ltrobust.audit(
        model, evald, "pgd20", eps=EPS, step=0.02, sweep=False, device="cpu", **kw
    )


def test_square_breaks_what_zero_gradients_hide(trained_cnn, data):
    model = Quantised(trained_cnn).eval()
    report = _audit(model, data)
    esc = report.diagnostics["escalation"]
    assert [r["attack"] for r in esc["ran"]] == ["square"]
    assert "exactly 0" in esc["ran"][0]["why"]
    pgd = report.attacks["pgd20"].summary.accuracy
    believed = report.verdict["overall"]["believed"]
    assert esc["newly_broken"] > 0 and believed < pgd - 0.05
    assert report.worst_case.summary.accuracy == believed
    assert "square" in report.worst_case.settings["over"]
    fired = {c["name"] for c in report.diagnostics["checks"] if c["triggered"]}
    assert "escalation_breaks_more" in fired
    assert report.verdict["overall"]["verdict"] == "inflated"
    # without escalation the believed accuracy stays at what PGD could not break
    off = _audit(model, data, escalate=False)
    assert "escalation" not in off.diagnostics
    assert off.verdict["overall"]["believed"] == off.worst_case.summary.accuracy
    assert off.verdict["overall"]["believed"] > believed


def test_a_differentiable_model_is_not_escalated(trained_cnn, data):
    report = _audit(trained_cnn, data)
    assert "escalation" not in report.diagnostics
