"""AFR (docs/METHODS.md §4.7): the majority/minority split on embeddings with a known answer,
the adaptive thresholds, the perturbed share and budget of stage 2, resume in each stage,
--init, the preset, and a tiny end-to-end run whose checkpoint the audit reads with no flags."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

import ltrobust
from ltrobust.cli.main import app
from ltrobust.models import create_model, load_model
from ltrobust.train import RunOptions, resolve_config, train
from ltrobust.train.afr_split import (
    choose_perturbed,
    class_accuracy,
    class_cosines,
    oversample,
    split_minority,
    thresholds,
)
from ltrobust.train.augment import Augmentation
from ltrobust.train.recalibrate import RecalibrationSettings, recalibrate

from .conftest import NUM_CLASSES, TRAIN_COUNTS, synthetic

runner = CliRunner()
SMALL = [30, 18, 10, 6]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("afr-data")
    x, y = synthetic(TRAIN_COUNTS, seed=1)
    torch.save({"x": x, "y": y}, d / "train.pt")
    x, y = synthetic([20] * NUM_CLASSES, seed=2)
    torch.save({"x": x, "y": y}, d / "test.pt")
    return {"dataset": f"tensors:{d / 'train.pt'}", "test_dataset": f"tensors:{d / 'test.pt'}"}


def _given(data: dict[str, str], **extra) -> dict:
    return {
        "arch": "test_cnn",
        "epochs": 5,
        "stage2_epochs": 3,
        "regen_every": 2,
        "lr": 0.05,
        "batch_size": 32,
        "eps": 0.1,
        "warmup_epochs": 1,
        "cmo_skip_first": 0,
        "cmo_skip_last": 0,
        "afr_head_steps": 20,
        "monitor_n": 30,
        "test_dataset": data["test_dataset"],
        **extra,
    }


# ---------------------------------------------------------------- the split


def test_split_on_embeddings_with_a_known_answer():
    """Class 0: eight samples along e1 and two along e2; the class mean is (8 e1 + 2 e2) / 10,
    so the e1 samples have cosine 8 / sqrt(68) = 0.970 and the e2 samples 2 / sqrt(68) = 0.243.
    Class 1: five samples along e3, all at cosine 1."""
    e = torch.eye(3, dtype=torch.float64)
    emb = torch.cat([e[0].repeat(8, 1), e[1].repeat(2, 1), e[2].repeat(5, 1)])
    y = torch.tensor([0] * 10 + [1] * 5)
    cos = class_cosines(emb, y, 2)
    assert torch.allclose(cos[:8], torch.full((8,), 8 / 68**0.5, dtype=torch.float64))
    assert torch.allclose(cos[8:10], torch.full((2,), 2 / 68**0.5, dtype=torch.float64))
    assert torch.allclose(cos[10:], torch.ones(5, dtype=torch.float64))
    lam = torch.full((2,), 0.8, dtype=torch.float64)
    minority = split_minority(cos, y, lam, "text")  # beyond lambda: the two e2 samples
    assert minority.nonzero().flatten().tolist() == [8, 9]
    assert split_minority(cos, y, lam, "eq2").tolist() == (~minority).tolist()
    chosen = choose_perturbed(minority, y, 2, 0.5, torch.Generator().manual_seed(0))
    assert int(chosen[:8].sum()) == 4 and not chosen[8:].any()  # class 1 has no minority
    chosen = choose_perturbed(minority, y, 2, 0.3, torch.Generator().manual_seed(0))
    assert int(chosen.sum()) == 2  # round(0.3 * 8) = 2


def test_adaptive_thresholds():
    acc = torch.tensor([0.9, 0.5, 0.7], dtype=torch.float64)
    below, adaptive = thresholds(0.8, acc, 0.55, adapt_at=0.6)  # training accuracy too low
    assert below.tolist() == [0.8, 0.8, 0.8] and not adaptive
    adapted, adaptive = thresholds(0.8, acc, 0.75, adapt_at=0.6)
    assert adapted.tolist() == [0.8, 0.5, 0.7] and adaptive  # classes below 0.75: own accuracy
    pred, y = torch.tensor([0, 0, 1, 0, 2, 2]), torch.tensor([0, 0, 1, 1, 2, 1])
    assert class_accuracy(pred, y, 3).tolist() == [1.0, 1 / 3, 1.0]


def test_oversample_gives_every_class_the_largest_count():
    y = torch.repeat_interleave(torch.arange(4), torch.tensor(SMALL))
    idx = oversample(y, 4, torch.Generator().manual_seed(0))
    assert torch.bincount(y[idx]).tolist() == [30] * 4
    uses = torch.bincount(idx, minlength=len(y))
    assert uses[:30].tolist() == [1] * 30 and set(uses[48:58].tolist()) == {3}  # 30 / 10
    assert set(uses[30:48].tolist()) == {1, 2} and set(uses[58:].tolist()) == {5}


def test_stage2_perturbs_the_share_of_majority_within_the_budget():
    torch.manual_seed(0)
    x, y = synthetic(SMALL + [4, 3], seed=3)
    net = create_model("test_cnn", num_classes=NUM_CLASSES, in_channels=1, input_size=12).eval()
    settings = RecalibrationSettings(lam=0.97, share=0.5, steps=3, step=0.02, head_steps=30)
    counts = torch.tensor(SMALL + [4, 3], dtype=torch.float64)
    out = recalibrate(
        net, (x, y), counts, Augmentation(), settings, torch.Generator().manual_seed(4), "cpu"
    )
    idx = oversample(y, NUM_CLASSES, torch.Generator().manual_seed(4))  # the same draws
    assert torch.equal(out.y, y[idx]) and torch.bincount(out.y).tolist() == [30] * NUM_CLASSES
    original = x[idx]
    for c in range(NUM_CLASSES):
        mine = out.y == c
        majority = int((mine & ~out.minority).sum())
        expected = int(0.5 * majority + 0.5) if (mine & out.minority).any() else 0
        assert int((mine & out.perturbed).sum()) == expected
    assert int(out.perturbed.sum()) > 0 and not (out.perturbed & out.minority).any()
    delta = (out.x - original).abs().flatten(1).amax(dim=1)
    assert float(delta[out.perturbed].max()) <= 3 * 0.02 + 1e-6
    assert float(delta[out.perturbed].min()) > 0 and float(delta[~out.perturbed].max()) == 0
    assert 0 <= out.x.min() and out.x.max() <= 1
    assert out.stats["afr_perturbed"] == float(out.perturbed.sum())
    assert out.stats["afr_linf"] <= 0.06 + 1e-6 and out.stats["afr_moved_to_minority"] > 0


# ---------------------------------------------------------------- runs


def test_tiny_end_to_end_run_and_flagless_audit(data, tmp_path):
    config = resolve_config("afr", data["dataset"], _given(data))
    result = train(config, RunOptions(out=tmp_path))
    rows = result.history
    # stage 1: 2 epochs at 0.05 (warm-up 1); stage 2: 3 epochs at 0.01, x0.1 after 80% (2)
    assert [r["lr"] for r in rows] == pytest.approx([0.05, 0.05, 0.01, 0.01, 0.001])
    assert (
        "afr_perturbed" in rows[2] and "afr_perturbed" not in rows[3] and "afr_seconds" in rows[4]
    )
    assert [r["mixed_share"] for r in rows[2:]] == pytest.approx([0.25] * 3, abs=0.01)
    assert rows[-1]["monitor_clean_acc"] > 0.5
    loaded = load_model(result.final_path)
    assert loaded.meta["method"] == "afr" and loaded.arch == "test_cnn"
    assert loaded.meta["method_config"]["options"]["afr_lambda"] == 0.8
    report = ltrobust.audit(str(result.final_path), attacks=["fgsm"], n=24, diagnose=False)
    assert report.dataset["groups_mode"] == "thirds"  # TRAIN_COUNTS has no few-shot class


@pytest.mark.parametrize("stop", [1, 3])  # inside stage 1; inside a stage-2 cycle
def test_resume_in_each_stage_is_bit_identical(stop, data, tmp_path):
    config = resolve_config("afr", data["dataset"], _given(data, monitor_n=0))
    full = train(config, RunOptions(out=tmp_path / "full"))
    out = tmp_path / "split"
    train(config, RunOptions(out=out, stop_after=stop))
    resumed = train(config, RunOptions(out=out, resume=out / "last.pt"))
    a = torch.load(full.final_path, weights_only=True)["state_dict"]
    b = torch.load(resumed.final_path, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in r.items() if "seconds" not in k} for r in full.history]
    assert strip == [{k: v for k, v in r.items() if "seconds" not in k} for r in resumed.history]


def test_stage2_alone_from_init(data, tmp_path):
    afr_only = ("stage2_epochs", "regen_every", "afr_head_steps")
    given = {k: v for k, v in _given(data, monitor_n=0).items() if k not in afr_only}
    cmo = resolve_config("cmo", data["dataset"], {**given, "epochs": 6, "loss": "bsl"})
    stage1 = train(cmo, RunOptions(out=tmp_path / "cmo")).final_path
    given = _given(data, monitor_n=0, init=str(stage1))
    del given["epochs"], given["arch"]
    config = resolve_config("afr", data["dataset"], given)
    assert config.epochs == 3 and config.arch == "test_cnn"  # from --stage2-epochs, the file
    result = train(config, RunOptions(out=tmp_path / "afr"))
    first_row = result.history[0]
    assert first_row["lr"] == pytest.approx(0.01) and "afr_perturbed" in first_row
    # the first split saw the stage-1 weights (a new test_cnn predicts one class: about 0.4)
    assert first_row["afr_train_acc"] > 0.8
    first = torch.load(stage1, weights_only=True)["state_dict"]
    with pytest.raises(Exception, match="must equal --stage2-epochs 3"):
        resolve_config("afr", data["dataset"], {**given, "epochs": 5})
    assert first.keys() == torch.load(result.final_path, weights_only=True)["state_dict"].keys()


def test_preset_holds_the_paper_values():
    config = resolve_config("afr", "cifar100-lt", {"preset": "afr-cifar100"})
    assert (config.arch, config.imbalance_ratio, config.epochs, config.batch_size) == (
        "resnet32",
        100.0,
        250,
        128,
    )
    assert (config.weight_decay, config.warmup_epochs, config.lr_steps) == (
        2e-4,
        5,
        "160:0.01,180:0.0001",
    )
    assert (config.augment, config.cutout, config.crop_padding, config.hflip) == (
        "autoaugment",
        16,
        4,
        True,
    )
    o = config.options
    assert (o.stage2_epochs, o.regen_every, o.afr_steps, o.afr_step) == (
        50,
        10,
        3,
        1 / 255,
    )
    assert (o.afr_lambda, o.afr_share, o.afr_mix, o.mix_beta, o.loss) == (
        0.8,
        0.5,
        0.25,
        1.0,
        "bsl",
    )
    assert resolve_config("afr", "cifar100-lt", {"preset": "afr-cifar100", "arch": "resnet18"})


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--preset", "afr-cifar100"], "is for cifar100-lt, not fashion-mnist-lt"),
        (["--preset", "cifar10-N"], "unknown AFR preset"),
        (["--epochs", "40"], "--epochs 40 must exceed --stage2-epochs 50"),
        (["--init", "/nonexistent/stage1.pt"], "--init: checkpoint not found"),
        (["--afr-lambda", "2"], "--afr-lambda must be in [-1, 1]"),
        (["--afr-split", "both"], "valid: text, eq2"),
        (["--attack-step", "1/255"], "does not apply to --method afr"),
    ],
)
def test_bad_afr_options_exit_2(args, needle):
    result = runner.invoke(
        app, ["train", "--method", "afr", "--dataset", "fashion-mnist-lt", "--quiet", *args]
    )
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_help_names_the_decisions():
    text = " ".join(runner.invoke(app, ["train", "--help"]).output.split())
    for needle in ("--afr-lambda", "--afr-split", "--stage2-lr", "--init", "--warmup-epochs"):
        assert needle in text
    assert "eps 0.6" in text and "Eq. 2" in text and "afr-cifar100" in text
