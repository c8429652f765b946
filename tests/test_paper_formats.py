"""The papers' checkpoints as their repositories save them (docs/FORMATS.md): state_dicts with
each repository's exact key names and shapes load, are detected from their keys, and give the
logits of a forward pass written from the papers' equations (tests/paper_nets.py); each format
audits end to end with the per-sample predictions of the same weights in ltrobust's format."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

import ltrobust
from ltrobust.errors import ConfigError, ModelLoadError
from ltrobust.models import load_model, save_checkpoint

from .conftest import TRAIN_COUNTS
from .paper_nets import (
    Maker,
    cosine_head,
    linear_head,
    preact_features,
    preact_keys,
    prior_bias,
    resnet_features,
    resnet_keys,
    wrn_features,
    wrn_keys,
)

CIFAR10_LT = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]  # IR 50 (RoBal's ratio 0.02)
CIFAR10 = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))  # RobustLT core/data/cifar10lt.py
CIFAR100 = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))


def _x(n: int = 2, size: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _norm(x: torch.Tensor, stats: tuple[tuple[float, ...], tuple[float, ...]]) -> torch.Tensor:
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in stats)
    return (x - mean) / std


def _close(loaded, x: torch.Tensor, expected: torch.Tensor) -> None:
    with torch.no_grad():
        got = loaded.model(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), (got - expected).abs().max()


# ---------------------------------------------------------------- RoBal


def _robal(m: Maker, depth: int, widen: int, classes: int, cosplus: bool = False) -> int:
    dim = wrn_keys(m, "backbone.", depth, widen)
    m.vector("classifier.weight", classes, dim)
    m.sd["classifier.bias"] = torch.zeros(classes)  # requires_grad=False: stays 0 in training
    if cosplus:
        m.vector("classifier.moving_ed", 1, dim)
    return dim


def test_robal_wrn34_10_cifar10_n_exact_shapes(tmp_path):
    m = Maker(0)
    _robal(m, 34, 10, 10, cosplus=True)  # saved from the CosPlus training config
    path = tmp_path / "epoch80.pt"
    torch.save({f"module.{k}": v for k, v in m.sd.items()}, path)  # DataParallel
    loaded = load_model(path, class_counts=CIFAR10_LT)
    assert (loaded.format, loaded.arch) == ("robal", "wrn34_10")
    assert loaded.inference["detected"] and loaded.inference["config"] == "cifar10-N"
    assert loaded.head == {"kind": "cosine", "scale": 10.0, "gamma": 1 / 32}
    assert "classifier.moving_ed" in loaded.meta["dropped_keys"]
    x = _x()
    f = wrn_features(m.sd, "backbone.", x)
    expected = cosine_head(f, m.sd["classifier.weight"], 10.0, 1 / 32)
    _close(loaded, x, expected + prior_bias(0.1, CIFAR10_LT))


@pytest.mark.parametrize(
    ("config", "classes", "scale", "gamma", "tau", "bias"),
    [
        ("cifar10-R", 10, 1.0, 1 / 32, 0.0, True),
        ("cifar100-N", 100, 10.0, 1 / 32, 1.5, False),
        ("cifar100-R", 100, 10.0, 1 / 16, 1.7, False),
    ],
)
def test_robal_eval_configs(tmp_path, config, classes, scale, gamma, tau, bias):
    m = Maker(1)
    _robal(m, 16, 2, classes)
    m.sd["classifier.bias"] = torch.randn(classes)  # read by CosPlus only
    torch.save(m.sd, tmp_path / "m.pt")
    counts = [int(500 * 0.1 ** (i / (classes - 1))) for i in range(classes)]
    loaded = load_model(tmp_path / "m.pt", format_config=config, class_counts=counts)
    f = wrn_features(m.sd, "backbone.", _x())
    b = m.sd["classifier.bias"] if bias else None
    expected = cosine_head(f, m.sd["classifier.weight"], scale, gamma, b)
    if tau:
        expected = expected + prior_bias(tau, counts)
    _close(loaded, _x(), expected)
    assert loaded.inference["tau"] == tau and loaded.arch == "wideresnet"


def test_robal_overrides_and_refusals(tmp_path):
    m = Maker(2)
    _robal(m, 10, 1, 10)
    torch.save(m.sd, tmp_path / "m.pt")
    f = wrn_features(m.sd, "backbone.", _x())
    with pytest.raises(ConfigError, match="needs the training class counts"):
        load_model(tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt", tau=0.0, scale=1.0)
    assert loaded.logit_adjustment is None and loaded.inference["scale"] == 1.0
    _close(loaded, _x(), cosine_head(f, m.sd["classifier.weight"], 1.0, 1 / 32))
    with pytest.raises(ConfigError, match="unknown --format-config 'cifar10-X'"):
        load_model(tmp_path / "m.pt", format_config="cifar10-X", tau=0)
    m7 = Maker(3)
    _robal(m7, 10, 1, 7)
    torch.save(m7.sd, tmp_path / "m7.pt")
    with pytest.raises(ConfigError, match="no default config for 7 classes.*cifar10-N"):
        load_model(tmp_path / "m7.pt")


# ---------------------------------------------------------------- RobustLT


def test_robustlt_wrn28_10_cosplus_normalised_exact_shapes(tmp_path):
    m = Maker(4)
    _robal(m, 28, 10, 10, cosplus=True)
    m.sd["classifier.bias"] = torch.randn(10)
    path = tmp_path / "state-last.pt"
    torch.save({"model_state_dict": m.sd, "epoch": 80, "scheduler_state_dict": None}, path)
    loaded = load_model(path)
    assert (loaded.format, loaded.arch, loaded.inference["config"]) == (
        "robustlt",
        "wrn28_10",
        "cosplus",
    )
    assert loaded.input_spec["mean"] == [pytest.approx(v) for v in CIFAR10[0]]
    x = _x()
    f = wrn_features(m.sd, "backbone.", _norm(x, CIFAR10))
    expected = cosine_head(f, m.sd["classifier.weight"], 1.0, 1 / 32, m.sd["classifier.bias"])
    _close(loaded, x, expected)


def test_robustlt_resnet18_fc_and_cos(tmp_path):
    m = Maker(5)
    dim = resnet_keys(m, "backbone.")
    m.linear("classifier.fc", 100, dim)
    torch.save({"model_state_dict": m.sd, "epoch": 100}, tmp_path / "fc.pt")
    loaded = load_model(tmp_path / "fc.pt")
    assert (loaded.format, loaded.arch, loaded.head["kind"]) == ("robustlt", "resnet18", "linear")
    x = _x()
    f = resnet_features(m.sd, "backbone.", _norm(x, CIFAR100))
    _close(loaded, x, linear_head(f, m.sd["classifier.fc.weight"], m.sd["classifier.fc.bias"]))
    c = Maker(6)
    dim = resnet_keys(c, "backbone.", width=8)
    c.vector("classifier.weight", 10, dim)
    c.vector("classifier.bias", 10)
    torch.save({"model_state_dict": c.sd}, tmp_path / "cos.pt")
    loaded = load_model(tmp_path / "cos.pt")
    assert loaded.inference["config"] == "cos" and loaded.meta["model_args"]["width"] == 8
    f = resnet_features(c.sd, "backbone.", _norm(x, CIFAR10))
    expected = cosine_head(f, c.sd["classifier.weight"], 16.0, 0.0, c.sd["classifier.bias"])
    _close(loaded, x, expected)


# ---------------------------------------------------------------- REAT


def test_reat_resnet18_exact_shapes_and_wrn(tmp_path):
    m = Maker(7)
    dim = resnet_keys(m, "", names="reat")
    m.linear("fc", 10, dim)
    torch.save({"state_dict": m.sd, "epoch": 79}, tmp_path / "M2.pkllast.pkl")
    loaded = load_model(tmp_path / "M2.pkllast.pkl")
    assert (loaded.format, loaded.arch) == ("reat", "resnet18")
    assert loaded.meta["fields"] == {"epoch": 79} and loaded.logit_adjustment is None
    x = _x()
    _close(
        loaded,
        x,
        linear_head(resnet_features(m.sd, "", x, "reat"), m.sd["fc.weight"], m.sd["fc.bias"]),
    )
    w = Maker(8)
    dim = wrn_keys(w, "", 10, 2)
    w.linear("fc", 100, dim)
    torch.save({"state_dict": w.sd, "epoch": 79}, tmp_path / "wrn.pkl")
    loaded = load_model(tmp_path / "wrn.pkl")
    assert loaded.format == "reat" and "also fit atbsl" in loaded.meta["detection_note"]
    _close(loaded, x, linear_head(wrn_features(w.sd, "", x), w.sd["fc.weight"], w.sd["fc.bias"]))


# ---------------------------------------------------------------- AT-BSL


def test_atbsl_resnet18_wrn_with_sub_block_and_preact(tmp_path):
    x = _x()
    m = Maker(9)
    dim = resnet_keys(m, "")
    m.linear("linear", 10, dim)
    torch.save(m.sd, tmp_path / "res.pt")
    loaded = load_model(tmp_path / "res.pt")
    assert (loaded.format, loaded.arch) == ("atbsl", "resnet18")
    _close(
        loaded,
        x,
        linear_head(resnet_features(m.sd, "", x), m.sd["linear.weight"], m.sd["linear.bias"]),
    )
    w = Maker(10)
    dim = wrn_keys(w, "", 16, 1, sub_block=True)
    w.linear("fc", 100, dim)
    torch.save(w.sd, tmp_path / "wrn.pt")
    loaded = load_model(tmp_path / "wrn.pt")
    assert loaded.format == "atbsl" and any(
        k.startswith("sub_block1.") for k in loaded.meta["dropped_keys"]
    )
    _close(loaded, x, linear_head(wrn_features(w.sd, "", x), w.sd["fc.weight"], w.sd["fc.bias"]))
    p = Maker(11)
    dim = preact_keys(p)
    p.linear("linear", 200, dim)
    torch.save(p.sd, tmp_path / "ti.pt")
    loaded = load_model(tmp_path / "ti.pt", input_size=16)
    assert (loaded.arch, loaded.num_classes) == ("preact_resnet18", 200)
    x16 = _x(size=16)
    _close(
        loaded,
        x16,
        linear_head(preact_features(p.sd, x16), p.sd["linear.weight"], p.sd["linear.bias"]),
    )


# ---------------------------------------------------------------- MCAT


@pytest.mark.parametrize("stem", ["imagenet", "cifar"])
def test_mcat_torchvision_resnet18_against_torchvision(tmp_path, stem):
    m = Maker(12)
    dim = resnet_keys(m, "encoder.", names="torchvision", stem=7 if stem == "imagenet" else 3)
    m.linear("classifier", 10, dim)
    cfg = {"arch": "resnet18" if stem == "imagenet" else "resnet18_cifar", "method": "mcat"}
    torch.save(
        {"epoch": 100, "model": m.sd, "optimizer": {}, "cfg": cfg}, tmp_path / "ckpt_last.pth"
    )
    loaded = load_model(tmp_path / "ckpt_last.pth")
    assert (loaded.format, loaded.arch) == ("mcat", "resnet18")
    assert loaded.meta["model_args"].get("stem", "cifar") == stem
    # the reference: torchvision's resnet18 as MCAT's mcat/models.py builds it
    ref = torchvision.models.resnet18(weights=None, num_classes=10)
    if stem == "cifar":
        ref.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        ref.maxpool = torch.nn.Identity()
    sd = {k.removeprefix("encoder.").replace("classifier.", "fc."): v for k, v in m.sd.items()}
    ref.load_state_dict(sd)
    x = _x(size=32 if stem == "imagenet" else 8)
    with torch.no_grad():
        expected = ref.eval()(x)
    _close(loaded, x, expected)
    _close(
        loaded,
        x,
        linear_head(
            resnet_features(m.sd, "encoder.", x, "torchvision"),
            m.sd["classifier.weight"],
            m.sd["classifier.bias"],
        ),
    )


# ---------------------------------------------------------------- detection and errors


def test_detection_errors_name_the_closest_format(tmp_path):
    m = Maker(13)
    _robal(m, 10, 1, 10)
    sd = dict(m.sd)
    del sd["backbone.bn1.weight"]
    torch.save(sd, tmp_path / "broken.pt")
    with pytest.raises(ModelLoadError) as exc:
        load_model(tmp_path / "broken.pt")
    msg = str(exc.value)
    assert (
        "closest format: robal" in msg and "missing backbone.bn1.weight" in msg and "--arch" in msg
    )
    with pytest.raises(
        ModelLoadError, match="does not have the mcat layout: missing encoder.conv1"
    ):
        load_model(tmp_path / "broken.pt", format="mcat")
    torch.save({"net": m.sd}, tmp_path / "net.pt")  # neither RoBal's container nor RobustLT's
    with pytest.raises(
        ModelLoadError, match="fit the formats robal, robustlt alike; pass --format"
    ):
        load_model(tmp_path / "net.pt")
    loaded = load_model(tmp_path / "net.pt", format="robustlt", scale=3.0, mean=[0.5], std=[0.5])
    assert loaded.format == "robustlt" and not loaded.inference["detected"]
    assert loaded.head["scale"] == 3.0 and loaded.inference["normalization"] == "given"
    with pytest.raises(ModelLoadError, match="has arch=wideresnet but arch=wrn34_10"):
        load_model(tmp_path / "net.pt", format="robustlt", arch="wrn34_10")
    with pytest.raises(ConfigError, match="--tau apply to the paper formats"):
        load_model(tmp_path / "net.pt", format="state_dict", arch="test_cnn", tau=1.0)


# ---------------------------------------------------------------- end to end


def _files(tmp_path) -> tuple[str, list[int]]:
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(24, 3, 16, 16, generator=gen)
    y = torch.arange(6).repeat_interleave(4)
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    return f"tensors:{tmp_path / 'data.pt'}", TRAIN_COUNTS


def _as_ltrobust(loaded, path) -> None:
    """The same weights in ltrobust's own format."""
    save_checkpoint(
        path,
        loaded.model,
        arch=loaded.arch,
        model_args=loaded.meta["model_args"],
        input_spec=dict(loaded.input_spec),
        num_classes=loaded.num_classes,
        class_counts=TRAIN_COUNTS,
    )


