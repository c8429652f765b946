"""Models the way users save them: a torchvision ``state_dict()`` loads and audits with
``--arch torchvision:NAME``; without ``--arch`` (or with ltrobust's CIFAR ``resnet18``) it is
recognised by its keys and the one-line error names the ``--arch`` that fits (never AT-BSL);
the torchvision family takes only safe options (no ``weights`` downloads); ``inspect`` infers
a state_dict's input side from its first linear layer and takes ``--input-size``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
import torchvision
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.errors import ConfigError, ModelLoadError
from ltrobust.models import create_model, load_model, save_checkpoint
from ltrobust.models.arguments import check_arguments
from ltrobust.models.layouts import guess_torchvision
from ltrobust.models.paper_formats import detect

runner = CliRunner()
CLASSES = 6
MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)


def _one_line_error(res, needle: str) -> str:  # noqa: ANN001
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert len(lines) == 1 and lines[0].startswith("ltrobust: error: "), res.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A torchvision resnet18(num_classes=6) state_dict and a 3x16x16 ``tensors:`` set."""
    d = tmp_path_factory.mktemp("torchvision")
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=CLASSES)
    x = torch.rand(24, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    for module in net.modules():  # BN statistics of the data: predictions that vary
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        net(x)
    torch.save(net.eval().state_dict(), d / "resnet18.pt")
    y = torch.arange(24) % CLASSES
    torch.save({"x": x, "y": y}, d / "test.pt")
    (d / "counts.json").write_text(json.dumps([60, 40, 25, 15, 10, 5]))
    return d


def _audit_args(d: Path, *extra: str) -> list[str]:
    args = ["audit", str(d / "resnet18.pt"), "--dataset", f"tensors:{d / 'test.pt'}"]
    args += ["--class-counts", str(d / "counts.json"), "--attacks", "fgsm", "--no-diagnostics"]
    return [*args, "--eps", "0.03", "--quiet", *extra]


def test_torchvision_resnet18_audits_end_to_end(files, tmp_path):
    out = tmp_path / "report"
    mean, std = ",".join(map(str, MEAN)), ",".join(map(str, STD))
    res = runner.invoke(
        app,
        _audit_args(files, "--arch", "torchvision:resnet18", "--mean", mean, "--std", std)
        + ["--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    net = torchvision.models.resnet18(num_classes=CLASSES).eval()
    net.load_state_dict(torch.load(files / "resnet18.pt"))
    data = torch.load(files / "test.pt")
    norm = (data["x"] - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = net(norm).argmax(1).tolist()
    assert len(set(expected)) >= 3
    assert report["per_sample"]["clean_pred"] == expected
    assert report["provenance"]["checkpoint"]["arch"] == "torchvision:resnet18"


def test_torchvision_state_dict_without_normalisation_warns(files):
    loaded = load_model(files / "resnet18.pt", arch="torchvision:resnet18")
    assert loaded.num_classes == CLASSES and loaded.input_spec is not None
    assert loaded.input_spec["mean"] is None
    assert any("no input normalisation given" in w for w in loaded.warnings)
    net = torchvision.models.resnet18(num_classes=CLASSES).eval()
    net.load_state_dict(torch.load(files / "resnet18.pt"))
    x = torch.rand(2, 3, 20, 20)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), net(x), atol=1e-5)


def test_torchvision_state_dict_without_arch_names_the_arch(files):
    res = runner.invoke(app, _audit_args(files, "--out", str(files / "never")))
    line = _one_line_error(res, "torchvision's ResNet layout")
    assert "torchvision:resnet18" in line and "atbsl" not in line.lower()
    assert not (files / "never").exists()
    res = runner.invoke(app, ["inspect", str(files / "resnet18.pt")])
    _one_line_error(res, "pass --arch torchvision:resnet18")


def test_torchvision_state_dict_with_cifar_resnet18_names_the_arch(files):
    res = runner.invoke(app, ["inspect", str(files / "resnet18.pt"), "--arch", "resnet18"])
    _one_line_error(res, "pass --arch torchvision:resnet18")


@pytest.mark.parametrize(
    ("name", "builder"),
    [
        ("resnet18", torchvision.models.resnet18),
        ("resnet34", torchvision.models.resnet34),
        ("resnet50", torchvision.models.resnet50),
        ("resnet101", torchvision.models.resnet101),
    ],
)
def test_torchvision_resnet_layouts_are_no_paper_format(name, builder):
    with torch.device("meta"):
        keys = list(builder(num_classes=CLASSES).state_dict())
    assert guess_torchvision(keys) == name
    fmt, _, _ = detect(keys, None)
    assert fmt is None  # was AT-BSL before: conv1, layer1.0.conv1, fc matched its keys


def test_other_torchvision_families_load(tmp_path):
    net = torchvision.models.mobilenet_v3_small(num_classes=CLASSES).eval()
    torch.save({"state_dict": net.state_dict()}, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt", arch="torchvision:mobilenet_v3_small")
    assert loaded.num_classes == CLASSES
    assert isinstance(loaded.model.head, torch.nn.Linear)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), net(x), atol=1e-5)
        assert loaded.model.features(x).shape == (2, net.classifier[3].in_features)


def test_torchvision_family_takes_no_download_options():
    for option in ("weights", "weights_backbone", "pretrained"):
        with pytest.raises(ConfigError, match="not an option ltrobust passes to torchvision"):
            check_arguments("torchvision:resnet18", {option: "IMAGENET1K_V1"})
        with pytest.raises(ConfigError):
            create_model("torchvision:resnet18", **{option: "IMAGENET1K_V1"})
    check_arguments("torchvision:vgg11", {"dropout": 0.1, "num_classes": 3})
    with pytest.raises(ConfigError, match="unknown torchvision architecture 'fasterrcnn"):
        create_model("torchvision:fasterrcnn_resnet50_fpn")
    with pytest.raises(ConfigError, match="takes 3 input channels"):
        create_model("torchvision:resnet18", in_channels=1)


def test_torchvision_checkpoint_of_another_shape_is_one_line(files):
    with pytest.raises(ModelLoadError, match="torchvision:resnet18: the state_dict has no"):
        load_model(files / "test.pt", arch="torchvision:resnet18")
    with pytest.raises(ModelLoadError, match="does not fit torchvision:resnet34"):
        load_model(files / "resnet18.pt", arch="torchvision:resnet34")


@pytest.mark.parametrize("side", [28, 32])
def test_inspect_infers_the_input_size_of_a_state_dict(tmp_path, side):
    net = create_model("small_cnn", num_classes=10, in_channels=1, input_size=side)
    torch.save(net.state_dict(), tmp_path / "sc.pt")
    res = runner.invoke(app, ["inspect", str(tmp_path / "sc.pt"), "--arch", "small_cnn"])
    assert res.exit_code == 0, res.output
    assert f"1x{side}x{side}" in res.stdout
    other = 60 - side  # 32 for a 28 model and 28 for a 32 one
    res = runner.invoke(
        app, ["inspect", str(tmp_path / "sc.pt"), "--arch", "small_cnn", "--input-size", str(other)]
    )
    _one_line_error(res, f"(the weights fit {side}x{side} inputs, not {other}x{other})")


def test_inspect_takes_the_dataset_input_size(tmp_path):
    net = create_model("small_cnn", num_classes=10, in_channels=1, input_size=28)
    torch.save(net.state_dict(), tmp_path / "sc.pt")
    args = ["inspect", str(tmp_path / "sc.pt"), "--arch", "small_cnn", "--json"]
    res = runner.invoke(app, [*args, "--dataset", "fashion-mnist-lt"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["input_spec"]["size"] == 28
    res = runner.invoke(app, [*args, "--dataset", "cifar10-lt"])
    _one_line_error(res, "the weights fit 28x28 inputs, not 32x32")


def test_an_input_size_no_candidate_fits_says_how_to_give_one(tmp_path):
    net = create_model("small_cnn", num_classes=10, in_channels=1, input_size=40)
    torch.save(net.state_dict(), tmp_path / "sc.pt")
    res = runner.invoke(app, ["inspect", str(tmp_path / "sc.pt"), "--arch", "small_cnn"])
    _one_line_error(res, "the input size could not be inferred: pass --input-size or --dataset")
    res = runner.invoke(
        app, ["inspect", str(tmp_path / "sc.pt"), "--arch", "small_cnn", "--input-size", "40"]
    )
    assert res.exit_code == 0 and "1x40x40" in res.stdout, res.output


def test_torchvision_arch_trains_into_an_ltrobust_checkpoint(tmp_path):
    net = create_model("torchvision:resnet18", num_classes=CLASSES, input_size=16).eval()
    spec = {"channels": 3, "size": 16, "mean": None, "std": None}
    args = {"num_classes": CLASSES, "in_channels": 3, "input_size": 16}
    save_checkpoint(
        tmp_path / "c.pt",
        net,
        arch="torchvision:resnet18",
        model_args=args,
        input_spec=spec,
        num_classes=CLASSES,
    )
    x = torch.rand(2, 3, 16, 16)
    for arch in (None, "torchvision:resnet18"):
        loaded = load_model(tmp_path / "c.pt", arch=arch)
        assert loaded.format == "ltrobust" and loaded.arch == "torchvision:resnet18"
        with torch.no_grad():
            assert torch.allclose(loaded.model(x), net(x), atol=1e-5)


# ---------------------------------------------------------------- ONNX from torch's exporter


def _onnx_needed() -> None:
    for name in ("onnx", "onnx2torch", "onnxruntime", "onnxscript"):
        pytest.importorskip(name)


def test_onnx_from_torchs_default_exporter_loads(tmp_path):
    _onnx_needed()
    import onnx

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),  # ReduceMean with axes as an input at opset 18+
        torch.nn.Flatten(),  # Reshape with allowzero=1
        torch.nn.Linear(4, CLASSES),
    ).eval()
    x = torch.rand(2, 3, 16, 16)
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), path, verbose=False)  # the default: dynamo=True
    assert onnx.load(path).opset_import[0].version > 17
    loaded = load_model(path)
    assert loaded.format == "onnx" and loaded.meta["converted_to_opset"] == 17
    assert any("converted to opset 17" in w for w in loaded.warnings)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), net(x), atol=1e-5)


def test_onnx_unconvertible_operator_names_the_opset_and_the_fix(tmp_path):
    _onnx_needed()
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])
    graph = helper.make_graph([helper.make_node("Hardmax", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.save(model, tmp_path / "hardmax.onnx")
    res = runner.invoke(app, ["inspect", str(tmp_path / "hardmax.onnx")])
    line = _one_line_error(res, "cannot convert the operator(s) Hardmax of ONNX opset 20")
    assert "torch.onnx.export(..., opset_version=17, dynamo=False)" in line
