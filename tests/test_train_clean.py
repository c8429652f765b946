"""The building blocks of clean long-tailed training: the lr schedule (warm-up, steps), the
augmentation policies and Cutout, CMO's mixing (areas, labels, a class-balanced patch source),
and short ``ce`` / ``cmo`` runs."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.errors import ConfigError
from ltrobust.train import RunOptions, resolve_config, train
from ltrobust.train.augment import Augmentation, cutout
from ltrobust.train.base import TrainData
from ltrobust.train.checkpoint import load_scheduler
from ltrobust.train.cmo import Cmo
from ltrobust.train.losses import LogitAdjustedCE
from ltrobust.train.mixing import (
    Boxes,
    balanced_indices,
    draw_boxes,
    mix_some,
    mixed_loss,
    sample_beta,
)
from ltrobust.train.schedule import build_optimizer, lr_factor, parse_lr_steps, step_schedule

from .conftest import NUM_CLASSES, TRAIN_COUNTS, synthetic

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("clean-data")
    x, y = synthetic(TRAIN_COUNTS, seed=1)
    torch.save({"x": x, "y": y}, d / "train.pt")
    x, y = synthetic([20] * NUM_CLASSES, seed=2)
    torch.save({"x": x, "y": y}, d / "test.pt")
    return {"dataset": f"tensors:{d / 'train.pt'}", "test_dataset": f"tensors:{d / 'test.pt'}"}


# ---------------------------------------------------------------- schedule


def test_cmo_recipe_schedule_warmup_and_steps():
    """LDAM-DRW's / CMO's adjust_learning_rate: lr x t/5 for t <= 5, x0.01 after 160, x0.0001
    after 180 of 200 epochs; the percentage form is the same schedule."""
    for steps in ("160:0.01,180:0.0001", "80%:0.01,90%:0.0001"):
        f = [lr_factor(t, length=200, warmup=5, steps=steps) for t in range(1, 201)]
        assert f[:5] == [0.2, 0.4, 0.6, 0.8, 1.0]
        assert set(f[5:160]) == {1.0} and set(f[160:180]) == {0.01} and set(f[180:]) == {1e-4}
    default = [lr_factor(t, length=80, warmup=0, steps="75%:0.1,93.75%:0.01") for t in (60, 61, 76)]
    assert default == [1.0, 0.1, 0.01]
    assert parse_lr_steps(" 160:0.01, 93.750%:1e-4 ") == "160:0.01,93.75%:0.0001"
    for bad in ("160", "160:0", "0:0.1", "1.5:0.1", "120%:0.1", "a:b"):
        with pytest.raises(ConfigError, match="--lr-steps"):
            parse_lr_steps(bad)


def test_last_pt_of_a_multisteplr_run_still_resumes():
    """Checkpoints written before the LambdaLR hold a MultiStepLR state: its epoch count is what
    the LambdaLR takes, and the factors come from the configuration."""
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    old = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 4], gamma=0.1)
    for _ in range(3):
        opt.step()
        old.step()
    state = {**old.state_dict(), "milestones": {3: 1, 4: 1}}  # as torch.load returns it
    opt2, new = build_optimizer(
        torch.nn.Linear(2, 2),
        lr=0.1,
        momentum=0.9,
        weight_decay=0,
        factor=step_schedule(4, 0, None),
    )
    opt2.load_state_dict(opt.state_dict())
    load_scheduler(new, state)
    assert new.last_epoch == 3 and opt2.param_groups[0]["lr"] == pytest.approx(0.01)
    opt2.step()
    new.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.001)


# ---------------------------------------------------------------- augmentation


def test_cutout_zeroes_one_clipped_square():
    x = torch.ones(200, 1, 10, 10)
    out = cutout(x, 4, torch.Generator().manual_seed(0))
    zeros = (out == 0).flatten(1).sum(1)
    assert zeros.max() == 16 and zeros.min() >= 4  # 4 x 4, or clipped to 2 x 2 in a corner
    rows = (out[:, 0] == 0).any(dim=2).sum(1)
    assert set(rows.tolist()) <= {2, 3, 4}


@pytest.mark.parametrize("policy", ["autoaugment", "randaugment"])
def test_policies_follow_the_generator_and_leave_global_rng(policy):
    x = (torch.rand(12, 3, 8, 8, generator=torch.Generator().manual_seed(3)) * 255).round() / 255
    aug = Augmentation(padding=1, hflip=True, policy=policy, cutout=2)
    state = torch.get_rng_state()
    a = aug(x, torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state)
    b = aug(x, torch.Generator().manual_seed(5))
    c = aug(x, torch.Generator().manual_seed(6))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert 0 <= float(a.min()) and float(a.max()) <= 1
    assert aug.basic() == Augmentation(padding=1, hflip=True)
    grey = aug(x[:, :1], torch.Generator().manual_seed(5))  # 1-channel images work too
    assert grey.shape == (12, 1, 8, 8)


# ---------------------------------------------------------------- mixing


def test_boxes_areas_and_label_weights():
    gen = torch.Generator().manual_seed(0)
    lam = torch.tensor([0.0, 0.36, 0.75, 1.0], dtype=torch.float64)
    boxes = draw_boxes(lam, 10, 10, gen)
    h = boxes.bottom - boxes.top
    w = boxes.right - boxes.left
    assert (h <= torch.tensor([10, 8, 5, 0])).all() and (w >= 0).all()
    mask = boxes.mask(10, 10)
    assert mask.sum(dim=(1, 2, 3)).tolist() == (h * w).tolist()
    assert torch.allclose(boxes.kept(10, 10), 1 - (h * w).float() / 100)
    # the box of CMO's rand_bbox: side int(10 sqrt(1 - lam)), centre +- side // 2, clipped
    one = Boxes(torch.tensor([3]), torch.tensor([7]), torch.tensor([0]), torch.tensor([2]))
    assert one.kept(10, 10).item() == pytest.approx(1 - 8 / 100)


def test_beta_draws():
    gen = torch.Generator().manual_seed(0)
    for alpha in (1.0, 0.5, 2.0):
        b = sample_beta(alpha, 20000, gen)
        assert 0 <= float(b.min()) and float(b.max()) <= 1
        assert float(b.mean()) == pytest.approx(0.5, abs=0.01)
        assert float(b.var()) == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.05)


def test_mixed_labels_by_area():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.zeros(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    patches, y_patch = torch.ones(3, 1, 8, 8), torch.tensor([5, 5, 4])
    chosen = torch.tensor([1, 3, 4])
    mixed = mix_some(x, y, chosen, patches, y_patch, 1.0, gen)
    area = mixed.x.mean(dim=(1, 2, 3))  # share of each image covered by the patch
    assert torch.allclose(1 - area, mixed.lam)
    assert mixed.lam[[0, 2, 5]].tolist() == [1.0, 1.0, 1.0]
    assert mixed.y_patch.tolist() == [0, 5, 2, 5, 4, 2]
    loss = LogitAdjustedCE(torch.tensor(TRAIN_COUNTS, dtype=torch.float64))
    logits = torch.randn(6, NUM_CLASSES, generator=gen)
    by_hand = mixed.lam * loss(logits, y) + (1 - mixed.lam) * loss(logits, mixed.y_patch)
    assert torch.allclose(mixed_loss(loss, logits, y, mixed), by_hand)


def test_balanced_indices_are_class_balanced():
    y = torch.repeat_interleave(torch.arange(4), torch.tensor([400, 100, 20, 5]))
    idx = balanced_indices(y, 40000, torch.Generator().manual_seed(0))
    share = torch.bincount(y[idx], minlength=4).double() / 40000
    assert torch.allclose(share, torch.full((4,), 0.25, dtype=torch.float64), atol=0.01)


class _Recorder(torch.nn.Module):
    """Logits from a linear layer; remembers the last input."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(64, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        return self.fc(x.flatten(1))


