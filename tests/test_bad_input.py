"""Bad and hostile input through the real CLI: one line on stderr, exit code 2, no traceback,
nothing written, checked before any long work; names are data everywhere; a failure while
writing names the file and what was written. Property tests of the value parsers."""

from __future__ import annotations

import errno
import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.errors import LtRobustError
from ltrobust.report.text import visible
from ltrobust.values import MAX_KAPPAS, parse_kappas, parse_number

from .conftest import save_audit_set, save_test_cnn

runner = CliRunner()
HOSTILE = ["[/]", "\x1b[2J", "\x1b]0;title\x07", "<script>alert(1)</script>", "[bold]x", "a\nb"]


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_cnn, balanced_test):
    d = tmp_path_factory.mktemp("bad")
    save_test_cnn(d / "model.pt", trained_cnn)
    save_audit_set(d, balanced_test)
    (d / "a_file").write_text("not a folder")
    (d / "a_dir").mkdir()
    return d


def audit_args(d, *extra, out="out"):
    args = ["audit", str(d / "model.pt"), "--dataset", f"tensors:{d / 'test.pt'}"]
    args += ["--class-counts", str(d / "counts.json"), "--attacks", "fgsm", "--no-diagnostics"]
    args += ["--eps", "0.1"]
    return [*args, "--quiet", "--out", str(d / out), *extra]


def refused(res, needle: str) -> None:
    """Exit 2, exactly one non-empty stderr line containing ``needle``, no traceback."""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2, (res.exit_code, res.stderr, res.output)
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.output + res.stderr


@pytest.mark.parametrize(
    ("out", "needle"),
    [
        ("a_file", "is a file, not a folder"),
        ("a_file/sub", "is a file, not a folder"),
    ],
)
def test_audit_output_folder_checked_first(files, out, needle):
    refused(runner.invoke(app, audit_args(files, out=out)), needle)
    assert (files / "a_file").read_text() == "not a folder"


def test_unwritable_system_folders_are_refused(files):
    for target in ("/proc/ltrobust-out", "/sys/ltrobust-out"):
        args = audit_args(files)
        args[args.index("--out") + 1] = target
        refused(runner.invoke(app, args), "cannot write in")


def test_report_gate_bench_and_train_outputs(files):
    ok = runner.invoke(app, audit_args(files, out="r"))
    assert ok.exit_code == 0, ok.output
    report = str(files / "r" / "report.json")
    refused(runner.invoke(app, ["report", report, "--out", str(files / "a_dir")]), "is a folder")
    gate = ["gate", report, "--baseline", report, "--max-drop", "worst.tail=0"]
    refused(runner.invoke(app, [*gate, "--junit", str(files / "a_dir")]), "is a folder")
    bench = ["bench", "--arch", "test_linear", "--audit-n", "0", "--memory-n", ""]
    refused(runner.invoke(app, [*bench, "--json", str(files / "a_dir")]), "is a folder")
    train = ["train", "--method", "at", "--dataset", f"tensors:{files / 'test.pt'}"]
    train += ["--arch", "test_cnn", "--epochs", "1", "--monitor-n", "0"]
    refused(runner.invoke(app, [*train, "--out", str(files / "a_file")]), "not a folder")
    sweep = ["sweep", str(files / "model.pt"), "--dataset", f"tensors:{files / 'test.pt'}"]
    sweep += ["--class-counts", str(files / "counts.json"), "--quiet"]
    refused(runner.invoke(app, [*sweep, "--out", str(files / "a_file" / "x")]), "not a folder")


def test_a_failed_write_names_the_file_and_what_was_written(files, monkeypatch):
    import ltrobust.report as report_pkg

    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_pkg, "write_report_files", disk_full)
    res = runner.invoke(app, audit_args(files, out="full"))
    refused(res, "no space left on device")
    assert "report.json" in res.stderr.split("written:")[1]  # says what was completed
    assert (files / "full" / "report.json").is_file()  # written before any rendering


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--kappa", "0:1000000:0.000001"], "give 1 to 101 values"),
        (["--eps", "8/255/2"], "cannot parse '8/255/2'"),
        (["--inflation-threshold", "nan"], "cannot parse 'nan'"),
        (["--aa-gap", "2"], "threshold aa_gap must be a number in [0, 1]"),
        (["--norm", "l1"], "unknown --norm 'l1'; valid: linf, l2"),
        (["--n", "abc"], "see 'ltrobust audit --help'"),
        (["--no-such-option"], "No such option"),
        (["--attacks", "pgd20,deepfool"], "unknown attack 'deepfool'"),
    ],
)
def test_values_are_checked_before_any_work(files, extra, needle):
    res = runner.invoke(app, audit_args(files, *extra, out="never"))
    refused(res, needle)
    assert not (files / "never").exists()


