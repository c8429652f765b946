"""The Python API and the audit runner on a real trained model."""

from __future__ import annotations

import torch

import ltrobust
from ltrobust.report import AuditReport

from .conftest import TRAIN_COUNTS


def _tensor_file(tmp_path, balanced_test):
    x, y = balanced_test
    path = tmp_path / "data.pt"
    torch.save({"x": x, "y": y}, path)
    return f"tensors:{path}"


def test_python_api_returns_report(tmp_path, trained_cnn, balanced_test):
    dataset = _tensor_file(tmp_path, balanced_test)
    report = ltrobust.audit(
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
        ltrobust.audit(
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