def test_cmo_pastes_one_box_of_class_balanced_images():
    """Every training image is filled with its own index, the batch with -1: what the model
    sees names the patch's source image, hence its class, for every step."""
    counts = [300, 60, 12, 4]
    y_all = torch.repeat_interleave(torch.arange(4), torch.tensor(counts))
    x_all = torch.arange(len(y_all), dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 8, 8)
    config = resolve_config(
        "cmo", "tensors:unused.pt", {"arch": "test_mlp", "mix_prob": 1.0, "loss": "bsl"}
    )
    method = Cmo(config)
    gen = torch.Generator().manual_seed(0)
    data = TrainData(x_all.clone(), y_all, lambda x: x.clone(), torch.device("cpu"), 32)
    model = _Recorder()
    method.prepare(model, counts, generator=gen, data=data)
    method.begin_epoch(5, model)
    sources = []
    for _ in range(200):
        x, y = torch.full((32, 1, 8, 8), -1.0), torch.zeros(32, dtype=torch.int64)
        out = method.training_step(model, x, y)
        seen = model.seen
        inside = seen[:, 0] >= 0
        assert (inside == inside[0]).all()  # one box for the whole batch
        if inside[0].any():
            sources += seen[:, 0][inside].view(32, -1)[:, 0].long().tolist()
        assert float(out["mixed_share"]) == 1.0
    share = torch.bincount(y_all[torch.tensor(sources)], minlength=4).double() / len(sources)
    assert torch.allclose(share, torch.full((4,), 0.25, dtype=torch.float64), atol=0.06)
    method.begin_epoch(1, model)  # the first 4 epochs are not mixed (official code)
    out = method.training_step(model, torch.full((8, 1, 8, 8), -1.0), torch.zeros(8).long())
    assert float(out["mixed_share"]) == 0.0 and (model.seen == -1).all()


