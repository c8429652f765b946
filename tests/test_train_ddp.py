"""Multi-process training on the CPU with the gloo backend and 2 processes.

The default test forks two workers that join a process group through torchrun's environment
variables and run the library's ``train`` (no new interpreters: fast). The slow test runs the
real ``torchrun ... -m ltrobust train`` command line.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltrobust.train import RunOptions, TrainConfig, resolve_config, train

from .conftest import NUM_CLASSES, TRAIN_COUNTS, synthetic

ROOT = Path(__file__).resolve().parents[1]


def _data(tmp_path: Path) -> None:
    x, y = synthetic(TRAIN_COUNTS, seed=1)  # 506 images: 253 per process, no padding
    torch.save({"x": x, "y": y}, tmp_path / "train.pt")
    x, y = synthetic([10] * NUM_CLASSES, seed=2)
    torch.save({"x": x, "y": y}, tmp_path / "test.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, port: int, config: dict, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    result = train(TrainConfig.from_dict(config), RunOptions(out=Path(out), device="cpu"))
    sys.exit(0 if result.epochs_done == 2 else 3)


def _check_run(out: Path) -> None:
    final = torch.load(out / "final.pt", weights_only=True)
    assert final["extra"]["training"]["world_size"] == 2
    # the per-epoch (true, predicted) counts are summed over both processes
    assert final["extra"]["adv_counts"].sum(dim=(1, 2)).tolist() == [sum(TRAIN_COUNTS)] * 2
    last = torch.load(out / "last.pt", weights_only=True)["extra"]["resume"]
    assert len(last["rng"]) == 2
    assert not torch.equal(last["rng"][0]["generator"], last["rng"][1]["generator"])
    # REAT's next-epoch counts come from the reduced matrix, identical on every process
    assert last["method"]["adv_counts"].sum().item() == sum(TRAIN_COUNTS)
    assert [row["epoch"] for row in final["history"]] == [1, 2]
    assert "monitor_pgd20_acc" in final["history"][-1]


def test_two_processes_gloo(tmp_path):
    _data(tmp_path)
    given = {
        "arch": "test_mlp",
        "epochs": 2,
        "batch_size": 64,
        "lr": 0.05,
        "eps": 0.1,
        "attack_steps": 2,
        "monitor_n": 60,
        "test_dataset": f"tensors:{tmp_path / 'test.pt'}",
    }
    config = resolve_config("reat", f"tensors:{tmp_path / 'train.pt'}", given).to_dict()
    ctx = mp.get_context("fork")
    port = _free_port()
    procs = [
        ctx.Process(target=_worker, args=(r, port, config, str(tmp_path / "run"))) for r in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    codes = [p.exitcode for p in procs]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert codes == [0, 0], codes
    _check_run(tmp_path / "run")


@pytest.mark.slow
def test_torchrun_command_line(tmp_path):
    _data(tmp_path)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "ltrobust",
        "train",
        "--method",
        "reat",
        "--dataset",
        f"tensors:{tmp_path / 'train.pt'}",
        "--test-dataset",
        f"tensors:{tmp_path / 'test.pt'}",
        "--arch",
        "test_mlp",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--lr",
        "0.05",
        "--eps",
        "0.1",
        "--attack-steps",
        "2",
        "--monitor-n",
        "60",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("final:") == 1  # only rank 0 reports
    _check_run(out)
