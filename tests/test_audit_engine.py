"""The audit engine: CUDA out-of-memory halving, bfloat16 attacks with
a float32 re-check, channels-last, torch.compile, batches streamed to the model, and attacks
that only feed the worst case attacking only the samples still robust.

Out-of-memory is injected on the CPU by a model whose forward raises
``torch.cuda.OutOfMemoryError`` for batches above a size: the engine's real recovery path runs.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import ltrobust
from ltrobust.audit.engine import comparable

from .conftest import EPS, NUM_CLASSES, TRAIN_COUNTS, save_audit_set, save_test_cnn


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, balanced_test):
    d = tmp_path_factory.mktemp("engine")
    return f"tensors:{save_audit_set(d, balanced_test, counts=False)}"


def _audit(model, dataset, **kw):
    kw.setdefault("diagnose", False)
    return ltrobust.audit(
        model,
        dataset=dataset,
        attacks=kw.pop("attacks", "fgsm,pgd20"),
        class_counts=TRAIN_COUNTS,
        eps=EPS,
        step=0.02,
        batch_size=kw.pop("batch_size", 16),
        device=kw.pop("device", "cpu"),
        **kw,
    )


class OutOfMemoryAbove(nn.Module):
    """Raises CUDA out-of-memory in every gradient-enabled forward pass of more than ``limit``
    samples (as attacks on a too-large batch would); records the batch sizes that ran."""

    def __init__(self, net: nn.Module, limit: int) -> None:
        super().__init__()
        self.net, self.limit, self.errors = net, limit, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.shape[0] > self.limit:
            self.errors += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


@pytest.fixture(scope="module")
def plain(trained_cnn, dataset):
    return _audit(trained_cnn, dataset)


def test_out_of_memory_halves_the_batch_and_says_so(trained_cnn, dataset, plain):
    model = OutOfMemoryAbove(trained_cnn, limit=5)
    report = _audit(model, dataset)
    # batches of 16, 16, 16, 12: the first fails at 16 and at both halves of 8, then runs in
    # pieces of 4; the pass keeps that size, so no other batch fails (3 errors per attack)
    assert model.errors == 6
    notes = [w for w in report.diagnostics["warnings"] if "out of memory" in w]
    assert len(notes) == 2, notes  # fgsm and pgd20
    assert "pgd20: CUDA out of memory; 4 of 4 batches ran in smaller pieces (down to 4" in notes[1]
    # per-sample random starts: the same answer as without the errors
    assert report.per_sample == plain.per_sample


def test_out_of_memory_on_one_sample_is_raised(trained_cnn, dataset):
    with pytest.raises(torch.cuda.OutOfMemoryError):
        _audit(OutOfMemoryAbove(trained_cnn, limit=0), dataset, attacks="fgsm")


def test_out_of_memory_note_warns_about_autoattack_batches(trained_cnn, dataset):
    report = _audit(OutOfMemoryAbove(trained_cnn, limit=8), dataset, attacks="aa-fast")
    (note,) = [w for w in report.diagnostics["warnings"] if "out of memory" in w]
    assert note.startswith("aa-fast: CUDA out of memory") and "AutoAttack" in note


def test_amp_bf16_rechecks_every_adversarial_example_in_float32(dataset):
    """Logits that differ below bfloat16's resolution: the constant bias (1, 1.001, 0, ...)
    makes class 1 win in float32 and ties classes 0 and 1 (argmax 0) in bfloat16. The zero
    weights leave the attacks nothing to do, so only the precision of the check decides."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(144, NUM_CLASSES))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([1.0, 1.001, 0, 0, 0, 0]))
    report = _audit(model, dataset, amp="bf16")
    assert report.config["amp"] == "bf16"
    flips = report.diagnostics["amp"]["flips"]
    # 10 samples of class 1 look broken in bfloat16 only, 10 of class 0 look correct in it only
    expected = {"flipped": 20, "fp32_correct": 10, "fp32_wrong": 10}
    assert flips == {"fgsm": expected, "pgd20": expected}
    # the report's numbers are the float32 ones: class 1 right, everything else wrong
    assert report.attacks["pgd20"].summary.accuracy == pytest.approx(10 / 60)
    assert [c.recall for c in report.attacks["pgd20"].summary.per_class] == [0, 1, 0, 0, 0, 0]


