"""The Python API and the audit runner on a real trained model."""

from __future__ import annotations

import torch

import ltrobust
from ltrobust.report import AuditReport

from .conftest import TRAIN_COUNTS


def audit_nodiag(*args, **kwargs):
    """The API without diagnostics (they have their own tests in test_verdict.py)."""
    return ltrobust.audit(*args, diagnose=False, **kwargs)


def _tensor_file(tmp_path, balanced_test):
    x, y = balanced_test
    path = tmp_path / "data.pt"
    torch.save({"x": x, "y": y}, path)
    return f"tensors:{path}"


def test_python_api_returns_report(tmp_path, trained_cnn, balanced_test):
    dataset = _tensor_file(tmp_path, balanced_test)
    report = audit_nodiag(
        trained_cnn,
        dataset=dataset,
        attacks=["fgsm", "pgd20"],
        class_counts=TRAIN_COUNTS,
        eps=0.1,
        step=0.02,
    )
    assert isinstance(report, AuditReport)
    x, y = balanced_test
    with torch.no_grad():
        per_class = [
            float((trained_cnn(x[y == c]).argmax(1) == c).float().mean()) for c in range(6)
        ]
    got = [s.recall for s in report.clean.summary.per_class]
    assert got == [pytest_approx(v) for v in per_class]
    tail = report.clean.summary.groups["tail"]
    assert tail.classes == [4, 5] and tail.recall == pytest_approx(
        (per_class[4] + per_class[5]) / 2
    )
    assert report.provenance["checkpoint"]["sha256"]  # a module is hashed by its state_dict
    assert AuditReport.from_json(report.to_json()) == report


def test_report_does_not_depend_on_batch_size(tmp_path, trained_cnn, balanced_test):
    dataset = _tensor_file(tmp_path, balanced_test)
    reports = [
        audit_nodiag(
            trained_cnn,
            dataset=dataset,
            attacks="pgd20,mim",
            class_counts=TRAIN_COUNTS,
            eps=0.1,
            step=0.02,
            batch_size=bs,
        )
        for bs in (17, 240)
    ]
    assert reports[0].per_sample == reports[1].per_sample
    assert reports[0].worst_case.summary == reports[1].worst_case.summary


def pytest_approx(v):
    import pytest

    return pytest.approx(v, abs=1e-6)


def test_warnings_for_probabilities_and_tuple_outputs(tmp_path, trained_cnn, balanced_test):
    dataset = _tensor_file(tmp_path, balanced_test)
    probs = torch.nn.Sequential(trained_cnn, torch.nn.Softmax(dim=1))
    report = audit_nodiag(probs, dataset=dataset, attacks="fgsm", class_counts=TRAIN_COUNTS)
    assert any("probabilities" in w for w in report.diagnostics["warnings"])

    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = trained_cnn

        def forward(self, x):
            return self.net(x), self.net(x) * 0

    x, _ = balanced_test
    path = tmp_path / "two.ts"
    torch.jit.trace(TwoHeads(), x[:2]).save(str(path))
    guessed = audit_nodiag(str(path), dataset=dataset, attacks="fgsm", class_counts=TRAIN_COUNTS)
    assert any("--output-key" in w for w in guessed.diagnostics["warnings"])
    chosen = audit_nodiag(
        str(path),
        dataset=dataset,
        attacks="fgsm",
        class_counts=TRAIN_COUNTS,
        load={"output_key": "1"},
    )
    assert chosen.clean.summary.accuracy < guessed.clean.summary.accuracy  # zeros: argmax 0
    assert not any("--output-key" in w for w in chosen.diagnostics["warnings"])


def test_shot_groups_and_l2(tmp_path, trained_cnn, balanced_test):
    dataset = _tensor_file(tmp_path, balanced_test)
    report = audit_nodiag(
        trained_cnn,
        dataset=dataset,
        attacks="pgd20",
        norm="l2",
        eps=0.8,
        class_counts=[150, 101, 100, 20, 19, 5],
    )
    # the default groups are "auto": these counts have many, medium and few classes -> shot
    assert report.config["groups"] == "shot" and report.dataset["groups_mode"] == "shot"
    assert report.dataset["groups"] == {"many": [0, 1], "medium": [2, 3], "few": [4, 5]}
    assert report.config["norm"] == "l2" and report.config["step"] == pytest_approx(0.8 / 4)
    assert report.attacks["pgd20"].settings["norm"] == "l2"
    assert report.attacks["pgd20"].summary.accuracy < report.clean.summary.accuracy
