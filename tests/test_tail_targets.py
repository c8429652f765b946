"""AutoAttack's blind spot on long-tailed data: its targets vs the tail, and --aa-tail-targets.

The CIFAR-100-shaped model is a hand-set linear classifier on 3x32x32 inputs whose weakness is
only towards tail classes: head/body classes have small weights (nothing within eps = 8/255 moves
one into another), tail classes have ten times larger weights and a bias of -4. A head/body sample
can be pushed into a tail class (eps * ||w_t - w_y||_1 ~ 9.6 > the 7.1 logit gap), but the tail
logits are the lowest, so AutoAttack's top-9 runner-up targets never include a tail class and the
CE gradient points elsewhere: AutoAttack reports the model as robust.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ltrobust
from ltrobust.attacks import TailTargetedAPGD, ThreatModel, aa_target_classes
from ltrobust.data import lt_counts

C, SHAPE = 100, (3, 32, 32)


class TailWeakLinear(nn.Module):
    def __init__(self, tail: list[int], generator: torch.Generator) -> None:
        super().__init__()
        d = SHAPE[0] * SHAPE[1] * SHAPE[2]
        self.signs = torch.randint(0, 2, (C, d), generator=generator).float() * 2 - 1
        scale = torch.full((C, 1), 0.01)
        bias = torch.zeros(C)
        scale[tail], bias[tail] = 0.1, -4.0
        self.linear = nn.Linear(d, C)
        with torch.no_grad():
            self.linear.weight.copy_(scale * self.signs)
            self.linear.bias.copy_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - 0.5).flatten(1))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    counts = lt_counts(500, 10.0, C)  # the CIFAR-100-LT profile: IR 10
    tail = list(range(67, C))  # thirds: classes 67..99 are the tail
    g = torch.Generator().manual_seed(0)
    model = TailWeakLinear(tail, g).eval()
    y = torch.arange(C)  # one test image per class
    x = (0.5 + 0.1 * model.signs[y]).reshape(len(y), *SHAPE)
    path = tmp_path_factory.mktemp("c100") / "data.pt"
    torch.save({"x": x, "y": y}, path)
    return model, f"tensors:{path}", counts, tail


def test_aa_target_classes_are_the_runners_up():
    logits = torch.tensor([[5.0, 1.0, 3.0, 2.0, 4.0], [0.0, 9.0, 1.0, 8.0, 7.0]])
    assert aa_target_classes(logits, 2).tolist() == [[4, 2], [3, 4]]
    assert aa_target_classes(logits, 9).shape == (2, 4)  # capped at C - 1


def test_tail_targets_exclude_the_true_class_and_follow_the_logits():
    attack = TailTargetedAPGD(ThreatModel("linf", 0.1), [2, 3, 4], max_targets=2)
    logits = torch.tensor([[0.0, 0.0, 1.0, 3.0, 2.0], [0.0, 0.0, 1.0, 3.0, 2.0]])
    y = torch.tensor([0, 3])
    assert attack.targets(logits, y).tolist() == [[3, 4], [4, 2]]
    one = TailTargetedAPGD(ThreatModel("linf", 0.1), [3], max_targets=9)
    assert one.targets(logits, y).tolist() == [[3], [-1]]  # its own class: nothing to try


def test_tail_attack_keeps_the_contract(setup):
    model, _, _, tail = setup
    g = torch.Generator().manual_seed(1)
    y = torch.tensor([0, 5, 70])
    x = (0.5 + 0.1 * model.signs[y]).reshape(3, *SHAPE)
    x0 = x.clone()
    threat = ThreatModel("linf", 8 / 255)
    model.train()
    x_adv = TailTargetedAPGD(threat, tail, max_targets=2)(model, x, y, generator=g)
    assert model.training and torch.equal(x, x0)
    assert float((x_adv - x).abs().max()) <= 8 / 255 + 1e-6
    assert 0 <= float(x_adv.min()) and float(x_adv.max()) <= 1
    model.eval()
    pred = model(x_adv).argmax(1)
    assert pred[:2].tolist() != [0, 5] and all(p in tail for p in pred[:2].tolist())
    assert int(pred[2]) == 70  # a tail sample is far from every boundary


def test_aa_tail_targets_breaks_what_autoattack_misses(setup):
    model, data, counts, tail = setup
    report = ltrobust.audit(
        model,
        data,
        ["aa-fast"],
        eps=8 / 255,
        class_counts=counts,
        diagnose=True,
        sweep=False,
        aa_tail_targets=True,
        device="cpu",
    )
    stats = report.diagnostics["aa_targets"]
    assert stats["applies"] and stats["k"] == 9 and stats["samples"] == C
    # AutoAttack never aims at a tail class: the runners-up are always head/body classes
    share = stats["tail_target_share"]["groups"]
    assert share["head"] == share["body"] == share["tail"] == 0
    assert stats["tail_classes_never_targeted"] == tail
    aa = report.attacks["aa-fast"].summary.groups
    assert aa["head"].recall == 1 and aa["body"].recall == 1  # AutoAttack: "robust"
    worst = report.worst_case.summary.groups
    assert worst["head"].recall == 0 and worst["body"].recall == 0  # towards the tail: broken
    assert worst["tail"].recall == 1
    info = report.diagnostics["aa_tail"]
    assert info["attacked"] == C and info["newly_broken"] == C - len(tail)
    assert report.per_sample["extra_pred"]["aa-tail"][0] in tail
    flags = {c["name"] for c in report.diagnostics["checks"] if c["triggered"]}
    assert "tail_targets_break_more" in flags
    assert report.verdict["groups"]["head"]["verdict"] == "inflated"
    assert report.verdict["groups"]["tail"]["verdict"] != "inflated"
    # the rendered report explains it
    from ltrobust.report.document import build_document
    from ltrobust.report.render_md import render_markdown

    text = render_markdown(build_document(report, {}), "plots")
    assert "AutoAttack's targets and the tail" in text
    assert "tail classes never targeted: 33" in text and "broke 67 more" in text