def _robal_small() -> dict:
    m = Maker(20)
    _robal(m, 10, 1, 6)
    return m.sd


def _reat_small() -> dict:
    m = Maker(21)
    m.linear("fc", 6, resnet_keys(m, "", width=4, names="reat"))
    return {"state_dict": m.sd, "epoch": 1}


def _atbsl_small() -> dict:
    m = Maker(22)
    m.linear("fc", 6, wrn_keys(m, "", 10, 1, sub_block=True))
    return m.sd


def _robustlt_small() -> dict:
    m = Maker(23)
    m.linear("classifier.fc", 6, resnet_keys(m, "backbone.", width=4))
    return {"model_state_dict": m.sd, "epoch": 1}


def _mcat_small() -> dict:
    m = Maker(24)
    m.linear("classifier", 6, resnet_keys(m, "encoder.", width=4, names="torchvision", stem=7))
    return {"model": m.sd, "epoch": 1, "cfg": {"arch": "resnet18"}}


@pytest.mark.parametrize(
    ("name", "make", "options"),
    [
        ("robal", _robal_small, {"format_config": "cifar10-N"}),
        ("reat", _reat_small, {}),
        ("atbsl", _atbsl_small, {}),
        ("robustlt", _robustlt_small, {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}),
        ("mcat", _mcat_small, {}),
    ],
)
def test_paper_format_audits_like_ltrobust_format(tmp_path, name, make, options):
    dataset, counts = _files(tmp_path)
    torch.save(make(), tmp_path / "paper.pt")
    paper = load_model(tmp_path / "paper.pt", class_counts=counts, default_input_size=16, **options)
    assert paper.format == name
    _as_ltrobust(paper, tmp_path / "own.pt")
    kwargs = dict(dataset=dataset, class_counts=counts, attacks=["fgsm", "pgd5"], eps=0.05)
    kwargs.update(step=0.02, diagnose=False, batch_size=10)
    a = ltrobust.audit(str(tmp_path / "paper.pt"), load=options, **kwargs)
    b = ltrobust.audit(str(tmp_path / "own.pt"), **kwargs)
    assert a.per_sample == b.per_sample
    ck = a.provenance["checkpoint"]
    assert ck["format"] == name and ck["inference"]["detected"] and ck["repository"]
    assert json.loads(json.dumps(ck)) == ck
    assert b.provenance["checkpoint"]["format"] == "ltrobust"


def test_formats_doc_cites_every_row():
    """docs/FORMATS.md names every format's repository, commit, configs and values."""
    from pathlib import Path

    from ltrobust.models.paper_formats import PAPER_FORMATS

    doc = (Path(__file__).parent.parent / "docs" / "FORMATS.md").read_text()
    for entry in PAPER_FORMATS:
        fmt = entry.settings
        assert f"— `{fmt.name}`" in doc and fmt.repo in doc and fmt.commit in doc, fmt.name
        for config in fmt.configs:
            assert f"`{config.name}`" in doc, (fmt.name, config.name)
