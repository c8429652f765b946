"""The registered ``resnet50``: torchvision's definition and parameter names, so that a
torchvision state_dict loads (directly, through create_model's normalisation wrapper, and
through load_model with --arch resnet50)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from ltrobust.models import create_model, load_model
from ltrobust.models.imagenet_resnet import TorchvisionResNet

CLASSES = 7


def _reference() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torchvision.models.resnet50(weights=None, num_classes=CLASSES).eval()
    for module in net.modules():  # non-trivial statistics, so that a mix-up would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net


def test_state_dict_keys_are_torchvisions() -> None:
    with torch.device("meta"):
        ours = create_model("resnet50", num_classes=CLASSES, input_size=224)
        reference = torchvision.models.resnet50(weights=None, num_classes=CLASSES)
    wrapped = create_model(
        "resnet50", num_classes=CLASSES, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]
    )
    keys = list(reference.state_dict())
    assert list(ours.state_dict()) == keys
    assert [k for k in wrapped.state_dict() if k.startswith("net.")] == [f"net.{k}" for k in keys]
    assert set(wrapped.state_dict()) - {f"net.{k}" for k in keys} == {
        "normalize.mean",
        "normalize.std",
    }
    assert isinstance(ours, TorchvisionResNet) and ours.head is ours.fc
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }


def test_a_torchvision_state_dict_loads_and_gives_torchvisions_logits(tmp_path: Path) -> None:
    reference = _reference()
    ours = create_model("resnet50", num_classes=CLASSES).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = reference(x)
        assert torch.equal(ours(x), expected)
        assert ours.features(x).shape == (2, 2048)
    file = tmp_path / "resnet50.pt"
    torch.save({"state_dict": reference.state_dict()}, file)
    loaded = load_model(file, arch="resnet50", mean=[0.5] * 3, std=[0.25] * 3)
    assert loaded.num_classes == CLASSES
    with torch.no_grad():
        assert torch.allclose(loaded.model(x), reference((x - 0.5) / 0.25), atol=1e-5)


def test_other_sizes_build() -> None:
    gray = create_model("resnet50", num_classes=3, in_channels=1).eval()
    with torch.no_grad():
        assert gray(torch.rand(1, 1, 32, 32)).shape == (1, 3)
    assert gray.conv1.weight.shape == (64, 1, 7, 7)
    with pytest.raises(Exception, match="num_classes"):
        create_model("resnet50", num_classes=0)