def test_amp_bf16_on_a_trained_model(trained_cnn, dataset, plain):
    report = _audit(trained_cnn, dataset, amp="bf16")
    flips = report.diagnostics["amp"]["flips"]["pgd20"]
    assert flips["flipped"] == flips["fp32_correct"] + flips["fp32_wrong"]
    robust = report.attacks["pgd20"].summary.accuracy
    assert robust == pytest.approx(plain.attacks["pgd20"].summary.accuracy, abs=0.1)


class Recorder(nn.Module):
    """Records the size and whether the layout is channels-last of every batch it sees."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.seen = net, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        self.seen.append((x.shape[0], cl))
        return self.net(x)


def test_channels_last(trained_cnn, tmp_path, balanced_test):
    from ltrobust.models import create_model

    x, y = balanced_test
    torch.save({"x": x[::4].repeat(1, 3, 1, 1), "y": y[::4].clone()}, tmp_path / "rgb.pt")
    torch.manual_seed(0)
    net = create_model("test_cnn", num_classes=NUM_CLASSES, in_channels=3, input_size=12)
    plain = _audit(copy.deepcopy(net), f"tensors:{tmp_path / 'rgb.pt'}")
    model = Recorder(net)
    report = _audit(model, f"tensors:{tmp_path / 'rgb.pt'}", channels_last=True)
    assert report.config["channels_last"] is True
    conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(cl for _, cl in model.seen)  # clean batches and every attack iterate
    same = sum(
        a == b
        for a, b in zip(
            report.per_sample["adv_pred"]["pgd20"],
            plain.per_sample["adv_pred"]["pgd20"],
            strict=True,
        )
    )
    assert same >= 57  # another kernel may move a borderline sample, not more


def test_batches_stream_through_the_model_bounded_by_the_batch_size(trained_cnn, tmp_path):
    """Whatever n, the model only ever sees batches of at most --batch-size samples
    (the clean pass, every attack, the sweep and the unbounded attack)."""
    from .conftest import synthetic

    x, y = synthetic([50] * NUM_CLASSES, seed=3)
    torch.save({"x": x, "y": y}, tmp_path / "d.pt")
    sizes = {}
    for n in (30, 300):
        model = Recorder(trained_cnn)
        _audit(model, f"tensors:{tmp_path / 'd.pt'}", n=n, diagnose=True, sweep=False, batch_size=8)
        sizes[n] = max(s for s, _ in model.seen)
    assert sizes == {30: 8, 300: 8}


def test_compile_runs_the_compiled_model(trained_cnn, dataset, plain, monkeypatch):
    """--compile goes through torch.compile (here with its quick "eager" backend; the real
    inductor backend takes a minute on a CPU and is in the slow test below)."""
    calls = []
    real = torch.compile

    def compile_eager(model, **kw):
        calls.append(model)
        return real(model, backend="eager")

    monkeypatch.setattr(torch, "compile", compile_eager)
    report = _audit(trained_cnn, dataset, attacks="fgsm", compile=True)
    assert calls == [trained_cnn] and report.config["compile"] is True
    assert report.per_sample["adv_pred"]["fgsm"] == plain.per_sample["adv_pred"]["fgsm"]


@pytest.mark.slow
def test_compile_with_inductor(trained_cnn, dataset, plain):
    report = _audit(trained_cnn, dataset, compile=True)
    assert comparable(report.to_dict())["per_sample"] == plain.per_sample


def test_worst_only_attack_attacks_only_the_survivors(trained_cnn, dataset):
    full = _audit(trained_cnn, dataset, attacks="fgsm,pgd20,mim")
    fast = _audit(trained_cnn, dataset, attacks="fgsm,pgd20,mim", worst_only="mim")
    assert list(fast.attacks) == ["fgsm", "pgd20"]  # no row of its own
    ps = full.per_sample
    y = torch.tensor(ps["y"])
    alive = torch.tensor(ps["clean_pred"]) == y
    for name in ("fgsm", "pgd20"):
        alive &= torch.tensor(ps["adv_pred"][name]) == y
    info = fast.diagnostics["worst_only"]["mim"]
    assert 0 < info["attacked"] == int(alive.sum()) < len(y)
    # per-sample random starts: an attacked sample gets the same result as in the full run;
    # a skipped one keeps its clean prediction
    mim = torch.tensor(fast.per_sample["extra_pred"]["mim"])
    assert torch.equal(mim[alive], torch.tensor(ps["adv_pred"]["mim"])[alive])
    assert torch.equal(mim[~alive], torch.tensor(ps["clean_pred"])[~alive])
    # and the worst case is the full run's
    assert fast.per_sample["robust"] == ps["robust"]
    assert fast.worst_case.summary == full.worst_case.summary
    assert (
        fast.worst_case.settings == full.worst_case.settings == {"over": ["fgsm", "pgd20", "mim"]}
    )


def test_worst_only_must_name_audited_attacks(trained_cnn, dataset):
    from ltrobust.errors import ConfigError

    with pytest.raises(ConfigError, match="worst_only names attacks not in attacks: cw20"):
        _audit(trained_cnn, dataset, attacks="fgsm", worst_only="cw20")


def test_worst_only_never_serves_a_protocol_row(trained_cnn, dataset):
    """A skipped sample keeps its clean prediction: a protocol row scored on it would count it
    robust (RoBal's AA read 68.3% instead of 56.7%), so the combination is refused first."""
    from ltrobust.errors import ConfigError

    with pytest.raises(ConfigError, match="worst_only aa: protocol robustbench scores it"):
        _audit(trained_cnn, dataset, attacks="fgsm,aa", worst_only="aa", protocols="robustbench")
    for protocol in ("robal", "reat", "mcat"):
        row = "robal-aa" if protocol == "robal" else "aa"
        with pytest.raises(ConfigError, match=f"worst_only {row}: protocol {protocol}"):
            _audit(trained_cnn, dataset, attacks=f"fgsm,{row}", worst_only=row, protocols=protocol)


@pytest.mark.gpu
def test_peak_cuda_memory_does_not_grow_with_n(trained_cnn, tmp_path):
    from .conftest import synthetic

    x, y = synthetic([200] * NUM_CLASSES, seed=4)
    torch.save({"x": x, "y": y}, tmp_path / "d.pt")
    peaks = {}
    for n in (120, 1200):
        model = copy.deepcopy(trained_cnn)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        _audit(model, f"tensors:{tmp_path / 'd.pt'}", n=n, device="cuda", batch_size=60)
        peaks[n] = torch.cuda.max_memory_allocated() - base
        del model
    assert peaks[1200] <= 1.1 * peaks[120] + 2**20, peaks


def test_cli_options(trained_cnn, tmp_path, balanced_test):
    import json

    from typer.testing import CliRunner

    from ltrobust.cli.main import app

    save_audit_set(tmp_path, balanced_test, "d.pt")
    save_test_cnn(tmp_path / "m.pt", trained_cnn)
    out = tmp_path / "o"
    args = ["audit", str(tmp_path / "m.pt"), "--dataset", f"tensors:{tmp_path / 'd.pt'}"]
    args += ["--class-counts", str(tmp_path / "counts.json"), "--eps", "0.1", "--step", "0.02"]
    args += ["--attacks", "fgsm,pgd20", "--no-diagnostics", "--quiet", "--out", str(out)]
    args += ["--amp", "bf16", "--channels-last", "--worst-only", "pgd20", "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "amp: the float32 re-check changed" in result.stderr
    report = json.loads((out / "report.json").read_text())
    cfg = report["config"]
    assert (cfg["amp"], cfg["channels_last"], cfg["worst_only"]) == ("bf16", True, ["pgd20"])
    assert list(report["attacks"]) == ["fgsm"] and "pgd20" in report["per_sample"]["extra_pred"]
    assert set(report["diagnostics"]["amp"]["flips"]) == {"fgsm", "pgd20"}
    bad = CliRunner().invoke(app, [*args[:-2], "--device", "cpu", "--amp", "fp8"])
    assert bad.exit_code == 2
