"""The Python API on data held in memory: tensors and a DataLoader, API wording in errors,
"did you mean" for a misspelt keyword, and ``report.save(folder)``."""

from __future__ import annotations

import json

import pytest
from torch.utils.data import DataLoader, TensorDataset
from typer.testing import CliRunner

import ltrobust
from ltrobust.cli.main import app
from ltrobust.errors import ConfigError, DataError
from ltrobust.report import AuditReport

from .conftest import TRAIN_COUNTS, save_audit_set, save_test_cnn

FAST = {"attacks": "fgsm,pgd20", "eps": 0.1, "step": 0.02, "diagnose": False}


@pytest.fixture(scope="module")
def memory_report(trained_cnn, balanced_test) -> AuditReport:
    x, y = balanced_test
    return ltrobust.audit(
        trained_cnn, data=(x[::4].clone(), y[::4].clone()), class_counts=TRAIN_COUNTS, **FAST
    )


def test_tensors_give_the_cli_predictions(tmp_path, trained_cnn, balanced_test, memory_report):
    """The same samples as a ``tensors:`` file through the CLI: the same per-sample results."""
    data = save_audit_set(tmp_path, balanced_test)
    save_test_cnn(tmp_path / "model.pt", trained_cnn)
    out = tmp_path / "out"
    args = ["audit", str(tmp_path / "model.pt"), "--dataset", f"tensors:{data}", "--quiet"]
    args += ["--class-counts", str(tmp_path / "counts.json"), "--attacks", "fgsm,pgd20"]
    args += ["--eps", "0.1", "--step", "0.02", "--no-diagnostics", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    cli = json.loads((out / "report.json").read_text())
    assert memory_report.per_sample == cli["per_sample"]
    assert memory_report.dataset["name"] == "memory"
    assert memory_report.dataset["class_counts"] == TRAIN_COUNTS


def test_dataloader_gives_the_tensor_results(trained_cnn, balanced_test, memory_report):
    x, y = balanced_test
    loader = DataLoader(TensorDataset(x[::4].clone(), y[::4].clone()), batch_size=7)
    names = [f"c{k}" for k in range(6)]
    report = ltrobust.audit(
        trained_cnn, data=loader, class_counts=TRAIN_COUNTS, class_names=names, **FAST
    )
    assert report.per_sample == memory_report.per_sample
    assert report.dataset["class_names"] == names


def test_misspelt_keyword_suggests_the_right_one(trained_cnn, balanced_test):
    x, y = balanced_test
    with pytest.raises(ConfigError, match=r"'atacks'; did you mean 'attacks'\?"):
        ltrobust.audit(trained_cnn, data=(x, y), class_counts=TRAIN_COUNTS, atacks="fgsm")
    with pytest.raises(ConfigError, match=r"'arch'; it belongs in load=\{'arch': \.\.\.\}"):
        ltrobust.audit(trained_cnn, data=(x, y), class_counts=TRAIN_COUNTS, arch="resnet18")


def test_errors_name_keywords_not_flags(trained_cnn, balanced_test):
    x, y = balanced_test
    with pytest.raises(ConfigError, match=r"^eps must be in \(0, 1\]"):
        ltrobust.audit(trained_cnn, data=(x, y), class_counts=TRAIN_COUNTS, eps=2.0)
    with pytest.raises(ConfigError, match=r"needs class_counts=\[\.\.\.\]"):
        ltrobust.audit(trained_cnn, data=(x, y))
    with pytest.raises(DataError, match=r"^class_counts: entry 5 is 0"):
        ltrobust.audit(trained_cnn, data=(x, y), class_counts=TRAIN_COUNTS[:5] + [0])
    with pytest.raises(DataError, match=r"^memory: 'x' has values outside \[0,1\]"):
        ltrobust.audit(trained_cnn, data=(x * 300, y), class_counts=TRAIN_COUNTS)
    with pytest.raises(ConfigError, match="^worst_only names attacks not in attacks"):
        ltrobust.audit(
            trained_cnn, data=(x, y), class_counts=TRAIN_COUNTS, attacks="fgsm", worst_only="cw20"
        )


def test_save_folder_writes_what_the_cli_writes(tmp_path, memory_report):
    memory_report.save(tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run").iterdir() if p.is_file())
    assert names == ["per_class.csv", "report.html", "report.json", "report.md"]
    again = AuditReport.load(str(tmp_path / "run" / "report.json"))
    assert again == memory_report
    memory_report.save(str(tmp_path / "single.json"))  # a file path still writes one JSON
    assert AuditReport.load(str(tmp_path / "single.json")) == memory_report
