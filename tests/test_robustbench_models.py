"""RobustBench zoo checkpoints from a local folder in RobustBench's layout
(``MODEL_DIR/<dataset>/<threat>/<NAME>.pt``), without the robustbench package: the table's
architectures have RobustBench's parameter names, each entry loads strictly with its own
normalisation (the file's ``mu``/``sigma`` winning), ``inspect`` and ``audit`` take
``--arch robustbench:NAME --model-dir DIR``, the real file is hashed into provenance, and a
missing file, an unknown or refused entry are one-line errors (nothing is downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.errors import ConfigError, ModelLoadError
from ltrobust.models import create_model, load_model
from ltrobust.models.arguments import check_arguments
from ltrobust.models.resnet import resnet18
from ltrobust.models.robustbench_zoo import ZOO
from ltrobust.models.wideresnet import wrn28_10
from ltrobust.readlog import recording

runner = CliRunner()
BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn(name: str) -> list[str]:
    return [f"{name}.{p}" for p in BN]


def _robustbench_wrn_keys(depth: int, widen: int) -> list[str]:
    """The state_dict keys of RobustBench's ``WideResNet(depth, widen_factor)`` (its
    ``model_zoo/architectures/wide_resnet.py``: TRADES blocks, ``convShortcut`` where the
    widths differ, final ``bn1`` and ``fc`` with bias), spelled out here independently."""
    n = (depth - 4) // 6
    widths = [16, 16 * widen, 32 * widen, 64 * widen]
    keys = ["conv1.weight"]
    for b in range(1, 4):
        for i in range(n):
            block = f"block{b}.layer.{i}"
            keys += [*_bn(f"{block}.bn1"), f"{block}.conv1.weight"]
            keys += [*_bn(f"{block}.bn2"), f"{block}.conv2.weight"]
            if i == 0 and widths[b - 1] != widths[b]:
                keys.append(f"{block}.convShortcut.weight")
    return [*keys, *_bn("bn1"), "fc.weight", "fc.bias"]


def _robustbench_resnet18_keys() -> list[str]:
    """RobustBench's ``ResNet18()`` (``architectures/resnet.py``, kuangliu's CIFAR ResNet)."""
    keys = ["conv1.weight", *_bn("bn1")]
    for s in range(4):
        for i in range(2):
            block = f"layer{s + 1}.{i}"
            keys += [f"{block}.conv1.weight", *_bn(f"{block}.bn1")]
            keys += [f"{block}.conv2.weight", *_bn(f"{block}.bn2")]
            if i == 0 and s > 0:
                keys += [f"{block}.shortcut.0.weight", *_bn(f"{block}.shortcut.1")]
    return [*keys, "linear.weight", "linear.bias"]


def _expected_keys(arch: str, options: dict[str, int]) -> list[str]:
    if arch == "resnet18":
        return _robustbench_resnet18_keys()
    depth = {"wrn28_10": 28, "wrn34_10": 34}.get(arch, options.get("depth", 0))
    return _robustbench_wrn_keys(depth, options.get("widen_factor", 10))


@pytest.mark.parametrize(
    "key", sorted({(e.arch, tuple(e.options.items())) for t in ZOO.values() for e in t.values()})
)
def test_every_table_architecture_has_robustbench_parameter_names(key) -> None:  # noqa: ANN001
    arch, options = key[0], dict(key[1])
    with torch.device("meta"):
        net = create_model(arch, num_classes=10, **options)
    assert sorted(net.state_dict()) == sorted(_expected_keys(arch, options))


def _calibrated(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` with BN statistics of random data (logits that differ between images)."""
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        net.train()(torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    return net.eval()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:  # noqa: ANN001
    """A RobustBench model folder with four entries, saved the ways RobustBench's files are:
    ``{'state_dict': module.-prefixed keys}`` with TRADES ``sub_block1`` keys (Carmon), a raw
    state_dict (Hendrycks), ``mu``/``sigma`` buffers in the file (Rony, L2) and ResNet-18 under
    ``net`` (Sehwag); plus a 3x32x32 ``tensors:`` set."""
    root = tmp_path_factory.mktemp("rb")
    torch.manual_seed(0)
    wrn = _calibrated(wrn28_10(num_classes=10)).state_dict()
    linf, l2 = root / "models/cifar10/Linf", root / "models/cifar10/L2"
    linf.mkdir(parents=True)
    l2.mkdir(parents=True)
    carmon = {f"module.{k}": v for k, v in wrn.items()}
    carmon["module.sub_block1.layer.0.conv1.weight"] = torch.zeros(160, 16, 3, 3)
    torch.save({"state_dict": carmon, "epoch": 40}, linf / "Carmon2019Unlabeled.pt")
    torch.save(wrn, linf / "Hendrycks2019Using.pt")
    rony = {**wrn, "mu": torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)}
    rony["sigma"] = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    torch.save(rony, l2 / "Rony2019Decoupling.pt")
    r18 = _calibrated(resnet18(num_classes=10)).state_dict()
    torch.save({"net": r18}, linf / "Sehwag2021Proxy_R18.pt")
    x = torch.rand(20, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    torch.save({"x": x, "y": torch.arange(20) % 10}, root / "test.pt")
    (root / "counts.json").write_text(json.dumps([500, 300, 200, 120, 80, 50, 30, 20, 10, 5]))
    return root


ENTRIES = [
    ("Carmon2019Unlabeled", "linf", None, None),
    ("Hendrycks2019Using", "linf", [0.5] * 3, [0.5] * 3),
    ("Rony2019Decoupling", "l2", [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]),
    ("Sehwag2021Proxy_R18", "linf", None, None),
]


@pytest.mark.parametrize(("name", "norm", "mean", "std"), ENTRIES)
def test_entry_loads_strictly_with_its_normalisation(zoo: Path, name, norm, mean, std) -> None:  # noqa: ANN001
    threat = {"linf": "Linf", "l2": "L2"}[norm]
    file = zoo / "models/cifar10" / threat / f"{name}.pt"
    with recording() as read:
        loaded = load_model(
            zoo / "models", arch=f"robustbench:{name}", dataset="cifar10-lt", norm=norm
        )
    assert read == [file]  # the real file is hashed into provenance
    assert loaded.format == "robustbench" and loaded.path == str(file)
    assert loaded.meta["robustbench"] == {
        "entry": name,
        "dataset": "cifar10",
        "threat_model": threat,
    }
    assert loaded.input_spec is not None and loaded.input_spec["mean"] == pytest.approx(mean)
    raw = torch.load(file, weights_only=True)
    sd = raw.get("state_dict", raw.get("net", raw))
    sd = {k.removeprefix("module."): v for k, v in sd.items() if "sub_block1" not in k}
    ref = create_model("resnet18" if "R18" in name else "wrn28_10", num_classes=10)
    ref.load_state_dict({k: v for k, v in sd.items() if k not in ("mu", "sigma")})
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    shifted = x
    if mean is not None:
        shifted = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        logits = loaded.model(x)
        assert torch.allclose(logits, ref.eval()(shifted), atol=1e-5)
        if mean is not None:  # the normalisation matters for these weights
            assert not torch.allclose(logits, ref(x), atol=1e-3)


def test_model_may_name_the_entry_with_model_dir(zoo: Path) -> None:
    loaded = load_model("robustbench:Carmon2019Unlabeled", model_dir=zoo / "models")
    assert loaded.path.endswith("cifar10/Linf/Carmon2019Unlabeled.pt")
    with pytest.raises(ConfigError, match="needs --model-dir"):
        load_model("robustbench:Carmon2019Unlabeled")
    with pytest.raises(ConfigError, match="different folders"):
        load_model(zoo, arch="robustbench:Standard", model_dir=zoo / "models")


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"arch": "robustbench:Standard"}, ModelLoadError, "never downloads"),
        ({"arch": "robustbench:Nope"}, ConfigError, "known: Standard, Carmon2019Unlabeled"),
        ({"arch": "robustbench:Engstrom2019Robustness"}, ConfigError, "ResNet-50"),
        ({"arch": "robustbench:Carmon2019Unlabeled", "norm": "l1"}, ConfigError, "linf or l2"),
        (
            {"arch": "robustbench:Carmon2019Unlabeled", "dataset": "cifar100-lt"},
            ConfigError,
            "CIFAR-10",
        ),
        (
            {"arch": "robustbench:Carmon2019Unlabeled", "mean": [0.5], "std": [0.5]},
            ConfigError,
            "own normalisation",
        ),
        ({"arch": "robustbench:Carmon2019Unlabeled", "format": "robal"}, ConfigError, "--format"),
    ],
)
def test_refusals(zoo: Path, kwargs, error, needle) -> None:  # noqa: ANN001
    with pytest.raises(error, match=needle):
        load_model(zoo / "models", **kwargs)


