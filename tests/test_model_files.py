"""Model files beyond ltrobust's own: safetensors (with ltrobust's metadata or ``--arch``),
``torch.export`` programs, ONNX, timm and TorchScript. Each audits end to end with the
per-sample predictions of the same weights in ltrobust's format; unsafe or unconvertible files
are refused with one line; ``ltrobust inspect`` and ``train --save-format safetensors``."""

from __future__ import annotations

import json
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import ltrobust
from ltrobust.cli.main import app
from ltrobust.errors import ModelLoadError
from ltrobust.models import create_model, load_model, save_checkpoint, sha256_file
from ltrobust.models.safetensors_io import save_safetensors_checkpoint

from .conftest import NUM_CLASSES, TRAIN_COUNTS, save_audit_set, save_test_cnn

runner = CliRunner()
ARGS = {"num_classes": NUM_CLASSES, "in_channels": 1, "input_size": 12}
SPEC = {"channels": 1, "size": 12, "mean": None, "std": None}


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_cnn, balanced_test):
    d = tmp_path_factory.mktemp("files")
    save_test_cnn(d / "own.pt", trained_cnn)
    save_audit_set(d, balanced_test)
    return d


def _audit(path: Path, d: Path, **load) -> ltrobust.report.AuditReport:
    return ltrobust.audit(
        str(path),
        dataset=f"tensors:{d / 'test.pt'}",
        class_counts=TRAIN_COUNTS,
        attacks=["fgsm", "pgd5"],
        eps=0.1,
        step=0.03,
        n=30,
        batch_size=7,  # not a multiple of a traced batch of 4
        diagnose=False,
        load=load,
    )


@pytest.fixture(scope="module")
def own(files) -> ltrobust.report.AuditReport:
    return _audit(files / "own.pt", files)


def _same(report, own) -> None:
    assert report.per_sample == own.per_sample
    assert report.clean.summary == own.clean.summary


def _exported(model: torch.nn.Module, x: torch.Tensor, path: Path, dynamic: bool) -> None:
    shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model.eval(), (x,), dynamic_shapes=shapes)
    torch.export.save(program, path)


def _needs_onnx() -> None:
    for name in ("onnx", "onnx2torch", "onnxruntime"):
        pytest.importorskip(name)