def test_usage_errors_are_one_line():
    refused(runner.invoke(app, ["audit"]), "Missing argument")
    refused(runner.invoke(app, ["no-such-command"]), "No such command")
    refused(runner.invoke(app, ["train", "--epochs", "1.5"]), "see 'ltrobust train --help'")


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("num_classes", "ten", "num_classes must be an integer in [1, 100000]"),
        ("class_counts", [-5] * 6, "class_counts must be 6 positive integers"),
        ("class_counts", [0] * 6, "class_counts must be 6 positive integers"),
        ("logit_adjustment", [float("nan")] * 6, "logit_adjustment must be 6 finite numbers"),
        ("class_names", [1, 2, 3, 4, 5, 6], "class_names must be 6 strings"),
    ],
)
def test_checkpoint_metadata_is_checked(files, tmp_path, field, value, needle):
    ckpt = torch.load(files / "model.pt", weights_only=True)
    ckpt[field] = value
    torch.save(ckpt, tmp_path / "bad.pt")
    args = audit_args(files, out="never")
    args[1] = str(tmp_path / "bad.pt")
    refused(runner.invoke(app, args), needle)
    assert not (files / "never").exists()


def test_odd_inputs_get_a_clear_line(files, tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (tmp_path / "m.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(4))
    args = audit_args(files, out="never")
    args[1] = str(tmp_path / "m.safetensors")
    refused(runner.invoke(app, args), "is a state_dict of no known layout (closest format")
    args = audit_args(files, out="never")
    args[args.index("--dataset") + 1] = "folder:"
    refused(runner.invoke(app, args), "needs a path")


class _TwoHeads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 6))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(x)[:, :4], self.net(x)


def test_torchscript_outputs_and_shapes_are_explained(files, tmp_path, balanced_test):
    x, _ = balanced_test
    torch.jit.trace(_TwoHeads(), x[:2]).save(str(tmp_path / "two.ts"))
    args = audit_args(files, out="never")
    args[1] = str(tmp_path / "two.ts")
    refused(runner.invoke(app, args), "choose the logits with --output-key")
    wide = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 6))
    torch.jit.script(wide).save(str(tmp_path / "wide.ts"))
    args[1] = str(tmp_path / "wide.ts")
    refused(runner.invoke(app, args), "a linear layer expects 3072 values per sample, it got 144")


def test_too_large_n_is_said(files):
    res = runner.invoke(app, audit_args(files, "--n", "10000000", out="big"))
    assert res.exit_code == 0, res.output
    assert "--n 10000000 is more than the 60 samples" in " ".join(res.stderr.split())


def test_class_names_are_data_on_the_terminal(files, balanced_test, tmp_path):
    x, y = balanced_test
    names = HOSTILE
    torch.save({"x": x[::4], "y": y[::4], "class_names": names}, tmp_path / "hostile.pt")
    args = audit_args(files, out="hostile")
    args[args.index("--dataset") + 1] = f"tensors:{tmp_path / 'hostile.pt'}"
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output + res.stderr
    assert "\x1b" not in res.output and "\x07" not in res.output
    report = files / "hostile" / "report.json"
    shown = runner.invoke(app, ["report", str(report), "--format", "terminal"])
    assert shown.exit_code == 0, shown.output + shown.stderr
    assert "\x1b" not in shown.output and "\x07" not in shown.output
    data = json.loads(report.read_text())
    worst = {o["summary"]["worst_class"] for o in [data["clean"], *data["attacks"].values()]}
    for cls in worst:  # the worst class's name is in the table, shown as it is
        assert visible(names[cls]) in shown.output, (names[cls], shown.output)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_number_parser_never_crashes(text):
    try:
        value = parse_number(text, name="--eps")
    except LtRobustError as exc:
        assert "\n" not in str(exc)
    else:
        assert math.isfinite(value)
        assert text.count("/") <= 1


@settings(max_examples=100, deadline=None)
@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(1e-9, 1e6, allow_nan=False),
)
def test_kappa_grids_are_bounded_before_they_are_built(start, stop, step):
    text = f"{start!r}:{stop!r}:{step!r}"
    try:
        values = parse_kappas(text)
    except LtRobustError:
        return
    assert 1 <= len(values) <= MAX_KAPPAS and list(values) == sorted(set(values))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_metric_paths_parse_or_refuse(text):
    from ltrobust.report.paths import parse_metric_path

    try:
        path = parse_metric_path(text)
    except LtRobustError:
        return
    assert path.outcome and path.scope


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(st.text(max_size=40), st.lists(st.integers(-5, 10**6), max_size=8).map(json.dumps))
)
def test_class_count_files_parse_or_refuse(tmp_path_factory, text):
    from ltrobust.data.custom import load_class_counts

    path = tmp_path_factory.mktemp("counts") / "counts.csv"
    path.write_text(text, encoding="utf-8")
    try:
        counts = load_class_counts(path)
    except LtRobustError:
        return
    assert counts and all(isinstance(c, int) and c > 0 for c in counts)


def test_an_incomparable_baseline_is_refused_before_any_attack(files, monkeypatch):
    import ltrobust.audit.session as session_mod

    ok = runner.invoke(app, audit_args(files, out="base"))
    assert ok.exit_code == 0, ok.output
    baseline = str(files / "base" / "report.json")

    def no_pass(*_args, **_kwargs):
        raise AssertionError("a pass ran before the baseline was compared")

    monkeypatch.setattr(session_mod.AuditSession, "clean", no_pass)
    for extra, needle in (
        (["--eps", "0.05"], "eps differs: baseline 0.1, new 0.05"),
        (["--attacks", "pgd20"], "attack set (so the worst case) differs"),
        (["--groups", "shot"], "groups mode differs"),
    ):
        args = audit_args(files, "--baseline", baseline, *extra, out="never")
        refused(runner.invoke(app, args), needle)
        assert not (files / "never").exists()
