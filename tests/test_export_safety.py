"""Nothing stored in a ``torch.export`` archive runs: symbolic sizes, guards, names, operators
and pytree specs of the program JSON are checked against an allow-list before
``torch.export.load`` sees the file; a program whose shape guards refuse the audit data is one
line before any pass. Every hostile archive is a clean export with its JSON rewritten here."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.data import dataset_status, get_spec
from ltrobust.models import load_model
from ltrobust.models.export_check import guard_ok, op_ok, sym_expr_ok

from .conftest import NUM_CLASSES, save_audit_set

runner = CliRunner()
Edit = Callable[[dict[str, Any], str], None]


def _net(channels: int = 1) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, NUM_CLASSES),
    ).eval()


def _export(path: Path, model: nn.Module, x: torch.Tensor, shapes: Any = "batch") -> None:
    if shapes == "batch":
        shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, (x,), dynamic_shapes=shapes)
    torch.export.save(program, path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, balanced_test) -> Path:
    d = tmp_path_factory.mktemp("pt2")
    save_audit_set(d, balanced_test)
    _export(d / "clean.pt2", _net(), torch.rand(4, 1, 12, 12))
    return d


def _rewrite(src: Path, dst: Path, edit: Edit, marker: Path) -> Path:
    """``src`` with its program JSON changed by ``edit(program, payload)``; ``payload`` is
    Python that creates ``marker``."""
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for item in a.infolist():
            data = a.read(item)
            if item.filename.endswith("models/model.json"):
                program = json.loads(data)
                edit(program, payload)
                data = json.dumps(program).encode()
            b.writestr(item, data)
    return dst


def _graph(program: dict[str, Any]) -> dict[str, Any]:
    return program["graph_module"]["graph"]


def _batch_size(program: dict[str, Any]) -> dict[str, Any]:
    """The symbolic batch size of the first tensor that has one."""
    values = _graph(program)["tensor_values"].values()
    return next(v["sizes"][0]["as_expr"] for v in values if "as_expr" in (v["sizes"] or [{}])[0])


def _sym_size(program: dict[str, Any], payload: str) -> None:
    _batch_size(program)["expr_str"] = f"Add(Symbol('s77', integer=True), {payload})"


def _range_key(program: dict[str, Any], payload: str) -> None:
    program["range_constraints"][payload] = {"min_val": 1, "max_val": 8}


def _unknown_function(program: dict[str, Any], payload: str) -> None:
    _batch_size(program)["expr_str"] = "Lambda(Symbol('s77'), Symbol('s77'))"


def _node_name(program: dict[str, Any], payload: str) -> None:
    """FX writes placeholder names into ``def forward(self, ...)``: a default value runs."""
    old = _graph(program)["inputs"][0]["as_tensor"]["name"]
    text = json.dumps(program).replace(json.dumps(old), json.dumps(f"{old}, *_a, _b={payload}"))
    program.update(json.loads(text))


def _guard(program: dict[str, Any], payload: str) -> None:
    program["guards_code"] = [f"{payload} is None"]


def _from_file(program: dict[str, Any], payload: str) -> None:
    """``aten::from_file(marker, shared=True)`` creates the file at every forward."""
    marker = payload.split("Path(")[1].split(")")[0].strip("'")
    graph = _graph(program)
    meta = json.loads(json.dumps(next(iter(graph["tensor_values"].values()))))
    meta["sizes"], meta["strides"] = [{"as_int": 8}], [{"as_int": 1}]
    graph["tensor_values"]["ff"] = meta
    args = [("filename", {"as_string": marker}), ("shared", {"as_bool": True})]
    graph["nodes"].insert(0, {
        "target": "torch.ops.aten.from_file.default",
        "inputs": [{"name": n, "arg": a, "kind": 1} for n, a in [*args, ("size", {"as_int": 8})]],
        "outputs": [{"as_tensor": {"name": "ff"}}], "metadata": {},
    })  # fmt: skip


def _in_spec(program: dict[str, Any], payload: str) -> None:
    """An enum in a pytree context makes torch import the module it names."""
    signature = program["graph_module"]["module_call_graph"][0]["signature"]
    spec = json.loads(signature["in_spec"])
    enum = {"__enum__": True, "fqn": "ltr_marker_mod:E", "name": "a"}
    spec[1]["children_spec"][1]["context"] = json.dumps([enum])
    signature["in_spec"] = json.dumps(spec)


def _refused(res: Any, needle: str) -> None:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2, (res.exit_code, res.stderr, res.output)
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.output + res.stderr


def _audit(folder: Path, model: Path, out: Path, *extra: str) -> list[str]:
    args = ["audit", str(model), "--dataset", f"tensors:{folder / 'test.pt'}", "--class-counts"]
    args += [str(folder / "counts.json"), "--attacks", "fgsm", "--no-diagnostics", "--eps", "0.1"]
    return [*args, "--quiet", "--out", str(out), *extra]


HOSTILE = {
    "sym_size": (_sym_size, "an expression torch would evaluate", "inspect"),
    "range_key": (_range_key, "an expression torch would evaluate", "inspect"),
    "unknown_function": (_unknown_function, "Lambda(Symbol('s77'), Symbol('s77'))", "inspect"),
    "node_name": (_node_name, "a name torch would write into the Python code", "inspect"),
    "guard": (_guard, "an expression torch would evaluate", "audit"),
    "from_file": (_from_file, "'torch.ops.aten.from_file.default'", "audit"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_program_json_is_refused_before_torch_reads_it(folder, tmp_path, case):
    edit, needle, command = HOSTILE[case]
    marker = tmp_path / "marker"
    bad = _rewrite(folder / "clean.pt2", tmp_path / f"{case}.pt2", edit, marker)
    args = ["inspect", str(bad)] if command == "inspect" else _audit(folder, bad, tmp_path / "o")
    res = runner.invoke(app, args)
    assert not marker.exists(), "the archive's payload ran"
    _refused(res, needle)
    assert not (tmp_path / "o").exists()


def test_pytree_import_is_refused_through_the_real_cli(folder, tmp_path):
    """``python -m ltrobust`` in a folder holding the module the archive names: before the
    check, loading the archive imported it (which created the marker)."""
    marker = tmp_path / "marker"
    (tmp_path / "ltr_marker_mod.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    )
    bad = _rewrite(folder / "clean.pt2", tmp_path / "spec.pt2", _in_spec, marker)
    res = subprocess.run(
        [sys.executable, "-m", "ltrobust", "inspect", str(bad)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert not marker.exists(), "the archive's payload ran"
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "a name torch would import or look up" in lines[0] and "in_spec" in lines[0]


def test_sample_inputs_and_duplicate_members_are_refused(folder, tmp_path):
    odd = tmp_path / "sample.pt2"
    with zipfile.ZipFile(folder / "clean.pt2") as a, zipfile.ZipFile(odd, "w") as b:
        for item in a.infolist():
            data = a.read(item)
            if "sample_inputs" in item.filename:  # keys are pasted into the guard code
                buffer = io.BytesIO()
                torch.save(((torch.zeros(1),), {"x'] + 1 #": torch.zeros(1)}), buffer)
                data = buffer.getvalue()
            b.writestr(item, data)
    _refused(runner.invoke(app, ["inspect", str(odd)]), "(sample inputs beyond tensors)")
    twice = tmp_path / "twice.pt2"
    with zipfile.ZipFile(folder / "clean.pt2") as a, zipfile.ZipFile(twice, "w") as b:
        for item in a.infolist():
            b.writestr(item, a.read(item))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
            json_name = next(n for n in a.namelist() if n.endswith("models/model.json"))
            b.writestr(json_name, b"{}")
    _refused(runner.invoke(app, ["inspect", str(twice)]), "archive members stored twice")


def test_real_programs_pass_and_load(folder, tmp_path):
    class Derived(nn.Module):  # floor division, derived sizes and the guards they need
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x.reshape(x.shape[0] // 2, -1, 12, 12)
            return nn.functional.interpolate(y, scale_factor=0.5).mean((2, 3)).repeat(2, 6)

    path = tmp_path / "derived.pt2"
    _export(path, Derived(), torch.rand(8, 1, 12, 12), ({0: 2 * torch.export.Dim("b")},))
    program = json.loads(zipfile.ZipFile(path).read("derived/models/model.json"))
    assert program["guards_code"] and all(guard_ok(g) for g in program["guards_code"])
    assert load_model(path).format == "export"
    assert runner.invoke(app, ["inspect", str(folder / "clean.pt2")]).exit_code == 0


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Symbol('s77', positive=True, integer=True)", True),
        ("Max(Integer(1), TruncToInt(Mul(Float('0.5', precision=53), ToFloat(Symbol('s0')))))", True),
        ("FloorDiv(Symbol('s1'), Integer(2))", True),
        ("2*s65", True),
        ("s17 + 1", True),
        ("Pow(Symbol('s1'), Integer(2))", True),
        ("Pow(Integer(10), Integer(100000000))", False),
        ("Symbol('s1').__class__", False),
        ("Symbol('__import__')", False),
        ("Function('f')(Symbol('s1'))", False),
        ("eval('1')", False),
        ("[s1 for s1 in ()]", False),
        ("lambda: 0", False),
    ],
)  # fmt: skip
def test_symbolic_size_grammar(text, ok):
    assert sym_expr_ok(text) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("((12*L['x'].size()[0]) % (L['x'].size()[0] // 2)) == 0", True),
        ("((-1) + L['x'].size()[0]) == L['y'].size()[0]", True),
        ("math.floor(L['x'].size()[2] / 2) <= max(4, L['x'].stride()[0])", True),
        ("L['x'].size()[0] == len('a')", False),
        ("L['x'].__class__ is None", False),
        ("L['x\\'] + 1'].size()[0] == 1", False),
        ("open('/etc/passwd') is None", False),
    ],
)
def test_guard_grammar(text, ok):
    assert guard_ok(text) is ok


@pytest.mark.parametrize(
    ("target", "ok"),
    [
        ("torch.ops.aten.conv2d.default", True),
        ("torch.ops.aten.div.Tensor_mode", True),
        ("torch.ops.higher_order.cond", True),
        ("_operator.floordiv", True),
        ("torch.ops.aten.from_file.default", False),  # a path argument
        ("torch.ops.aten.save.default", False),  # TorchScript-only, writes a file
        ("torch.ops.torchvision.nms.default", False),  # another library's operator
        ("torch.ops.higher_order.print", False),
        ("torch.save", False),
        ("torch.ops.aten.__class__.default", False),
        ("#my_ext:op", False),
    ],
)
def test_operator_allow_list(target, ok):
    assert op_ok(target) is ok


def test_shape_guards_refusing_the_data_are_one_line_before_any_pass(folder, tmp_path):
    rgb = tmp_path / "rgb.pt2"
    _export(rgb, _net(3), torch.rand(4, 3, 12, 12), None)
    res = runner.invoke(app, _audit(folder, rgb, tmp_path / "o"))
    _refused(res, "the torch.export program takes 3x12x12 images, the data's are 1x12x12")
    small = tmp_path / "small.pt2"
    dims = {
        0: torch.export.Dim("b"),
        2: torch.export.Dim("h", min=4, max=8),
        3: torch.export.Dim("w", max=8),
    }
    _export(small, _net(), torch.rand(4, 1, 8, 8), (dims,))
    res = runner.invoke(app, _audit(folder, small, tmp_path / "o"))
    _refused(res, "program (1x?x? images) refuses the data's 1x12x12 images: Guard failed")
    assert not (tmp_path / "o").exists()


def test_a_bounded_dynamic_batch_runs_in_chunks(folder, tmp_path):
    path = tmp_path / "bounded.pt2"
    net = _net()
    _export(path, net, torch.rand(4, 1, 12, 12), ({0: torch.export.Dim("b", min=3, max=5)},))
    loaded = load_model(path)
    assert loaded.meta["batch_range"] == [3, 5]
    x = torch.rand(12, 1, 12, 12)  # chunks of 5, 5 and 2 (padded to 3)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), net(x), atol=1e-6)
    res = runner.invoke(app, _audit(folder, path, tmp_path / "o", "--batch-size", "7"))
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "o" / "report.json").exists()


@pytest.mark.skipif(
    not dataset_status(get_spec("fashion-mnist-lt"))[0], reason="Fashion-MNIST files not present"
)
def test_a_cifar_shaped_program_on_fashion_mnist(tmp_path):
    path = tmp_path / "rgb.pt2"
    _export(path, _net(3), torch.rand(4, 3, 32, 32))
    args = ["audit", str(path), "--dataset", "fashion-mnist-lt", "--n", "8", "--attacks", "fgsm"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    _refused(res, "the torch.export program takes 3x32x32 images, the data's are 1x28x28")
    assert not (tmp_path / "o").exists()
