"""Resume: an interrupted and resumed CPU run ends bit-identical to an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.train import RunOptions, resolve_config, train

COUNTS = [40, 25, 16, 10, 6, 4]
runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _images(counts: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    protos = torch.rand((len(counts), 1, 16, 16), generator=torch.Generator().manual_seed(7))
    y = torch.cat([torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(counts)])
    noise = torch.randn((len(y), 1, 16, 16), generator=torch.Generator().manual_seed(seed))
    return (protos[y] + 0.25 * noise).clamp(0, 1), y


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    for name, counts, seed in (("train", COUNTS, 1), ("test", [8] * 6, 2)):
        x, y = _images(counts, seed)
        torch.save({"x": x, "y": y}, d / f"{name}.pt")
    # small_cnn has dropout (global RNG); crops and flips and random starts use the generator
    given = {
        "arch": "small_cnn",
        "epochs": 3,
        "lr": 0.05,
        "batch_size": 16,
        "eps": 0.1,
        "attack_steps": 2,
        "crop_padding": 1,
        "hflip": True,
        "monitor_n": 24,
        "test_dataset": f"tensors:{d / 'test.pt'}",
    }
    config = resolve_config("reat", f"tensors:{d / 'train.pt'}", given)
    full = train(config, RunOptions(out=d / "full"))
    return d, config, full


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def _strip_times(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rows]


def test_interrupted_and_resumed_run_is_bit_identical(setup):
    d, config, full = setup
    out = d / "split"
    first = train(config, RunOptions(out=out, stop_after=1))
    assert first.final_path is None and first.epochs_done == 1
    assert not (out / "final.pt").exists()
    resumed = train(config, RunOptions(out=out, resume=out / "last.pt"))
    assert resumed.final_path == out / "final.pt" and resumed.epochs_done == 3
    a, b = _weights(d / "full" / "final.pt"), _weights(out / "final.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _strip_times(full.history) == _strip_times(resumed.history)
    ca = torch.load(d / "full" / "last.pt", weights_only=True)["extra"]
    cb = torch.load(out / "last.pt", weights_only=True)["extra"]
    assert torch.equal(ca["adv_counts"], cb["adv_counts"])
    assert torch.equal(ca["resume"]["method"]["adv_counts"], cb["resume"]["method"]["adv_counts"])
    assert all(
        torch.equal(ca["resume"]["rng"][0][k], cb["resume"]["rng"][0][k])
        for k in ("generator", "torch")
    )


def test_resume_needs_the_stored_rng_state(setup):
    """Control: the same resume with the generator's state replaced ends elsewhere."""
    d, config, _ = setup
    out = d / "tampered"
    train(config, RunOptions(out=out, stop_after=2))
    ckpt = torch.load(out / "last.pt", weights_only=True)
    rng = ckpt["extra"]["resume"]["rng"][0]
    assert rng["generator"].dtype == torch.uint8 and rng["torch"].dtype == torch.uint8
    rng["generator"] = torch.Generator().manual_seed(123).get_state()
    torch.save(ckpt, out / "last.pt")
    train(config, RunOptions(out=out, resume=out / "last.pt"))
    a, b = _weights(d / "full" / "final.pt"), _weights(out / "final.pt")
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_another_configuration_exits_2_naming_keys(setup):
    d, _, _ = setup
    result = runner.invoke(
        app, ["train", "--resume", str(d / "full" / "last.pt"), "--lr", "0.5", "--epochs", "4"]
    )
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ltrobust: error:"), err
    assert "--lr 0.5 (checkpoint: 0.05)" in err and "--epochs 4 (checkpoint: 3)" in err


def test_resume_of_a_finished_run_rewrites_final(setup):
    d, config, _ = setup
    result = runner.invoke(
        app, ["train", "--resume", str(d / "full" / "last.pt"), "--quiet", "--method", "reat"]
    )
    assert result.exit_code == 0, result.output
    assert "final:" in result.stdout
