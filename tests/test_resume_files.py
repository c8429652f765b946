"""A resumed audit never reuses results of another model (issue 20, item 3): every file the
model loader and the data reader read is hashed into the resume key and listed in the report's
provenance, and a change to any of them refuses ``--resume`` with one line."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.models import create_model
from ltrobust.readlog import sha256_of

from .conftest import NUM_CLASSES, save_audit_set

runner = CliRunner()


@pytest.fixture()
def timm_folder(tmp_path, balanced_test):
    pytest.importorskip("timm")
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = create_model("timm:test_resnet", num_classes=NUM_CLASSES, in_channels=1, input_size=12)
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(net.model.state_dict(), folder / "model.safetensors")
    config = {"architecture": "test_resnet", "pretrained_cfg": {"mean": [0.4], "std": [0.3]}}
    (folder / "config.json").write_text(json.dumps(config))
    save_audit_set(tmp_path, balanced_test)
    return folder


def _args(d, out, *extra):
    return [
        "audit", str(d / "hf"), "--arch", "timm:test_resnet", "--dataset",
        f"tensors:{d / 'test.pt'}", "--class-counts", str(d / "counts.json"), "--attacks",
        "fgsm", "--no-diagnostics", "--eps", "0.1", "--quiet", "--out", str(out), *extra,
    ]  # fmt: skip


def _refused(res, needle):
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("ltrobust: error: --resume:"), res.stderr
    assert needle in lines[0], lines[0]


def test_every_file_read_is_in_provenance_and_the_key(timm_folder):
    d = timm_folder.parent
    out = d / "out"
    res = runner.invoke(app, _args(d, out))
    assert res.exit_code == 0, res.output
    files = json.loads((out / "report.json").read_text())["provenance"]["files"]
    listed = {f["path"]: f["sha256"] for f in files}
    for name in ("hf/model.safetensors", "hf/config.json", "test.pt"):
        assert listed[str((d / name).absolute())] == sha256_of(d / name), listed
    assert runner.invoke(app, _args(d, out, "--resume")).exit_code == 0

    # the folder's config.json sets the normalisation: a changed one is another model
    config = json.loads((timm_folder / "config.json").read_text())
    config["pretrained_cfg"]["mean"] = [0.9]
    (timm_folder / "config.json").write_text(json.dumps(config))
    _refused(runner.invoke(app, _args(d, out, "--resume")), "config.json")


def test_changed_class_counts_refuse_a_resume(timm_folder):
    d = timm_folder.parent
    out = d / "out"
    assert runner.invoke(app, _args(d, out)).exit_code == 0
    counts = json.loads((d / "counts.json").read_text())
    (d / "counts.json").write_text(json.dumps(list(reversed(counts))))
    _refused(runner.invoke(app, _args(d, out, "--resume")), "data.class_counts")