def _onnx(model: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated
        torch.onnx.export(model.eval(), (x,), path, dynamo=False, input_names=["x"])


# ---------------------------------------------------------------- same predictions, every format


def test_safetensors_with_metadata_needs_no_flag(files, trained_cnn, own):
    pytest.importorskip("safetensors")
    path = files / "model.safetensors"
    save_safetensors_checkpoint(
        path, trained_cnn, arch="test_cnn", model_args=ARGS, input_spec=SPEC,
        num_classes=NUM_CLASSES, class_counts=TRAIN_COUNTS, extra={"counts": torch.ones(2)},
    )  # fmt: skip
    loaded = load_model(path)
    assert (loaded.format, loaded.container) == ("ltrobust", "safetensors")
    assert loaded.class_counts == TRAIN_COUNTS and loaded.meta["extra"] == {"counts": [1.0, 1.0]}
    report = _audit(path, files)
    _same(report, own)
    assert report.provenance["checkpoint"]["container"] == "safetensors"


def test_plain_safetensors_with_arch(files, trained_cnn, own):
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file

    save_file(trained_cnn.state_dict(), files / "plain.safetensors")
    _same(_audit(files / "plain.safetensors", files, arch="test_cnn"), own)


@pytest.mark.parametrize("dynamic", [False, True])
def test_torch_export_program(files, trained_cnn, balanced_test, own, dynamic):
    path = files / f"model-{dynamic}.pt2"
    _exported(trained_cnn, balanced_test[0][:4].clone(), path, dynamic)
    loaded = load_model(path)
    assert (loaded.format, loaded.container, loaded.num_classes) == ("export", "pt2", 6)
    assert loaded.input_spec["channels"] == 1 and loaded.input_spec["size"] == 12
    assert ("traced_batch" in loaded.meta) is not dynamic
    _same(_audit(path, files), own)


def test_onnx_converted_and_checked(files, trained_cnn, balanced_test, own):
    _needs_onnx()
    path = files / "model.onnx"
    _onnx(trained_cnn, balanced_test[0][:4].clone(), path)
    loaded = load_model(path)
    assert (loaded.format, loaded.num_classes) == ("onnx", 6)
    assert loaded.meta["runtime_max_abs_diff"] < 1e-4 and loaded.meta["traced_batch"] == 4
    _same(_audit(path, files), own)


def test_torchscript_keeps_working(files, trained_cnn, balanced_test, own):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript is deprecated in torch 2.14
        traced = torch.jit.trace(trained_cnn.eval(), balanced_test[0][:2].clone())
        torch.jit.save(traced, files / "model.ts")
    _same(_audit(files / "model.ts", files), own)


def test_timm_folder_and_ltrobust_format(files, balanced_test, tmp_path):
    pytest.importorskip("timm")
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = create_model("timm:test_resnet", **ARGS).eval()
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(net.model.state_dict(), folder / "model.safetensors")
    config = {"architecture": "test_resnet", "pretrained_cfg": {"mean": [0.4], "std": [0.3]}}
    (folder / "config.json").write_text(json.dumps(config))
    loaded = load_model(folder, arch="timm:test_resnet", default_input_size=12)
    assert (loaded.format, loaded.num_classes, loaded.input_spec["mean"]) == ("timm", 6, [0.4])
    save_checkpoint(
        tmp_path / "own.pt", loaded.model, arch="timm:test_resnet", model_args=ARGS,
        input_spec=dict(loaded.input_spec), num_classes=NUM_CLASSES,
    )  # fmt: skip
    _same(_audit(folder, files, arch="timm:test_resnet"), _audit(tmp_path / "own.pt", files))
    with pytest.raises(ModelLoadError, match="holds no model.safetensors or pytorch_model.bin"):
        load_model(tmp_path, arch="timm:test_resnet")
    with pytest.raises(ModelLoadError, match="never downloads"):
        load_model(tmp_path / "absent", arch="timm:test_resnet")


# ---------------------------------------------------------------- refusals


def refused(res, needle: str) -> None:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2, (res.exit_code, res.stderr, res.output)
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.output + res.stderr


def _audit_cli(d: Path, model: Path, *extra: str) -> list[str]:
    args = ["audit", str(model), "--dataset", f"tensors:{d / 'test.pt'}", "--class-counts"]
    args += [str(d / "counts.json"), "--attacks", "fgsm", "--no-diagnostics", "--eps", "0.1"]
    return [*args, "--quiet", "--out", str(d / "never"), *extra]


def test_pt2_with_pickled_members_is_refused_unread(files, trained_cnn, balanced_test, monkeypatch):
    good = files / "ok.pt2"
    _exported(trained_cnn, balanced_test[0][:4].clone(), good, dynamic=False)
    bad = files / "pickled.pt2"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("weights_config.json"):
                data = data.replace(b'"use_pickle": false', b'"use_pickle": true', 1)
            dst.writestr(item, data)
        dst.writestr(src.namelist()[0].split("/")[0] + "/data/constants/custom_obj_0", b"x")
    monkeypatch.setattr(torch.export, "load", lambda *a, **k: pytest.fail("torch.export.load ran"))
    res = runner.invoke(app, _audit_cli(files, bad))
    refused(res, "refused, loading this torch.export archive would unpickle Python objects")
    assert "custom_obj_0" in res.stderr and "(pickled)" in res.stderr
    assert not (files / "never").exists()


def test_broken_pt2_and_onnx_files_are_one_line(files, trained_cnn, balanced_test, tmp_path):
    good = tmp_path / "ok.pt2"
    _exported(trained_cnn, balanced_test[0][:4].clone(), good, dynamic=False)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "bad.pt2", "w") as dst:
        for item in src.infolist():
            data = (
                b'{"nonsense": 1}'
                if item.filename.endswith("models/model.json")
                else src.read(item)
            )
            dst.writestr(item, data)
    refused(runner.invoke(app, _audit_cli(files, tmp_path / "bad.pt2")), "cannot read torch.export")
    with zipfile.ZipFile(tmp_path / "empty.pt2", "w") as dst:
        dst.writestr("m/archive_format", "pt2")
    refused(
        runner.invoke(app, _audit_cli(files, tmp_path / "empty.pt2")),
        "not a complete torch.export archive",
    )
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage")
    refused(runner.invoke(app, _audit_cli(files, tmp_path / "bad.onnx")), "ONNX")


