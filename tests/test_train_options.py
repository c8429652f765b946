"""Typed training-method options: one frozen dataclass per method, checked when made, stored
flat as before (old checkpoints and ``last.pt`` files read and resume unchanged)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltrobust.errors import ConfigError
from ltrobust.settings import setting_of
from ltrobust.train import RunOptions, resolve_config, train
from ltrobust.train.config import TrainConfig
from ltrobust.train.method_options import METHOD_OPTIONS, AfrOptions, CmoOptions, RobalOptions
from ltrobust.train.options import LossOptions, MethodOptions, MixOptions
from ltrobust.train.registry import METHODS, method_spec

ROOT = Path(__file__).parent.parent
#: the bundled checkpoints: real files written before the options were typed
BUNDLED = sorted((ROOT / "checkpoints").glob("*.pt"))


def _stored(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["method_config"]


def test_every_row_names_its_frozen_options_class():
    assert {e.name: e.settings.options for e in METHODS} == METHOD_OPTIONS
    for cls in set(METHOD_OPTIONS.values()):
        assert issubclass(cls, MethodOptions) and cls.__dataclass_params__.frozen
        for f in dataclasses.fields(cls):
            spec = setting_of(f)
            assert spec is not None and spec.help and spec.panel == "Method hyper-parameters"
    with pytest.raises(dataclasses.FrozenInstanceError):
        LossOptions().loss = "bsl"  # type: ignore[misc]


def test_shared_groups_are_shared_not_retyped():
    for cls in (CmoOptions, AfrOptions):
        assert issubclass(cls, LossOptions) and issubclass(cls, MixOptions)
    loss = {f.name: setting_of(f) for f in dataclasses.fields(LossOptions)}
    afr = {f.name: setting_of(f) for f in dataclasses.fields(AfrOptions)}
    assert all(afr[k] is v for k, v in loss.items())  # the same declarations, loss's too
    assert AfrOptions().loss == "bsl" and CmoOptions().loss == "ce"


def test_row_holds_the_common_defaults():
    assert method_spec("robal").defaults() == {
        "batch_size": 64,
        "weight_decay": 2e-4,
        "attack_steps": 5,
    }
    assert method_spec("afr").defaults()["epochs"] == 250 and method_spec("at").epochs is None


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_checkpoints_read_back_exactly(path):
    stored = _stored(path)
    config = TrainConfig.from_dict(stored)
    assert type(config.options) is METHOD_OPTIONS[stored["method"]]
    again = config.to_dict()["options"]
    assert list(again.items()) == list(stored["options"].items())  # keys, order and values
    flat = config.flat()
    assert all(flat[k] == v for k, v in stored["options"].items())


def test_unknown_option_refused_with_one_line_naming_it():
    at = _stored(ROOT / "checkpoints" / "small_cnn-at-bsl-fmnist-lt.pt")
    stored = {**at, "options": {**at["options"], "tua_p": 1}}
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict(stored)
    text = str(caught.value)
    assert "'tua_p'" in text and "--method at" in text and "\n" not in text
    with pytest.raises(ConfigError, match="--tua-p does not apply to --method at"):
        resolve_config("at", "fashion-mnist-lt", {"tua_p": 1.0})
    with pytest.raises(ConfigError, match="unknown option 'x' for RobalOptions"):
        RobalOptions.from_dict({"x": 1})
    with pytest.raises(ConfigError, match="--method trades takes TradesOptions, not LossOptions"):
        TrainConfig(method="trades", dataset="cifar10-lt", arch="resnet18", options=LossOptions())


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: LossOptions(loss="xx"), "unknown loss 'xx'; valid: ce, bsl, la, ldam, cb, focal"),
        (lambda: LossOptions(la_tau="a"), "--la-tau must be a number, got 'a'"),
        (lambda: LossOptions(cb_beta=1.0), "--cb-beta must be in [0, 1), got 1.0"),
        (lambda: MixOptions(cmo_skip_last=1.5), "--cmo-skip-last must be an integer >= 0"),
        (lambda: AfrOptions(afr_split="both"), "unknown --afr-split 'both'; valid: text, eq2"),
        (lambda: AfrOptions(regen_every=True), "--regen-every must be a positive integer"),
        (lambda: AfrOptions(stage2_lr=-1), "--stage2-lr must be a number in (0, 100], got -1"),
        (lambda: AfrOptions().replace(afr_head_steps=-1), "--afr-head-steps must be >= 0"),
    ],
)
def test_values_are_checked_when_made(make, needle):
    with pytest.raises(ConfigError) as caught:
        make()
    assert str(caught.value) == needle


def test_the_options_modules_and_the_table_load_no_torch():
    code = (
        "import sys\nimport ltrobust.train.registry, ltrobust.train.config\n"
        "ltrobust.train.registry.method_spec('afr')\nprint('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def _images(counts: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.cat([torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(counts)])
    protos = torch.rand((len(counts), 1, 12, 12), generator=torch.Generator().manual_seed(3))
    noise = torch.randn((len(y), 1, 12, 12), generator=torch.Generator().manual_seed(seed))
    return (protos[y] + 0.25 * noise).clamp(0, 1), y


def test_a_last_pt_of_the_old_format_resumes_bit_identical(tmp_path):
    """A ``last.pt`` whose options are the flat dict of a real old checkpoint (REAT's, read from
    the bundled file) resumes, and ends as the uninterrupted run with the same options."""
    x, y = _images([30, 16, 8, 4], 1)
    torch.save({"x": x, "y": y}, tmp_path / "train.pt")
    old = _stored(ROOT / "checkpoints" / "small_cnn-reat-fmnist-lt.pt")["options"]
    given = {"arch": "test_cnn", "epochs": 2, "batch_size": 16, "eps": 0.1, "attack_steps": 2}
    config = resolve_config("reat", f"tensors:{tmp_path / 'train.pt'}", {**given, **old})
    full = train(config, RunOptions(out=tmp_path / "full"))
    out = tmp_path / "split"
    train(config, RunOptions(out=out, stop_after=1))
    ckpt = torch.load(out / "last.pt", weights_only=True)
    ckpt["method_config"]["options"] = dict(old)  # exactly as the old code wrote it
    torch.save(ckpt, out / "last.pt")
    resumed = train(config, RunOptions(out=out, resume=out / "last.pt"))
    a = torch.load(full.final_path, weights_only=True)
    b = torch.load(resumed.final_path, weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert list(b["method_config"]["options"].items()) == list(old.items())
