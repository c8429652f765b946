"""Tests for ltrobust.models: registry, architectures, heads, wrappers, checkpoints, loading."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ltrobust.errors import ConfigError, ModelLoadError, ModelOutputError
from ltrobust.models import (
    CosineHead,
    LinearHead,
    LogitAdjusted,
    Normalize,
    NormalizedModel,
    OutputSelect,
    create_model,
    list_models,
    load_model,
    save_checkpoint,
    sha256_file,
)
from ltrobust.models import registry as registry_module
from ltrobust.models.resnet import BasicBlock, PreActBlock
from ltrobust.models.wideresnet import WideBasicBlock, WideResNet
from ltrobust.registry import Entry

ARCHS = [
    "preact_resnet18",
    "resnet18",
    "resnet32",
    "resnet34",
    "resnet50",
    "small_cnn",
    "wideresnet",
    "wrn28_10",
    "wrn34_10",
]
TEST_ARCHS = ["test_cnn", "test_linear", "test_mlp"]


def _meta(name: str, **kwargs: object) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)  # type: ignore[arg-type]


def _randomize_bn(model: nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)


def _bn(x: torch.Tensor, m: nn.BatchNorm2d) -> torch.Tensor:
    return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)


def _conv(x: torch.Tensor, m: nn.Conv2d) -> torch.Tensor:
    return F.conv2d(x, m.weight, None, m.stride, m.padding)


# ---------------------------------------------------------------- registry and factory


def test_list_models_sorted_and_hides_test_models() -> None:
    assert list_models() == ARCHS
    assert list_models(include_test=True) == sorted(ARCHS + TEST_ARCHS)


@pytest.mark.parametrize("name", ARCHS + TEST_ARCHS)
def test_create_model_output_and_feature_shapes(name: str) -> None:
    torch.manual_seed(0)
    big = name.startswith(("wrn", "resnet", "preact"))  # size-agnostic: tiny inputs suffice
    size = 8 if big else 16
    model = create_model(name, num_classes=7, in_channels=1, input_size=size).eval()
    x = torch.rand(1 if big else 3, 1, size, size)
    with torch.no_grad():
        logits = model(x)
        feats = model.features(x)
        assert torch.allclose(model.head(feats), logits, atol=1e-5)
    assert logits.shape == (x.shape[0], 7)
    assert feats.ndim == 2 and feats.shape[0] == x.shape[0]
    assert torch.isfinite(logits).all()


def test_unknown_arch_head_and_option_list_valid_names() -> None:
    with pytest.raises(ConfigError) as exc:
        create_model("resnet101")
    msg = str(exc.value)
    assert "'resnet101'" in msg and "resnet50, small_cnn, wrn28_10" in msg and "\n" not in msg
    assert "test_mlp" not in msg
    with pytest.raises(ConfigError, match="valid: linear, cosine"):
        create_model("test_mlp", head="arc")
    with pytest.raises(ConfigError, match="drop_rate"):
        create_model("test_mlp", drop_rate=0.1)
    with pytest.raises(ConfigError, match="num_classes"):
        create_model("test_mlp", num_classes=0)
    with pytest.raises(ConfigError, match="cosine"):
        create_model("test_mlp", head_scale=3.0)


# ---------------------------------------------------------------- parameter names


def test_resnet18_keys_match_kuangliu_definition() -> None:
    sd = _meta("resnet18").state_dict()
    keys = list(sd)
    assert keys[:7] == [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
        "layer1.0.conv1.weight",
    ]
    assert keys[-3:] == ["layer4.1.bn2.num_batches_tracked", "linear.weight", "linear.bias"]
    assert not any(k.startswith("layer1.0.shortcut") for k in keys)
    assert sd["layer2.0.shortcut.0.weight"].shape == (128, 64, 1, 1)
    assert "layer2.0.shortcut.1.running_var" in sd and "layer2.1.shortcut.0.weight" not in sd
    assert sd["conv1.weight"].shape == (64, 3, 3, 3)
    # the CIFAR ResNet-18 of kuangliu/pytorch-cifar has 11,173,962 parameters for 10 classes
    assert sum(p.numel() for p in _meta("resnet18").parameters()) == 11_173_962


def test_resnet32_parameters_keys_and_features() -> None:
    """ResNet-32 of LDAM-DRW / CMO / AFR: 464,154 parameters for 10 classes (0.46 M), 64-d
    features, parameter-free option-A shortcuts."""
    model = _meta("resnet32")
    sd = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == 464_154
    assert sum(p.numel() for p in _meta("resnet32", num_classes=100).parameters()) == 470_004
    assert [k for k in sd if k.endswith(".conv1.weight")][-1] == "layer3.4.conv1.weight"
    assert "layer4.0.conv1.weight" not in sd and not any("shortcut" in k for k in sd)
    assert sd["linear.weight"].shape == (10, 64) and sd["conv1.weight"].shape == (16, 3, 3, 3)
    torch.manual_seed(0)
    net = create_model("resnet32", num_classes=7, in_channels=1, input_size=28).eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert net.features(x).shape == (3, 64)
        block = net.layer2[0]  # 16 -> 32 channels, stride 2: x[:, :, ::2, ::2] padded by 8 + 8
        h = torch.rand(2, 16, 14, 14)
        inner = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(h)))))
        skip = torch.cat([torch.zeros(2, 8, 7, 7), h[:, :, ::2, ::2], torch.zeros(2, 8, 7, 7)], 1)
        assert torch.allclose(block(h), torch.relu(inner + skip), atol=1e-6)


def test_preact_resnet18_keys() -> None:
    keys = list(_meta("preact_resnet18").state_dict())
    assert keys[:3] == ["conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias"]
    assert keys[-7:] == [
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
        "linear.weight",
        "linear.bias",
    ]
    assert "layer2.0.shortcut.0.weight" in keys and "layer2.0.shortcut.1.weight" not in keys
    assert not any(k.startswith("layer1.0.shortcut") or k.startswith("bn1.") for k in keys)


@pytest.mark.parametrize(
    ("name", "n", "params"), [("wrn34_10", 5, 46_160_474), ("wrn28_10", 4, 36_479_194)]
)
def test_wrn_keys_match_trades_definition(name: str, n: int, params: int) -> None:
    model = _meta(name)
    sd = model.state_dict()
    keys = list(sd)
    assert keys[:2] == ["conv1.weight", "block1.layer.0.bn1.weight"]
    assert keys[-4:] == ["bn1.running_var", "bn1.num_batches_tracked", "fc.weight", "fc.bias"]
    assert sd["block1.layer.0.convShortcut.weight"].shape == (160, 16, 1, 1)
    assert sd["block2.layer.0.convShortcut.weight"].shape == (320, 160, 1, 1)
    assert "block1.layer.1.convShortcut.weight" not in sd
    assert f"block3.layer.{n - 1}.conv2.weight" in sd and f"block3.layer.{n}.bn1.weight" not in sd
    assert not any(k.startswith("sub_block1") for k in keys)
    assert model.block1.layer[0].equalInOut is False and model.block1.layer[1].equalInOut is True
    assert sum(p.numel() for p in model.parameters()) == params


def test_small_cnn_keys_and_flat_size() -> None:
    model = _meta("small_cnn", in_channels=1, input_size=28)
    assert list(model.state_dict()) == [
        f"{part}.{layer}.{p}"
        for part, layers in (
            ("feature_extractor", ("conv1", "conv2", "conv3", "conv4")),
            ("classifier", ("fc1", "fc2", "fc3")),
        )
        for layer in layers
        for p in ("weight", "bias")
    ]
    assert model.classifier.fc1.in_features == 64 * 4 * 4
    assert _meta("small_cnn", input_size=32).classifier.fc1.in_features == 64 * 5 * 5
    for size in (28, 32):
        net = create_model("small_cnn", in_channels=1, input_size=size).eval()
        with torch.no_grad():
            assert net(torch.rand(2, 1, size, size)).shape == (2, 10)
    assert model.head is model.classifier.fc3


# ---------------------------------------------------------------- forward passes vs references


def test_blocks_match_reference_forward() -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 4, 8, 8)
    basic, preact, wide = BasicBlock(4, 6, 2), PreActBlock(4, 6, 2), WideBasicBlock(4, 6, 2)
    wide_eq = WideBasicBlock(4, 4, 1)
    for block in (basic, preact, wide, wide_eq):
        _randomize_bn(block)
        block.eval()
    with torch.no_grad():
        sc = basic.shortcut
        out = F.relu(_bn(_conv(x, basic.conv1), basic.bn1))
        ref = F.relu(_bn(_conv(out, basic.conv2), basic.bn2) + _bn(_conv(x, sc[0]), sc[1]))
        assert torch.allclose(basic(x), ref, atol=1e-5)
        act = F.relu(_bn(x, preact.bn1))
        out = _conv(F.relu(_bn(_conv(act, preact.conv1), preact.bn2)), preact.conv2)
        assert torch.allclose(preact(x), out + _conv(act, preact.shortcut[0]), atol=1e-5)
        act = F.relu(_bn(x, wide.bn1))
        out = _conv(F.relu(_bn(_conv(act, wide.conv1), wide.bn2)), wide.conv2)
        assert torch.allclose(wide(x), out + _conv(act, wide.convShortcut), atol=1e-5)
        act = F.relu(_bn(x, wide_eq.bn1))
        out = _conv(F.relu(_bn(_conv(act, wide_eq.conv1), wide_eq.bn2)), wide_eq.conv2)
        assert torch.allclose(wide_eq(x), x + out, atol=1e-5)


def test_tiny_wideresnet_matches_composed_reference() -> None:
    torch.manual_seed(2)
    model = WideResNet(depth=10, widen_factor=1, num_classes=3)
    _randomize_bn(model)
    model.eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        h = model.conv1(x)
        for stage in (model.block1, model.block2, model.block3):
            for block in stage.layer:
                h = block(h)
        h = F.relu(_bn(h, model.bn1)).mean(dim=(2, 3))
        assert torch.allclose(model(x), h @ model.fc.weight.T + model.fc.bias, atol=1e-5)


def test_wideresnet_drops_trades_sub_block1_keys() -> None:
    src, dst = WideResNet(10, 1, num_classes=3), WideResNet(10, 1, num_classes=3)
    sd = dict(src.state_dict())
    extra = {f"sub_block1.{k}": v.clone() for k, v in src.block1.state_dict().items()}
    dst.load_state_dict({**sd, **extra}, strict=True)
    assert torch.equal(dst.fc.weight, src.fc.weight)
    with pytest.raises(RuntimeError):
        dst.load_state_dict({**sd, "other.weight": torch.zeros(1)}, strict=True)


# ---------------------------------------------------------------- heads and wrappers


def test_cosine_head_against_hand_computation() -> None:
    head = CosineHead(2, 2, scale=10.0, gamma=0.0)
    head.weight.data = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    f = torch.tensor([[3.0, 4.0]])
    assert torch.allclose(head.cosine(f), torch.tensor([[0.6, 0.8]]))
    assert torch.allclose(head(f), torch.tensor([[6.0, 8.0]]))
    head.gamma = 1.0  # W_0 / (1 + 1), W_1 / (2 + 1)
    assert torch.allclose(head.cosine(f), torch.tensor([[0.3, 0.8 * 2 / 3]]))
    assert torch.allclose(head(f), torch.tensor([[3.0, 16 / 3]]))
    assert list(head.state_dict()) == ["weight"]


def test_create_model_cosine_head_keeps_key_names() -> None:
    model = create_model("test_mlp", num_classes=3, input_size=4, head="cosine", head_scale=5.0)
    assert isinstance(model.head, CosineHead) and model.head.scale == 5.0
    assert "fc2.weight" in model.state_dict() and "fc2.bias" not in model.state_dict()
    x = torch.rand(2, 3, 4, 4)
    assert torch.allclose(model(x), 5.0 * model.head.cosine(model.features(x)))
    keys = _meta("resnet18", head="cosine", head_gamma=1 / 32).state_dict()
    assert "linear.weight" in keys and "linear.bias" not in keys and "head.weight" not in keys


def test_head_assignment_replaces_the_named_layer() -> None:
    model = create_model("test_cnn", num_classes=4, in_channels=1, input_size=12)
    assert isinstance(model.head, LinearHead) and model.head is model.fc
    model.head = CosineHead(model.fc.in_features, 4)
    assert isinstance(model.fc, CosineHead)
    assert sorted(k for k in model.state_dict() if "fc" in k or "head" in k) == ["fc.weight"]


def test_normalize_against_hand_computation() -> None:
    norm = Normalize([0.5, 0.25], [0.5, 2.0])
    assert norm.mean.shape == (1, 2, 1, 1) and norm.std.shape == (1, 2, 1, 1)
    out = norm(torch.ones(1, 2, 2, 2))
    assert torch.allclose(out[0, 0], torch.full((2, 2), 1.0))
    assert torch.allclose(out[0, 1], torch.full((2, 2), 0.375))
    with pytest.raises(ConfigError):
        Normalize([0.5], [0.0])


def test_create_model_with_mean_std_wraps_in_normalized_model() -> None:
    torch.manual_seed(3)
    model = create_model(
        "test_linear", num_classes=2, in_channels=1, input_size=2, mean=[0.5], std=[0.25]
    )
    assert isinstance(model, NormalizedModel)
    x = torch.rand(3, 1, 2, 2)
    w, b = model.net.weight, model.net.bias
    expected = ((x - 0.5) / 0.25).flatten(1) @ w.T + b
    assert torch.allclose(model(x), expected, atol=1e-6)
    assert torch.allclose(model.features(x), ((x - 0.5) / 0.25).flatten(1))
    assert model.head is model.net.linear
    with pytest.raises(ConfigError):
        create_model("test_linear", mean=[0.5])


def test_output_select_key_and_guess() -> None:
    a, b = torch.ones(2, 3), torch.zeros(2, 3)
    select = OutputSelect(nn.Identity(), key=1)
    assert select.select((a, b)) is b and not select.guessed
    assert OutputSelect(nn.Identity(), key="1").select([a, b]) is b
    guess = OutputSelect(nn.Identity())
    assert guess.select(a) is a and not guess.guessed
    assert guess.select(("x", b, a)) is b and guess.guessed
    named = OutputSelect(nn.Identity(), key="out")
    assert named.select({"feat": a, "out": b}) is b
    logits = OutputSelect(nn.Identity())
    assert logits.select({"feat": a, "logits": b}) is b and not logits.guessed
    assert logits.select({"feat": a, "out": b}) is a and logits.guessed
    with pytest.raises(ModelOutputError):
        OutputSelect(nn.Identity()).select(("no", "tensor"))
    with pytest.raises(ModelOutputError, match="keys: feat"):
        named.select({"feat": a})
    with pytest.raises(ModelOutputError):
        OutputSelect(nn.Identity(), key=5).select((a, b))


def test_logit_adjusted_adds_bias_and_checks_count() -> None:
    model = LogitAdjusted(nn.Identity(), [1.0, -2.0])
    assert torch.equal(model(torch.zeros(1, 2)), torch.tensor([[1.0, -2.0]]))
    with pytest.raises(ModelOutputError):
        model(torch.zeros(1, 3))


# ---------------------------------------------------------------- checkpoints


@pytest.fixture
def tiny_net() -> nn.Module:
    torch.manual_seed(4)
    return create_model("test_cnn", num_classes=4, in_channels=1, input_size=12).eval()


@pytest.fixture
def x12() -> torch.Tensor:
    return torch.rand(5, 1, 12, 12, generator=torch.Generator().manual_seed(5))


def test_save_checkpoint_round_trip_with_logit_adjustment(tmp_path: Path, x12: torch.Tensor):
    torch.manual_seed(6)
    model = create_model(
        "test_cnn",
        num_classes=4,
        in_channels=1,
        input_size=12,
        head="cosine",
        head_scale=5.0,
        head_gamma=0.1,
        mean=[0.4],
        std=[0.2],
    ).eval()
    bias = [0.5, -0.25, 0.0, 1.5]
    path = tmp_path / "ck" / "model.pt"
    save_checkpoint(
        path,
        model,
        arch="test_cnn",
        model_args={"head": "cosine", "head_scale": 5.0, "head_gamma": 0.1},
        input_spec={"channels": 1, "size": 12},
        num_classes=4,
        dataset="synthetic",
        class_counts=[50, 20, 8, 3],
        class_names=["a", "b", "c", "d"],
        method="robal",
        method_config={"tau_p": 0.1, "groups": ("head", "tail")},
        logit_adjustment=bias,
        history=[{"epoch": 1, "loss": 0.5}],
        extra={"seed": 0},
    )
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "ltrobust-checkpoint" and raw["format_version"] == 1
    assert raw["input_spec"] == {
        "channels": 1,
        "size": 12,
        "mean": [pytest.approx(0.4)],
        "std": [pytest.approx(0.2)],
    }
    assert raw["model_args"]["num_classes"] == 4 and raw["model_args"]["input_size"] == 12
    assert sorted(raw["state_dict"]) == sorted(model.net.state_dict())
    assert raw["method_config"]["groups"] == ["head", "tail"]

    loaded = load_model(path)
    assert loaded.format == "ltrobust" and loaded.arch == "test_cnn" and loaded.num_classes == 4
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == sha256_file(path)
    assert loaded.class_counts == [50, 20, 8, 3] and loaded.dataset == "synthetic"
    assert loaded.logit_adjustment == bias and loaded.meta["method"] == "robal"
    assert loaded.meta["history"] == [{"epoch": 1, "loss": 0.5}]
    assert not loaded.model.training and loaded.warnings == []
    with torch.no_grad():
        expected = model(x12) + torch.tensor(bias)
        assert torch.allclose(loaded.model(x12), expected, atol=1e-6)
        assert not torch.allclose(loaded.model(x12), model(x12), atol=1e-2)


def test_save_checkpoint_rejects_non_json_values(tmp_path: Path, tiny_net: nn.Module) -> None:
    with pytest.raises(TypeError, match="extra"):
        save_checkpoint(
            tmp_path / "m.pt",
            tiny_net,
            arch="test_cnn",
            model_args={},
            input_spec={"channels": 1, "size": 12},
            num_classes=4,
            extra={"bad": object()},
        )
    assert not (tmp_path / "m.pt").exists()
    with pytest.raises(ValueError, match="class_counts"):
        save_checkpoint(
            tmp_path / "m.pt",
            tiny_net,
            arch="test_cnn",
            model_args={},
            input_spec={"channels": 1, "size": 12},
            num_classes=4,
            class_counts=[1, 2],
        )


def test_ltrobust_checkpoint_conflicting_args(tmp_path: Path, tiny_net: nn.Module) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(
        path,
        tiny_net,
        arch="test_cnn",
        model_args={},
        input_spec={"channels": 1, "size": 12},
        num_classes=4,
    )
    with pytest.raises(ModelLoadError, match="arch=test_cnn but arch=resnet18"):
        load_model(path, arch="resnet18")
    with pytest.raises(ModelLoadError, match="num_classes=4 but num_classes=10"):
        load_model(path, num_classes=10)
    loaded = load_model(path, mean=[0.5], std=[0.5])
    assert isinstance(loaded.model, NormalizedModel) and len(loaded.warnings) == 1


# ---------------------------------------------------------------- foreign formats


def test_foreign_state_dict_nested_with_module_prefix(tmp_path, tiny_net, x12) -> None:
    path = tmp_path / "foreign.pth"
    sd = {f"module.{k}": v for k, v in tiny_net.state_dict().items()}
    torch.save({"state_dict": sd, "epoch": 7, "optimizer": {"lr": 0.1}}, path)
    loaded = load_model(path, arch="test_cnn", input_size=12)
    assert loaded.format == "state_dict"
    assert loaded.num_classes == 4 and loaded.input_spec["channels"] == 1  # inferred
    assert loaded.meta["container_key"] == "state_dict"
    assert loaded.meta["stripped_prefixes"] == ["module."] and loaded.meta["fields"]["epoch"] == 7
    with torch.no_grad():
        assert torch.allclose(loaded.model(x12), tiny_net(x12), atol=1e-6)
    assert any("normalisation" in w for w in loaded.warnings)


def test_foreign_state_dict_with_normalization_buffers(tmp_path, tiny_net, x12) -> None:
    path = tmp_path / "rb.pt"
    sd = {f"model.{k}": v for k, v in tiny_net.state_dict().items()}
    sd.update({"normalize.mean": torch.tensor([0.3]), "normalize.std": torch.tensor([0.7])})
    torch.save(sd, path)
    loaded = load_model(path, arch="test_cnn", input_size=12)
    assert loaded.input_spec["mean"] == [pytest.approx(0.3)]
    with torch.no_grad():
        assert torch.allclose(loaded.model(x12), tiny_net((x12 - 0.3) / 0.7), atol=1e-5)


def test_foreign_state_dict_errors(tmp_path: Path, tiny_net: nn.Module) -> None:
    path = tmp_path / "sd.pt"
    torch.save(tiny_net.state_dict(), path)
    with pytest.raises(ModelLoadError) as exc:
        load_model(path)
    assert "--arch" in str(exc.value) and "no known layout" in str(exc.value)
    with pytest.raises(ModelLoadError, match="num_classes=4 .* but num_classes=5"):
        load_model(path, arch="test_cnn", num_classes=5, input_size=12)
    with pytest.raises(ModelLoadError) as exc:
        load_model(path, arch="test_mlp", input_size=12)
    msg = str(exc.value)
    assert "missing" in msg and "fc1.weight" in msg and "unexpected" in msg and "\n" not in msg
    with pytest.raises(ModelLoadError, match="shape mismatch"):
        load_model(path, arch="test_cnn", input_size=16)
    with pytest.raises(ConfigError, match="unknown architecture"):
        load_model(path, arch="vgg")


def test_sub_block1_keys_dropped_by_load_model(tmp_path, monkeypatch) -> None:
    def tiny_wrn(*, num_classes: int, in_channels: int, input_size: int) -> WideResNet:
        return WideResNet(10, 1, num_classes=num_classes, in_channels=in_channels)

    tiny = Entry("test_tiny_wrn", tiny_wrn, "a WideResNet-10-1", hidden=True)
    monkeypatch.setattr(registry_module, "MODELS", registry_module.MODELS.extended(tiny))
    src = create_model("test_tiny_wrn", num_classes=3).eval()
    sd = dict(src.state_dict())
    sd.update({f"sub_block1.{k}": v for k, v in src.block1.state_dict().items()})
    torch.save({"net": sd}, tmp_path / "trades.pt")
    loaded = load_model(tmp_path / "trades.pt", arch="test_tiny_wrn")
    assert loaded.num_classes == 3 and any("sub_block1" in w for w in loaded.warnings)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), src(x), atol=1e-6)


def test_unreadable_files(tmp_path: Path, tiny_net: nn.Module) -> None:
    with pytest.raises(ModelLoadError, match="checkpoint not found"):
        load_model(tmp_path / "nope.pt")
    good = tmp_path / "good.pt"
    torch.save(tiny_net.state_dict(), good)
    data = good.read_bytes()
    legacy = tmp_path / "legacy.pt"
    torch.save(tiny_net.state_dict(), legacy, _use_new_zipfile_serialization=False)
    old = legacy.read_bytes()
    bad = {
        "trunc.pt": data[: len(data) // 2],
        "legacy_trunc.pt": old[: old.index(b"_rebuild_tensor") + 6],  # cut inside a name
        "text.pt": b"hello world\n",
        "empty.pt": b"",
    }
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelLoadError) as exc:
            load_model(tmp_path / name, arch="test_cnn")
        assert str(exc.value).startswith(f"cannot read checkpoint {tmp_path / name}: ")
        assert "\n" not in str(exc.value) and "pickled" not in str(exc.value)


def test_pickled_module_needs_unsafe_load(tmp_path: Path, tiny_net: nn.Module, x12) -> None:
    path = tmp_path / "whole.pt"
    torch.save(tiny_net, path)
    with pytest.raises(ModelLoadError) as exc:
        load_model(path)
    assert "pickled Python object" in str(exc.value) and "--unsafe-load" in str(exc.value)
    loaded = load_model(path, unsafe_load=True, mean=[0.0], std=[1.0])
    assert loaded.format == "pickle" and isinstance(loaded.model, OutputSelect)
    assert not loaded.model.training
    with torch.no_grad():
        assert torch.allclose(loaded.model(x12), tiny_net(x12), atol=1e-6)


class _TupleNet(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.features(x), self.net(x)


def _trace(module: nn.Module, x: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(module, x).save(str(path))


def test_torchscript_loads_and_matches(tmp_path: Path, tiny_net: nn.Module, x12) -> None:
    path = tmp_path / "ts.pt"
    _trace(tiny_net, x12[:1], path)
    loaded = load_model(path, num_classes=4)
    assert loaded.format == "torchscript" and loaded.num_classes == 4
    with torch.no_grad():
        assert torch.allclose(loaded.model(x12), tiny_net(x12), atol=1e-5)
    assert not loaded.output_guessed


def test_torchscript_tuple_output_with_key_and_guess(tmp_path, tiny_net, x12) -> None:
    path = tmp_path / "tuple.pt"
    _trace(_TupleNet(tiny_net).eval(), x12[:1], path)
    with torch.no_grad():
        keyed = load_model(path, output_key="1")
        assert torch.allclose(keyed.model(x12), tiny_net(x12), atol=1e-5)
        assert not keyed.output_guessed
        guessed = load_model(path)
        assert not guessed.output_guessed
        out = guessed.model(x12)
        assert guessed.output_guessed and out.shape == (5, tiny_net.fc.in_features)
        assert torch.allclose(out, tiny_net.features(x12), atol=1e-5)