def test_onnx_unsupported_operators_are_named(files, tmp_path):
    _needs_onnx()
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 12, 12])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Frobnicate", ["r"], ["y"], domain="ai.example"),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.example", 1)]
    )
    onnx.save(model, tmp_path / "odd.onnx")
    refused(
        runner.invoke(app, _audit_cli(files, tmp_path / "odd.onnx")),
        "onnx2torch cannot convert the operator(s) ai.example.Frobnicate",
    )


def test_onnx_disagreeing_with_onnxruntime_is_refused(
    files, trained_cnn, balanced_test, monkeypatch
):
    _needs_onnx()
    import onnx2torch

    path = files / "m2.onnx"
    _onnx(trained_cnn, balanced_test[0][:4].clone(), path)
    real = onnx2torch.convert

    class Off(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x) + 1e-2

    monkeypatch.setattr(onnx2torch, "convert", lambda m: Off(real(m)))
    with pytest.raises(ModelLoadError, match="differ from onnxruntime's by up to 0.01"):
        load_model(path)


def test_missing_optional_package_is_one_line(files, trained_cnn, balanced_test, monkeypatch):
    _needs_onnx()
    path = files / "m3.onnx"
    _onnx(trained_cnn, balanced_test[0][:4].clone(), path)
    monkeypatch.setitem(sys.modules, "onnx2torch", None)
    refused(runner.invoke(app, _audit_cli(files, path)), "pip install 'ltrobust[formats]'")


# ---------------------------------------------------------------- inspect and train


def test_inspect_summary_and_json(files):
    res = runner.invoke(app, ["inspect", str(files / "own.pt")])
    assert res.exit_code == 0, res.output
    for word in ("ltrobust", "test_cnn", "parameters", "1x12x12"):
        assert word in res.stdout
    res = runner.invoke(app, ["inspect", str(files / "own.pt"), "--json"])
    info = json.loads(res.stdout)
    assert info["sha256"] == sha256_file(files / "own.pt") and info["num_classes"] == 6
    assert info["parameters"] == sum(
        p.numel() for p in load_model(files / "own.pt").model.parameters()
    )
    assert info["head"] == {"kind": "linear", "bias": True}


def test_inspect_paper_format_and_audit_line(files, tmp_path):
    from .paper_nets import Maker, wrn_keys

    m = Maker(0)
    m.vector("classifier.weight", 10, wrn_keys(m, "backbone.", 10, 1))
    torch.save(m.sd, tmp_path / "robal.pt")
    res = runner.invoke(app, ["inspect", str(tmp_path / "robal.pt"), "--dataset", "cifar10-lt"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "robal (detected from the keys, config cifar10-N)" in text
    assert "cosine head, scale 10, gamma 0.03125" in text and "logits - 0.1*ln(pi)" in text
    refused(
        runner.invoke(app, ["inspect", str(tmp_path / "robal.pt")]),
        "needs the training class counts",
    )
    res = runner.invoke(app, ["inspect", str(tmp_path / "robal.pt"), "--tau", "0", "--json"])
    assert json.loads(res.stdout)["inference"]["tau"] == 0.0


def test_audit_prints_what_it_loaded(files):
    res = runner.invoke(app, [*_audit_cli(files, files / "own.pt")[:-2], "--out", str(files / "r")])
    assert res.exit_code == 0, res.output
    assert "model: ltrobust · test_cnn · linear head" in res.stdout


def test_train_writes_final_safetensors(tmp_path, files):
    pytest.importorskip("safetensors")
    from .conftest import synthetic

    x, y = synthetic(TRAIN_COUNTS, seed=1)
    torch.save({"x": x, "y": y}, tmp_path / "train.pt")
    args = ["train", "--dataset", f"tensors:{tmp_path / 'train.pt'}", "--arch", "test_mlp"]
    args += ["--method", "robal", "--epochs", "1", "--eps", "1/10", "--attack-steps", "2"]
    args += ["--quiet", "--out", str(tmp_path / "run"), "--save-format", "safetensors"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    pt, st = (
        load_model(tmp_path / "run" / "final.pt"),
        load_model(tmp_path / "run" / "final.safetensors"),
    )
    assert st.container == "safetensors" and st.logit_adjustment == pt.logit_adjustment
    assert not (tmp_path / "run" / "last.safetensors").exists()
    with torch.no_grad():
        assert torch.equal(st.model(x[:8]), pt.model(x[:8]))
    _same(
        _audit(tmp_path / "run" / "final.safetensors", files),
        _audit(tmp_path / "run" / "final.pt", files),
    )