def test_family_builds_and_takes_only_core_sizes() -> None:
    with torch.device("meta"):
        net = create_model("robustbench:Zhang2019Theoretically", num_classes=10)
    assert sorted(net.state_dict()) == sorted(_robustbench_wrn_keys(34, 10))
    with pytest.raises(ConfigError, match="not an option ltrobust passes to robustbench"):
        check_arguments("robustbench:Standard", {"depth": 70})


def test_inspect_shows_the_entry_and_its_normalisation(zoo: Path) -> None:
    args = ["inspect", str(zoo / "models"), "--arch", "robustbench:Hendrycks2019Using"]
    res = runner.invoke(app, [*args, "--dataset", "cifar10-lt"])
    assert res.exit_code == 0, res.output
    assert "format       robustbench" in res.stdout
    assert "mean [0.5, 0.5, 0.5], std [0.5, 0.5, 0.5]" in res.stdout
    res = runner.invoke(app, ["inspect", str(zoo), "--arch", "robustbench:Standard"])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert lines[0].startswith("ltrobust: error: robustbench:Standard: no checkpoint at ")
    assert "cifar10/Linf/Standard.pt" in lines[0] and "never downloads" in lines[0]


def test_audit_end_to_end(zoo: Path, tmp_path: Path) -> None:
    args = ["audit", "robustbench:Hendrycks2019Using", "--model-dir", str(zoo / "models")]
    args += ["--dataset", f"tensors:{zoo / 'test.pt'}", "--class-counts", str(zoo / "counts.json")]
    args += ["--n", "8", "--attacks", "fgsm", "--no-diagnostics", "--quiet"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "rep/report.json").read_text())
    text = json.dumps(report)
    assert '"format": "robustbench"' in text
    assert '"normalization": "robustbench model zoo entry"' in text
    file = zoo / "models/cifar10/Linf/Hendrycks2019Using.pt"
    assert str(file) in text  # hashed into the provenance's files
