"""ONNX files are data: no stored name reaches generated code, external weights are read only
from regular files inside the model's folder (and listed for hashing), a declared input too
large for a probe batch, an input of another type, a graph with subgraphs, an oversized file
and onnxruntime's own errors are each refused with one line before any long work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.errors import ModelLoadError
from ltrobust.models import load_model
from ltrobust.readlog import recording

from .conftest import TRAIN_COUNTS, save_audit_set

for _name in ("onnx", "onnx2torch", "onnxruntime"):
    pytest.importorskip(_name)

import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

runner = CliRunner()
ROLES = ("x", "W", "B", "c", "r", "f", "G", "y", "conv", "relu", "flat", "fc")


def _model(names: dict[str, str] | None = None, seed: int = 0, batch: object = "N") -> object:
    """Conv(+bias) -> Relu -> Flatten -> Gemm on 1 x 12 x 12 images, 6 logits; ``names`` maps
    a role (a value or node of ``ROLES``) to the name stored for it."""
    n = {role: role for role in ROLES} | (names or {})
    rng = np.random.default_rng(seed)
    weights = [
        numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), n["W"]),
        numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), n["B"]),
        numpy_helper.from_array(rng.standard_normal((6, 400)).astype(np.float32), n["G"]),
    ]
    x = helper.make_tensor_value_info(n["x"], TensorProto.FLOAT, [batch, 1, 12, 12])
    y = helper.make_tensor_value_info(n["y"], TensorProto.FLOAT, [batch, 6])
    nodes = [
        helper.make_node("Conv", [n["x"], n["W"], n["B"]], [n["c"]], name=n["conv"]),
        helper.make_node("Relu", [n["c"]], [n["r"]], name=n["relu"]),
        helper.make_node("Flatten", [n["r"]], [n["f"]], name=n["flat"]),
        helper.make_node("Gemm", [n["f"], n["G"]], [n["y"]], transB=1, name=n["fc"]),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _touch(marker: Path) -> str:
    """A Python expression creating ``marker``, without dots (onnx2torch turns those into /)."""
    codes = ", ".join(str(b) for b in str(marker).encode())
    path = f'str(bytes([{codes}]), "utf8")'
    return f'getattr(getattr(__import__("pathlib"), "Path")({path}), "touch")()'


def _payloads(marker: Path) -> list[str]:
    """Node names that torch.fx would paste into ``forward`` as code creating ``marker``."""
    return [f'x", {_touch(marker)})#', f'x", {_touch(marker)})\n    #']


def _hostile(kind: str, marker: Path) -> dict[str, str]:
    quote, newline = _payloads(marker)
    return {
        "quote": {"relu": quote, "fc": newline, "x": quote, "c": newline, "W": quote + "1"},
        "newline": {"conv": "a\nb", "relu": "\n", "r": "r\nimport os", "y": "y\r\n"},
        "dots": {"conv": "a.b.c", "relu": ".", "flat": "..", "fc": "initializers.n0", "W": "."},
        "unicode": {"conv": "ñodo", "relu": "层", "flat": "\u202e", "fc": "\x1b[2J", "G": "é"},
        "empty": {"conv": "", "relu": "", "flat": "", "fc": ""},
        # distinct names onnx2torch would map to one submodule (dots become slashes)
        "colliding": {"conv": "a/b", "relu": "a.b", "flat": "Gemm", "fc": "", "c": "a/b"},
        "attributes": {"conv": "forward", "relu": "training", "flat": "initializers"}
        | {"fc": "__class__", "x": "n1", "c": "v0", "y": "input_1"},
    }[kind]


def _save(model: object, path: Path) -> Path:
    onnx.save(model, path)
    return path


def _logits(path: Path, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return load_model(path).model(x)


def _graph_module(path: Path) -> torch.fx.GraphModule:
    found = [m for m in load_model(path).model.modules() if isinstance(m, torch.fx.GraphModule)]
    assert len(found) == 1
    return found[0]


def refused(res, needle: str) -> None:  # noqa: ANN001
    """Exit 2, exactly one non-empty stderr line containing ``needle``, no traceback."""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2, (res.exit_code, res.stderr, res.output)
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.output + res.stderr


# ---------------------------------------------------------------- stored names are never code


def test_payload_is_live_without_renaming(tmp_path):
    """The payloads below do run when onnx2torch converts the names as stored."""
    import onnx2torch

    for i, payload in enumerate(_payloads(tmp_path / "MARKER")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = onnx2torch.convert(_model({"relu": payload}))
        with pytest.raises(AttributeError):  # the payload returns None in place of Relu
            module(torch.rand(1, 1, 12, 12))
        assert (tmp_path / "MARKER").exists(), i
        (tmp_path / "MARKER").unlink()


@pytest.mark.parametrize(
    "kind", ["quote", "newline", "dots", "unicode", "empty", "colliding", "attributes"]
)
def test_hostile_names_are_renamed(tmp_path, kind):
    marker = tmp_path / "MARKER"
    path = _save(_model(_hostile(kind, marker)), tmp_path / "hostile.onnx")
    clean = _save(_model(), tmp_path / "clean.onnx")
    x = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(_logits(path, x), _logits(clean, x), atol=1e-6)
    module = _graph_module(path)
    names = {name for name, _ in module.named_children()}
    assert names == {"n0", "n1", "n2", "n3"}  # the weights live inside the submodules
    assert "__import__" not in module.code and "getattr(self" not in module.code
    assert not marker.exists()


def test_duplicate_node_names_are_one_line(tmp_path):
    """onnxruntime refuses a graph whose nodes share a name: so does ltrobust, on one line."""
    path = _save(_model({"conv": "a", "relu": "a"}), tmp_path / "dup.onnx")
    refused(runner.invoke(app, ["inspect", str(path)]), "two nodes with same node name")


def test_hostile_name_through_the_cli(tmp_path):
    marker = tmp_path / "MARKER"
    path = _save(_model(_hostile("quote", marker)), tmp_path / "evil.onnx")
    res = subprocess.run(
        [sys.executable, "-m", "ltrobust", "inspect", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "parameters" in res.stdout
    assert not marker.exists()


def test_node_outside_the_default_domain_is_not_renamed_into_code(tmp_path):
    from ltrobust.models.onnx_check import rename

    model = _model()
    model.graph.node[1].domain = 'x"; import os'
    with pytest.raises(ModelLoadError, match="operator domain"):
        rename(model, tmp_path / "m.onnx")


# ---------------------------------------------------------------- external weights


def _external(folder: Path, seed: int = 0, location: str = "w.bin") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "m.onnx"
    onnx.save_model(
        _model(seed=seed), path, save_as_external_data=True, location=location, size_threshold=0
    )
    return path


def _relocate(path: Path, location: str | None) -> Path:
    """Point every external tensor of ``path`` at ``location`` (None: drop the entry)."""
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        entries = [(e.key, e.value) for e in tensor.external_data if e.key != "location"]
        del tensor.external_data[:]
        for key, value in entries + ([("location", location)] if location is not None else []):
            tensor.external_data.add(key=key, value=value)
    onnx.save(model, path)
    return path


def test_external_weights_are_read_listed_and_used(tmp_path):
    path = _external(tmp_path / "a")
    clean = _save(_model(), tmp_path / "clean.onnx")
    with recording() as log:
        loaded = load_model(path)
    weights = str((tmp_path / "a" / "w.bin").resolve())
    assert loaded.files == [weights] and weights in {str(p) for p in log}
    x = torch.rand(2, 1, 12, 12)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), _logits(clean, x), atol=1e-6)
    other = _external(tmp_path / "b", seed=1)
    shutil.copy(other.parent / "w.bin", tmp_path / "a" / "w.bin")  # new weights, same graph file
    assert not torch.allclose(_logits(path, x), loaded.model(x).detach(), atol=1e-3)


def test_external_weights_are_in_the_audit_provenance(tmp_path, balanced_test):
    import ltrobust

    path = _external(tmp_path / "m")
    save_audit_set(tmp_path, balanced_test)

    def digest() -> str:
        report = ltrobust.audit(
            str(path),
            dataset=f"tensors:{tmp_path / 'test.pt'}",
            class_counts=TRAIN_COUNTS,
            attacks=["fgsm"],
            eps=0.1,
            n=12,
            diagnose=False,
        )
        files = {entry["path"]: entry["sha256"] for entry in report.provenance["files"]}
        return files[str((tmp_path / "m" / "w.bin").resolve())]

    before = digest()
    shutil.copy(_external(tmp_path / "other", seed=1).parent / "w.bin", tmp_path / "m" / "w.bin")
    assert digest() != before


def _fifo(d: Path) -> str:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(d / "pipe")  # opening it would block forever
    return "pipe"


LOCATIONS = {
    "parent": (lambda d: "../outside.bin", "not a plain path"),
    "absolute": (lambda d: str(d.parent / "outside.bin"), "not a plain path"),
    "symlink out": (
        lambda d: (os.symlink(d.parent / "outside.bin", d / "link.bin"), "link.bin")[1],
        "leads outside the model's folder",
    ),
    "folder": (lambda d: ((d / "sub").mkdir(), "sub")[1], "not a regular file"),
    "fifo": (_fifo, "not a regular file"),
    "missing": (lambda d: "nope.bin", "not a regular file"),
    "no location": (lambda d: None, "names no file"),
}


@pytest.mark.parametrize("case", list(LOCATIONS))
def test_external_locations_are_checked_before_reading(tmp_path, monkeypatch, case):
    import onnx.external_data_helper as helper_module

    path = _external(tmp_path / "m")
    shutil.copy(tmp_path / "m" / "w.bin", tmp_path / "outside.bin")
    place, needle = LOCATIONS[case]
    _relocate(path, place(tmp_path / "m"))
    monkeypatch.setattr(
        helper_module,
        "load_external_data_for_tensor",
        lambda *a: pytest.fail("external data was read before its location was checked"),
    )
    with pytest.raises(ModelLoadError, match=needle):
        load_model(path)


def test_external_location_refused_through_the_cli(tmp_path):
    path = _relocate(_external(tmp_path / "m"), "../../etc/passwd")
    refused(runner.invoke(app, ["inspect", str(path)]), "not a plain path relative")


# ---------------------------------------------------------------- probe sizes, types, runtime


def _relu(dims: list[object], elem: int = TensorProto.FLOAT) -> object:
    x = helper.make_tensor_value_info("x", elem, dims)
    y = helper.make_tensor_value_info("y", elem, dims)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(
    ("dims", "needle"),
    [
        ([1, 1, 100_000, 100_000], "values are over the limit"),
        ([1, 10**9, 1, 1], "values are over the limit"),
        ([None, 3, "H", "W"], "values are over the limit"),  # with --input-size 10**5
        ([10**6, 3, 32, 32], "static batch size 1000000"),
        ([1, 1, 0, 12], "declares a dimension of 0"),
        ([1, 1, -5, 12], "declares a dimension of -5"),
    ],
)
def test_huge_or_empty_declared_inputs_are_refused_fast(tmp_path, monkeypatch, dims, needle):
    import onnx2torch
    import onnxruntime

    model = _relu(dims)
    if dims[0] is None:
        model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    path = _save(model, tmp_path / "big.onnx")
    monkeypatch.setattr(onnx2torch, "convert", lambda m: pytest.fail("converted"))
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: pytest.fail("ran"))
    start = time.monotonic()
    with pytest.raises(ModelLoadError, match=needle):
        load_model(path, input_size=10**5 if "H" in dims else None)
    assert time.monotonic() - start < 10


def test_huge_input_refused_through_the_cli(tmp_path):
    path = _save(_relu([1, 1, 100_000, 100_000]), tmp_path / "big.onnx")
    refused(runner.invoke(app, ["inspect", str(path)]), "values are over the limit")


def test_non_float_input_is_refused(tmp_path):
    path = _save(_relu([1, 1, 12, 12], TensorProto.DOUBLE), tmp_path / "double.onnx")
    refused(runner.invoke(app, ["inspect", str(path)]), "holds double values")


def test_onnxruntime_errors_are_one_line(tmp_path):
    bad = _model()
    bad.graph.initializer[2].CopyFrom(
        numpy_helper.from_array(np.ones((6, 7), np.float32), "G")
    )  # Gemm's weight does not fit the flattened features: onnxruntime refuses the session
    refused(
        runner.invoke(app, ["inspect", str(_save(bad, tmp_path / "gemm.onnx"))]),
        "onnxruntime cannot run the graph",
    )
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 150])
    shape = numpy_helper.from_array(np.array([1, 150], np.int64), "s")
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "s"], ["y"])], "g", [x], [y])
    graph.initializer.append(shape)  # fine to build, fails when run on a 32 x 32 probe
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    refused(
        runner.invoke(app, ["inspect", str(_save(model, tmp_path / "reshape.onnx"))]),
        "onnxruntime cannot run the graph",
    )


def test_converted_module_failing_is_one_line(tmp_path, monkeypatch):
    import onnx2torch

    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(onnx2torch, "convert", lambda m: Broken())
    path = _save(_model(), tmp_path / "m.onnx")
    refused(runner.invoke(app, ["inspect", str(path)]), "the converted model fails on a probe")


# ---------------------------------------------------------------- structure and size


def test_subgraphs_are_refused(tmp_path):
    branch = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["z"])],
        "b",
        [],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 1, 12, 12])],
    )
    cond = numpy_helper.from_array(np.array(True), "cond")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 12, 12])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 12, 12])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)
    graph = helper.make_graph([node], "g", [x], [y], [cond])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    refused(
        runner.invoke(app, ["inspect", str(_save(model, tmp_path / "if.onnx"))]),
        "holds a subgraph",
    )


def test_oversized_and_broken_files_are_one_line(tmp_path, monkeypatch):
    big = tmp_path / "big.onnx"
    with open(big, "wb") as handle:
        handle.truncate(2**31 + 1)  # sparse: no disk used
    monkeypatch.setattr(onnx, "load", lambda *a, **k: pytest.fail("a 2 GiB file was parsed"))
    refused(runner.invoke(app, ["inspect", str(big)]), "over protobuf's 2 GiB limit")
    monkeypatch.undo()
    data = _model().SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.onnx").write_text("not a model\n")
    for name in ("cut.onnx", "text.onnx"):
        refused(runner.invoke(app, ["inspect", str(tmp_path / name)]), "cannot read ONNX file")
