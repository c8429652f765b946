"""``ltrobust bench`` and its library: interleaved timing, the floor, the JSON file,
the audit split and the memory runs, at tiny sizes (test_cnn, batch 8, 2 steps)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.bench import (
    SCHEMA,
    TARGETS,
    AttackBenchConfig,
    Timings,
    floor_passes,
    memory,
    parse_shape,
    ratios,
    time_interleaved,
    write_results,
)
from ltrobust.bench.config import parse_sizes
from ltrobust.bench.memory import MemoryJob, measure_in_process, measure_subprocess
from ltrobust.cli.main import app
from ltrobust.errors import ConfigError
from ltrobust.models import create_model

from .conftest import NUM_CLASSES, save_test_cnn

runner = CliRunner()
TINY = ["--arch", "test_cnn", "--batch-size", "8", "--steps", "2", "--repeats", "3"]
TINY += ["--warmup", "1", "--input-shape", "1x12x12", "--threads", "1", "--quiet"]
SKIP_REST = ["--audit-n", "0", "--memory-n", ""]


@pytest.fixture(scope="module")
def audit_files(tmp_path_factory, balanced_test):
    """A random-init test_cnn checkpoint (with class counts) and a tensors: dataset."""
    d = tmp_path_factory.mktemp("bench")
    x, y = balanced_test
    torch.save({"x": x, "y": y}, d / "test.pt")
    torch.manual_seed(0)
    model = create_model("test_cnn", num_classes=NUM_CLASSES, in_channels=1, input_size=12)
    save_test_cnn(d / "model.pt", model)
    return d


# --- timing --------------------------------------------------------------------------------


def test_time_interleaved_rotates_order_and_skips_warmup():
    calls: list[str] = []
    fns = {k: (lambda k=k: calls.append(k)) for k in ("a", "b", "c")}
    out = time_interleaved(fns, repeats=3, warmup=1)
    assert calls == list("abcbcacababc")  # round r rotated left by r
    assert all(len(t.wall) == 3 and len(t.cpu) == 3 for t in out.values())
    assert all(w >= 0 for t in out.values() for w in t.wall)


def test_ratios_are_per_round_medians_robust_to_one_disturbed_round():
    a = Timings(wall=[2.0, 4.0, 100.0], cpu=[2.0, 4.0, 6.0])
    b = Timings(wall=[1.0, 2.0, 1.0], cpu=[1.0, 1.0, 3.0])
    r = ratios(a, b)
    assert r["median"] == pytest.approx(2.0)  # rounds: 2, 2, 100
    assert r["min"] == pytest.approx(2.0)  # 2 / 1
    assert r["cpu"] == pytest.approx(4.0 / 1.0)  # median cpu 4 over median cpu 1


def test_floor_is_k_input_gradient_passes_and_leaves_the_model_alone():
    model = create_model("test_cnn", num_classes=4, in_channels=1, input_size=12).eval()
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    x = torch.rand(5, 1, 12, 12)
    x0 = x.clone()
    floor_passes(model, x, torch.tensor([0, 1, 2, 3, 0]), 3)
    assert len(calls) == 3
    assert torch.equal(x, x0) and not x.requires_grad
    assert all(p.grad is None for p in model.parameters())  # input gradient only


@pytest.mark.parametrize(
    ("text", "shape"), [("auto", None), ("3x32x32", (3, 32, 32)), ("1,28,28", (1, 28, 28))]
)
def test_parse_shape(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["3x32", "axbxc", "0x4x4", "3x32x16"])
def test_parse_shape_rejects(text):
    with pytest.raises(ConfigError):
        parse_shape(text)


def test_parse_sizes():
    assert parse_sizes("1000, 10000") == [1000, 10000]
    assert parse_sizes("") == [] and parse_sizes("none") == []
    with pytest.raises(ConfigError):
        parse_sizes("10k")
    with pytest.raises(ConfigError):
        AttackBenchConfig(steps=0).validate()


# --- the command ---------------------------------------------------------------------------


def test_bench_help():
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    assert "floor" in result.output


def test_bench_writes_json_with_floor_relative_ratios(tmp_path):
    pytest.importorskip("torchattacks")
    out = tmp_path / "res" / "bench.json"
    result = runner.invoke(app, ["bench", *TINY, *SKIP_REST, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.parent.iterdir()) == ["bench.json"]  # no temp file left
    data = json.loads(out.read_text())
    assert data["schema"] == SCHEMA
    assert data["machine"]["threads"] == 1 and data["machine"]["cpu"]
    assert data["settings"]["attack"]["steps"] == 2 and data["audit"] is None
    assert data["memory"] is None
    (row,) = data["attack"]
    assert row["arch"] == "test_cnn" and row["input_shape"] == [1, 12, 12]
    assert set(row["results"]) == {"floor", "ours", "torchattacks"}
    assert "pgd2" in row["results"]["ours"]["what"]
    for res in row["results"].values():
        assert len(res["rounds_wall_s"]) == 3
        assert 0 < res["min_s"] <= res["median_s"]
    floor, ours = (row["results"][k]["rounds_wall_s"] for k in ("floor", "ours"))
    expected = statistics.median(o / f for o, f in zip(ours, floor, strict=True))
    assert row["ratios"]["ours_vs_floor"]["median"] == pytest.approx(expected)
    assert row["ratios"]["ours_vs_floor"]["min"] == pytest.approx(min(ours) / min(floor))
    fp32_targets = {k: v for k, v in TARGETS.items() if "@" not in k}
    assert row["targets"] == fp32_targets  # the bf16 target only when bf16 was timed
    for key, target in fp32_targets.items():
        r = row["ratios"][key]
        assert all(v > 0 for v in r.values())
        assert row["passed"][key] == (r["median"] <= target)
    for res in row["results"].values():
        assert res["images_per_s"] == pytest.approx(8 / res["median_s"])
    ovh = row["overhead"]
    assert ovh["seconds"] == pytest.approx(ovh["ours_s"] - ovh["floor_s"])
    floor_median = statistics.median(floor)
    assert ovh["vs_floor"] == pytest.approx(ovh["seconds"] / floor_median)
    assert "ours_vs_floor" in result.stdout and "torchattacks" in result.stdout


def test_bench_bf16_times_floor_and_ours_under_autocast_side_by_side(tmp_path):
    out = tmp_path / "bf16.json"
    args = ["bench", *TINY, *SKIP_REST, "--precision", "fp32,bf16", "--channels-last"]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())["attack"]
    assert row["memory_format"] == "channels_last"
    assert {"floor", "ours", "floor@bf16", "ours@bf16"} <= set(row["results"])
    assert "autocast(bfloat16)" in row["results"]["ours@bf16"]["what"]
    floor, ours = (row["results"][k]["rounds_wall_s"] for k in ("floor@bf16", "ours@bf16"))
    expected = statistics.median(o / f for o, f in zip(ours, floor, strict=True))
    assert row["ratios"]["ours@bf16_vs_floor@bf16"]["median"] == pytest.approx(expected)
    fp32 = row["results"]["ours"]["rounds_wall_s"]
    speedup = statistics.median(a / b for a, b in zip(fp32, ours, strict=True))
    assert row["ratios"]["fp32_vs_bf16"]["median"] == pytest.approx(speedup)
    assert row["targets"]["ours@bf16_vs_floor@bf16"] == 1.10
    assert "bf16 autocast speed-up" in result.stdout and "images/s" in result.stdout


def test_bf16_floor_runs_its_passes_in_bfloat16():
    from ltrobust.bench.attack import contenders as _contenders

    model = create_model("test_cnn", num_classes=4, in_channels=1, input_size=12).eval()
    dtypes = []
    model.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
    x, y = torch.rand(4, 1, 12, 12), torch.tensor([0, 1, 2, 3])
    fns, _ = _contenders(model, x, y, AttackBenchConfig(steps=2), "bf16")
    assert set(fns) == {"floor@bf16", "ours@bf16"}
    fns["floor@bf16"]()
    assert dtypes == [torch.bfloat16] * 2


@pytest.mark.parametrize("bad", ["fp16", "fp32,fp32", ","])
def test_bench_rejects_bad_precision(bad):
    result = runner.invoke(app, ["bench", *TINY, *SKIP_REST, "--precision", bad])
    assert result.exit_code == 2
    assert "--precision" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bench_train_epoch_times_the_real_training_loop(tmp_path):
    from ltrobust.bench.train_time import synthetic_like
    from ltrobust.data.profile import lt_counts

    x, y = synthetic_like("cifar10-lt", 100, seed=0)
    counts = lt_counts(100, 50, 10)
    assert x.shape == (sum(counts), 3, 32, 32) and torch.bincount(y).tolist() == counts
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    out = tmp_path / "train.json"
    args = ["bench", "--arch", "", "--audit-n", "0", "--memory-n", "", "--threads", "1"]
    args += ["--train-arch", "test_cnn", "--train-like", "fashion-mnist-lt", "--quiet"]
    args += ["--train-n-max", "60", "--train-steps", "2", "--train-epochs", "2"]
    args += ["--train-batch-size", "64"]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    train = json.loads(out.read_text())["train"]
    assert train["class_counts"] == lt_counts(60, 50, 10)  # fashion-mnist-lt's profile
    assert train["images"] == sum(train["class_counts"])
    assert len(train["epochs_s"]) == 2 and train["epoch_s"] == train["epochs_s"][-1] > 0
    assert train["images_per_s"] == pytest.approx(train["images"] / train["epoch_s"])
    assert train["batch_size"] == 64
    assert train["amp"] and train["amp_dtype"] == "torch.bfloat16"  # --amp on CPU: bf16
    assert train["target_applies"] is False and train["passed"] is None
    assert "seconds per epoch (the last)" in result.stdout
    bad = runner.invoke(app, [*args, "--train-n-max", "20"])
    assert bad.exit_code == 2 and "--train-n-max 20" in bad.stderr
    # a clean method has no inner attack: timed without one, said so
    result = runner.invoke(app, [*args, "--train-method", "ce", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["train"]["attack_steps"] is None
    assert "--method ce (no inner attack)" in result.stdout


def test_bench_audit_split(tmp_path, audit_files):
    args = ["bench", "--arch", "", "--batch-size", "16", "--threads", "1", "--quiet"]
    args += ["--audit-model", str(audit_files / "model.pt"), "--audit-n", "24"]
    args += ["--audit-dataset", f"tensors:{audit_files / 'test.pt'}"]
    args += ["--audit-attacks", "fgsm,pgd3", "--memory-n", "", "--json", str(tmp_path / "a.json")]
    result = runner.invoke(app, [*args, "--audit-extrapolate", "240", "--audit-amp", "bf16"])
    assert result.exit_code == 0, result.output
    audit = json.loads((tmp_path / "a.json").read_text())["audit"]
    assert audit["amp"] == "bf16"
    ext = audit["extrapolated"]
    assert ext["n"] == 240 and ext["measured_n"] == 24
    assert ext["total_s"] == pytest.approx(10 * audit["total_s"])
    assert ext["attacks_s"]["pgd3"] == pytest.approx(10 * audit["attacks_s"]["pgd3"])
    assert "extrapolated to 240 samples" in result.stdout and "not measured" in result.stdout
    assert audit["n"] == 24 and audit["attacks"] == ["fgsm", "pgd3"]
    assert set(audit["attacks_s"]) == {"fgsm", "pgd3"} and audit["clean_s"] > 0
    assert {"sweep pgd20", "unbounded"} <= set(audit["diagnostics_s"])
    parts = audit["clean_s"] + sum(audit["attacks_s"].values())
    parts += sum(audit["diagnostics_s"].values()) + audit["other_s"]
    assert parts == pytest.approx(audit["total_s"], rel=1e-6)
    assert audit["accuracy"]["pgd3"] <= audit["accuracy"]["clean"]
    assert "pgd3" in result.stdout and "sweep pgd20" in result.stdout


def test_memory_measure_in_process(audit_files):
    job = MemoryJob(
        str(audit_files / "model.pt"), 12, f"tensors:{audit_files / 'test.pt'}", batch_size=8
    )
    run = measure_in_process(job)
    assert run["n"] == 12 and run["shape"] == [1, 12, 12] and run["attack"] == "fgsm"
    assert run["lifetime_peak_rss_bytes"] >= run["baseline_rss_bytes"] > 0
    if run["peak_source"].startswith("VmHWM"):  # the peak counts from the end of the imports
        assert run["peak_rss_bytes"] >= run["rss_after_imports_bytes"] > 0


@pytest.mark.slow
def test_memory_subprocess_per_n(audit_files):
    model = str(audit_files / "model.pt")
    run = measure_subprocess(MemoryJob(model, 12, f"tensors:{audit_files / 'test.pt'}"))
    assert run["n"] == 12 and run["peak_rss_bytes"] > 0
    with pytest.raises(Exception, match="n=12 failed"):
        measure_subprocess(MemoryJob(model, 12, "no-such-data"))


def test_memory_child_reports_a_bad_job_in_its_result_file(tmp_path):
    out = tmp_path / "r.json"
    assert memory.main(['{"model": "m.pt", "n": 3, "colour": "red"}', "--result", str(out)]) == 2
    assert "bad job" in json.loads(out.read_text())["error"]


BAD = [
    (["--arch", "resnet99"], "unknown architecture"),
    (["--steps", "0"], "--steps"),
    (["--input-shape", "3x32"], "--input-shape"),
    (["--eps", "abc"], "--eps"),
    (["--memory-n", "10k"], "--memory-n"),
    (["--audit-n", "5", "--audit-model", "missing.pt"], "no such file"),
    (["--audit-attacks", "deepfool"], "valid"),
    (["--device", "tpu"], "device"),
]


@pytest.mark.parametrize(("extra", "needle"), BAD)
def test_bad_input_exits_2_with_one_line(tmp_path, extra, needle):
    out = tmp_path / "never.json"
    result = runner.invoke(app, ["bench", *TINY, *SKIP_REST, *extra, "--json", str(out)])
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ltrobust: error:"), err
    assert needle in err
    assert not out.exists()


def test_write_results_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "bench.json"
    write_results(target, {"old": 1})

    def half_then_fail(self, text, *args, **kwargs):
        Path.write_bytes(self, text[: len(text) // 2].encode())
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_results(target, {"new": list(range(100))})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"old": 1}  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # no temp file left


@pytest.mark.gpu
def test_bench_on_cuda_times_both_precisions_and_a_training_epoch(tmp_path):
    out = tmp_path / "gpu.json"
    args = ["bench", *TINY, "--audit-n", "0", "--memory-n", "", "--device", "cuda"]
    args += ["--precision", "fp32,bf16", "--train-arch", "test_cnn", "--train-n-max", "60"]
    args += ["--train-like", "fashion-mnist-lt", "--train-steps", "2", "--json", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["machine"]["gpu"] and data["machine"]["cuda"]["version"]
    (row,) = data["attack"]
    assert {"floor", "ours", "floor@bf16", "ours@bf16"} <= set(row["results"])
    assert data["train"]["device"].startswith("cuda")
    assert data["train"]["amp_dtype"] == "torch.float16"  # --amp on CUDA: fp16 + GradScaler


def test_each_precision_is_its_own_interleaved_series(monkeypatch):
    import ltrobust.bench.attack as attack_mod

    series = []
    real = attack_mod.time_interleaved

    def spy(fns, **kw):
        series.append(sorted(fns))
        return real(fns, **kw)

    monkeypatch.setattr(attack_mod, "time_interleaved", spy)
    rounds = []
    config = AttackBenchConfig(batch_size=4, steps=1, repeats=2, warmup=1)
    config.input_shape, config.precisions = (1, 12, 12), ("fp32", "bf16")
    row = attack_mod.bench_arch(
        "test_cnn", config, torch.device("cpu"), on_round=lambda i, t: rounds.append((i, t))
    )
    assert series[0][:2] == ["floor", "ours"] and series[1] == ["floor@bf16", "ours@bf16"]
    assert rounds == [(i, 6) for i in range(1, 7)]  # 3 rounds per series, counted across both
    assert all(len(r["rounds_wall_s"]) == 2 for r in row["results"].values())
