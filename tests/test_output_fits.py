"""Output that fits (issue 21, item 8): compare/datasets/attacks as JSON, compare as Markdown,
``audit --help`` grouped in panels with every option name whole at 80 columns, no ``<bool>``
metavar in any help, and shell completion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from ltrobust.attacks.registry import ATTACKS, DEFAULT_ATTACKS
from ltrobust.cli.main import app
from ltrobust.data import list_datasets

from .report_factory import flip, make_report, standard_pair

runner = CliRunner()
NUMBER = re.compile(r"[-+]?\d+\.\d|—")
#: the panels of ``audit --help`` the issue names
PANELS = (
    "Model",
    "Data",
    "Threat model",
    "Attacks",
    "Diagnostics",
    "Protocols",
    "Output",
    "Gate",
    "Performance",
)


@pytest.fixture
def reports(tmp_path: Path) -> list[str]:
    """Two reports on the same samples; the second is more robust on a few tail samples."""
    y, clean, adv = standard_pair()
    better = {**adv, "pgd20": flip(adv["pgd20"], y, list(range(220, 240)), True)}
    paths = []
    for name, preds in (("base", adv), ("new", better)):
        (tmp_path / name).mkdir()
        make_report(y, clean, preds).save(str(tmp_path / name / "report.json"))
        paths.append(str(tmp_path / name / "report.json"))
    return paths


def expected_cells(row: dict, labels: list[str], scopes: list[str]) -> list[str]:
    """The numbers of one JSON row in table order: recall %, then the delta in points for every
    report but the first."""
    out = []
    for r, lab in enumerate(labels):
        for s in scopes:
            v, d = row["recall"][lab][s], row["delta"][lab][s]
            out.append("—" if v is None else f"{100 * v:.1f}")
            if r and d is not None:
                out.append(f"{100 * d:+.1f}")
    return out


def test_compare_json_has_the_numbers_of_the_table(reports):
    res = runner.invoke(app, ["compare", *reports, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["labels"] == ["base", "new"] and data["files"] == reports
    assert [r["outcome"] for r in data["rows"]] == ["clean", "pgd20", "aa", "worst"]
    pgd = next(r for r in data["rows"] if r["outcome"] == "pgd20")
    assert pgd["delta"]["base"]["overall"] == 0 and pgd["delta"]["new"]["tail"] > 0
    table = runner.invoke(app, ["compare", *reports], env={"COLUMNS": "300"})
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    for row in data["rows"]:
        name = "worst case" if row["outcome"] == "worst" else row["outcome"]
        line = next(x for x in lines if x.strip("│ ┃").startswith(name + " "))
        shown = NUMBER.findall(line[line.index(name) + len(name) :])
        assert shown == expected_cells(row, data["labels"], data["scopes"]), line


def test_compare_markdown_is_a_table_with_the_same_numbers(reports):
    res = runner.invoke(app, ["compare", *reports, "--markdown"])
    assert res.exit_code == 0, res.output
    data = json.loads(runner.invoke(app, ["compare", *reports, "--json"]).stdout)
    lines = res.stdout.strip().splitlines()
    width = 1 + len(data["labels"]) * len(data["scopes"])
    assert lines[0].startswith("| outcome | base: overall |")
    assert re.fullmatch(r"\|---(\|---:)+\|", lines[1]) and lines[1].count("|") == width + 1
    assert len(lines) == 2 + len(data["rows"])
    for line, row in zip(lines[2:], data["rows"], strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == width
        shown = NUMBER.findall(" ".join(cells[1:]))
        assert shown == expected_cells(row, data["labels"], data["scopes"]), line


def test_compare_json_and_markdown_exclude_each_other(reports):
    res = runner.invoke(app, ["compare", *reports, "--json", "--markdown"])
    assert res.exit_code == 2 and res.stderr.startswith("ltrobust: error: --json and --markdown")


def test_datasets_json_lists_every_dataset():
    res = runner.invoke(app, ["datasets", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    specs = list_datasets()
    assert [d["name"] for d in data["datasets"]] == [s.name for s in specs]
    for entry, spec in zip(data["datasets"], specs, strict=True):
        assert entry["num_classes"] == spec.num_classes and entry["shape"] == list(spec.shape)
        assert len(entry["train_counts"]) == spec.num_classes
        assert isinstance(entry["present"], bool) and entry["files"] == list(spec.files)
    assert [c["name"] for c in data["custom"]] == ["folder:PATH", "tensors:FILE"]


def test_attacks_json_lists_every_attack_and_the_default_set():
    res = runner.invoke(app, ["attacks", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [a["name"] for a in data["attacks"]] == [e.label for e in ATTACKS]
    assert data["default"] == list(DEFAULT_ATTACKS)
    by_name = {a["name"]: a for a in data["attacks"]}
    assert sorted(n for a in data["attacks"] for n in a["default"]) == sorted(DEFAULT_ATTACKS)
    assert by_name["aa-fast"]["default"] == [] and by_name["fgsm"]["default"] == ["fgsm"]
    assert by_name["pgdN"]["pattern"] and by_name["pgdN"]["settings"]["loss"] == "ce"


def panels_of(text: str) -> dict[str, str]:
    """The text of every ``╭─ Title ─...╮ ... ╰─...╯`` panel of a rich help, by title."""
    out: dict[str, str] = {}
    for m in re.finditer(r"╭─ (.+?) ─+╮\n(.*?)╰", text, re.S):
        out[m.group(1)] = m.group(2)
    return out


def audit_params() -> list:
    group = typer.main.get_command(app)
    command = group.commands["audit"]  # type: ignore[attr-defined]
    return [p for p in command.params if p.param_type_name == "option"]


def test_audit_help_at_80_columns_groups_options_and_cuts_no_name():
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    cmd = [sys.executable, "-m", "ltrobust", "audit", "--help"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    assert max(len(line) for line in res.stdout.splitlines()) <= 80
    panels = panels_of(res.stdout)
    assert set(PANELS) <= set(panels), list(panels)
    for param in audit_params():
        if param.hidden:  # a deprecated spelling (--amp), kept out of --help
            continue
        panel = getattr(param, "rich_help_panel", None)
        assert panel in PANELS, f"{param.opts[0]}: give its setting a panel= of {PANELS}"
        for name in (*param.opts, *param.secondary_opts):
            whole = re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])")
            assert whole.search(panels[panel]), f"{name} cut or not in {panel}"
    assert "…" not in "".join(re.findall(r"│ (-[^ ]*)", res.stdout))


@pytest.mark.parametrize(
    "command",
    [[], ["audit"], ["datasets"], ["attacks"], ["train"], ["report"], ["compare"], ["gate"]]
    + [["sweep"], ["bench"], ["inspect"]],
)
def test_no_bool_metavar_in_any_help(command):
    res = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "--help" in res.output
    assert "<bool>" not in res.output and "BOOLEAN" not in res.output, res.output


def ltrobust_script() -> str:
    return str(Path(sys.executable).with_name("ltrobust"))


def test_completion_script_for_bash_and_it_completes():
    # typer detects the user's shell from the parent processes; a test has no interactive
    # shell above it (CI, a detached job), so it names the shell with typer's own switch
    detect_off = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    res = subprocess.run(
        [ltrobust_script(), "--show-completion", "bash"],
        capture_output=True,
        text=True,
        env=detect_off,
    )
    assert res.returncode == 0, res.stderr
    assert "complete " in res.stdout and "_LTROBUST_COMPLETE=complete_bash" in res.stdout
    env = {
        **os.environ,
        "_LTROBUST_COMPLETE": "complete_bash",
        "COMP_WORDS": "ltrobust audit --dat",
        "COMP_CWORD": "2",
    }
    res = subprocess.run([ltrobust_script()], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["--dataset", "--data-dir"]
