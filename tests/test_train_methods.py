"""Short training runs on synthetic long-tailed data: every method raises PGD accuracy over the
untrained model, and its checkpoints are self-describing and load for the audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ltrobust.models import LogitAdjusted, create_model, load_model
from ltrobust.train import RunOptions, resolve_config, train
from ltrobust.train.monitor import evaluate, load_monitor

from .conftest import NUM_CLASSES, TRAIN_COUNTS, synthetic

SETTINGS = {
    "arch": "test_mlp",
    "epochs": 4,
    "lr": 0.05,
    "batch_size": 32,
    "eps": 0.1,
    "attack_step": 0.04,
    "attack_steps": 3,
    "monitor_n": 120,
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("train-data")
    x, y = synthetic(TRAIN_COUNTS, seed=1)
    torch.save({"x": x, "y": y}, d / "train.pt")
    x, y = synthetic([40] * NUM_CLASSES, seed=2)
    torch.save({"x": x, "y": y}, d / "test.pt")
    return {"dataset": f"tensors:{d / 'train.pt'}", "test_dataset": f"tensors:{d / 'test.pt'}"}


def _config(method: str, data: dict[str, str], **extra):
    given = {**SETTINGS, "test_dataset": data["test_dataset"], **extra}
    return resolve_config(method, data["dataset"], given)


def _untrained_pgd(config, model_kwargs) -> float:
    """PGD-20 accuracy of a freshly initialised model on the monitoring set."""
    torch.manual_seed(1)
    net = create_model(
        config.arch, num_classes=NUM_CLASSES, in_channels=1, input_size=12, **model_kwargs
    )
    mset = load_monitor(config, TRAIN_COUNTS, None)
    assert mset is not None
    return float(evaluate(net, mset, torch.device("cpu"))["monitor_pgd20_acc"])


@pytest.mark.parametrize(
    ("method", "extra"),
    [("at", {"loss": "ce"}), ("at", {"loss": "bsl"}), ("trades", {}), ("robal", {}), ("reat", {})],
)
def test_short_run_raises_robust_accuracy(method, extra, data, tmp_path):
    config = _config(method, data, **extra)
    result = train(config, RunOptions(out=tmp_path))
    assert result.final_path == tmp_path / "final.pt" and result.epochs_done == 4
    last = result.history[-1]
    kwargs = (
        {"head": "cosine", "head_scale": 10.0, "head_gamma": 1 / 32} if method == "robal" else {}
    )
    before = _untrained_pgd(config, kwargs)
    assert last["monitor_pgd20_acc"] > before + 0.2, (before, result.history)
    assert last["loss"] < result.history[0]["loss"]
    assert {"monitor_pgd20_head", "monitor_clean_tail", "train_adv_acc"} <= set(last)
    # the audit loads the final checkpoint with no flags and sees the same deployed model
    loaded = load_model(result.final_path)
    assert loaded.dataset == config.dataset and loaded.class_counts == TRAIN_COUNTS
    assert loaded.meta["method"] == method and loaded.meta["method_config"]["epochs"] == 4
    assert isinstance(loaded.model, LogitAdjusted) == (method == "robal")


def test_loss_terms_lr_schedule_and_files(data, tmp_path):
    config = _config("reat", data, crop_padding=1, hflip=True, tail_form="paper")
    result = train(config, RunOptions(out=tmp_path))
    rows = result.history
    assert [r["lr"] for r in rows] == pytest.approx([0.05, 0.05, 0.05, 0.005])  # 75%: epoch 3
    assert all({"bsl", "tail", "loss"} <= set(r) for r in rows)
    assert rows[0]["loss"] == pytest.approx(rows[0]["bsl"] + rows[0]["tail"])
    header = (tmp_path / "history.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["epoch", "lr", "seconds"] and "monitor_pgd20_tail" in header
    assert len(json.loads((tmp_path / "history.json").read_text())) == 4
    counts = json.loads((tmp_path / "adv_counts.json").read_text())["epochs"]
    assert [sum(map(sum, e["counts"])) for e in counts] == [sum(TRAIN_COUNTS)] * 4
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["extra"]["resume"]["epoch"] == 4
    assert ckpt["extra"]["adv_counts"].shape == (4, NUM_CLASSES, NUM_CLASSES)
    # REAT's counts for the next epoch are the last epoch's predicted-class totals
    a = ckpt["extra"]["resume"]["method"]["adv_counts"]
    assert a.tolist() == ckpt["extra"]["adv_counts"][-1].sum(0).double().tolist()
    assert "resume" not in torch.load(tmp_path / "final.pt", weights_only=True)["extra"]


@pytest.mark.parametrize("loss", ["la", "ldam", "cb", "focal"])
def test_other_at_losses_train(loss, data, tmp_path):
    config = _config("at", data, loss=loss, epochs=2, monitor_n=0)
    result = train(config, RunOptions(out=tmp_path))
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert "monitor_pgd20_acc" not in result.history[-1]


def test_existing_run_is_not_overwritten(data, tmp_path):
    config = _config("at", data, epochs=1, monitor_n=0)
    train(config, RunOptions(out=tmp_path))
    with pytest.raises(Exception, match="already holds a run"):
        train(config, RunOptions(out=tmp_path))
    train(config, RunOptions(out=tmp_path, overwrite=True))
    assert (tmp_path / "final.pt").is_file() and not list(Path(tmp_path).glob(".*.tmp"))


def test_amp_bf16_on_cpu(data, tmp_path):
    config = _config("reat", data, amp=True, epochs=2)
    result = train(config, RunOptions(out=tmp_path))
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    extra = torch.load(tmp_path / "final.pt", weights_only=True)["extra"]["training"]
    assert extra["amp_dtype"] == "torch.bfloat16" and extra["device"] == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["at", "trades", "robal", "reat"])
@pytest.mark.parametrize("amp", [False, True])
def test_cuda_training(method, amp, data, tmp_path):
    config = _config(method, data, amp=amp)
    result = train(config, RunOptions(out=tmp_path, device="cuda"))
    assert result.history[-1]["monitor_pgd20_acc"] > 0.2
    extra = torch.load(tmp_path / "final.pt", weights_only=True)["extra"]["training"]
    assert extra["device"].startswith("cuda")
    assert extra["amp_dtype"] == ("torch.float16" if amp else None)


BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints"


@pytest.mark.parametrize("name", ["at-ce", "at-bsl", "robal", "reat"])
def test_bundled_training_checkpoints_are_self_describing(name):
    path = BUNDLED / f"small_cnn-{name}-fmnist-lt.pt"
    if not path.is_file():
        pytest.skip(f"{path.name} not bundled")
    loaded = load_model(path)
    assert loaded.arch == "small_cnn" and loaded.dataset == "fashion-mnist-lt"
    assert loaded.class_counts == [6000, 3884, 2515, 1628, 1054, 682, 442, 286, 185, 120]
    config = loaded.meta["method_config"]
    assert config["epochs"] == 5 and config["seed"] == 0 and config["attack_steps"] == 5
    assert len(loaded.meta["history"]) == 5
    assert isinstance(loaded.model, LogitAdjusted) == (name == "robal")
    with torch.no_grad():
        assert loaded.model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