# ---------------------------------------------------------------- short runs


@pytest.mark.parametrize("method", ["ce", "cmo"])
def test_clean_runs_learn_and_keep_the_recipe(method, data, tmp_path):
    given = {
        "arch": "test_cnn",
        "epochs": 10,
        "lr": 0.05,
        "batch_size": 32,
        "eps": 0.1,
        "monitor_n": 60,
        "test_dataset": data["test_dataset"],
        "loss": "bsl",
        "warmup_epochs": 2,
    }
    if method == "cmo":
        given.update(cmo_skip_first=1, cmo_skip_last=1)
    config = resolve_config(method, data["dataset"], given)
    assert config.weight_decay == 2e-4 and config.lr_steps == "80%:0.01,90%:0.0001"
    result = train(config, RunOptions(out=tmp_path))
    rows = result.history
    expected = [0.025] + [0.05] * 7 + [0.0005, 0.000005]  # warm-up 2, x0.01 after 8, x1e-4 after 9
    assert [r["lr"] for r in rows] == pytest.approx(expected)
    assert rows[-1]["monitor_clean_acc"] > 0.6 and "monitor_pgd20_acc" in rows[-1]
    if method == "cmo":
        assert rows[0]["mixed_share"] == 0 and rows[-1]["mixed_share"] == 0
        assert 0 < sum(r["mixed_share"] for r in rows[1:-1])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--method", "ce", "--attack-steps", "3"], "--attack-steps does not apply to --method ce"),
        (["--method", "cmo", "--mix-prob", "2"], "--mix-prob"),
        (["--method", "ce", "--lr-steps", "160:x"], "--lr-steps"),
        (["--method", "ce", "--augment", "mixup"], "valid: none, autoaugment, randaugment"),
        (["--method", "ce", "--cutout", "-1"], "--cutout"),
        (["--method", "ce", "--beta", "6"], "--beta does not apply to --method ce"),
    ],
)
def test_bad_clean_options_exit_2(args, needle, data):
    result = runner.invoke(app, ["train", "--dataset", data["dataset"], "--quiet", *args])
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
