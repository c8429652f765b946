"""compare: the side-by-side table, deltas, incomparable settings, --strict."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.report.compare import comparability_problems, compare_reports, labels_for

from .report_factory import flip, make_report, standard_pair

runner = CliRunner()


def base_and(**kwargs):
    y, clean, adv = standard_pair()
    return make_report(y, clean, adv), make_report(y, clean, adv, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "key", "needle"),
    [
        ({"eps": 4 / 255}, "eps", "eps differs"),
        ({"norm": "l2"}, "norm", "norm differs"),
        ({"dataset": "other-lt"}, "dataset", "dataset differs"),
        ({"test_imbalanced": True}, "test_set", "balanced, B long-tailed"),
        ({"groups_mode": "shot"}, "groups", "groups mode"),
        ({"index": list(range(100, 340))}, "samples", "other indices"),
    ],
)
def test_each_incomparable_setting_is_named(kwargs, key, needle):
    a, b = base_and(**kwargs)
    problems = comparability_problems(a, b)
    assert key in [p.key for p in problems]
    assert any(needle in p.message for p in problems if p.key == key)


def test_attack_set_and_n_differ():
    y, clean, adv = standard_pair()
    a = make_report(y, clean, adv)
    b = make_report(y[::2], clean[::2], {"pgd20": adv["pgd20"][::2]})
    keys = {p.key for p in comparability_problems(a, b)}
    assert keys == {"attacks", "samples"}
    assert comparability_problems(a, a) == []


def test_worst_case_over_other_diagnostic_attacks(tmp_path):
    a, b = base_and()
    b.worst_case.settings["over"] = [*b.attacks, "pgd20@kappa=1"]
    problems = comparability_problems(a, b)
    assert [p.key for p in problems] == ["worst"] and "only in B: pgd20@kappa=1" in problems[
        0
    ].message
    a.save(str(tmp_path / "a.json"))
    b.save(str(tmp_path / "b.json"))
    gate = ["gate", str(tmp_path / "b.json"), "--baseline", str(tmp_path / "a.json")]
    assert runner.invoke(app, [*gate, "--max-drop", "worst.tail=1"]).exit_code == 2
    assert runner.invoke(app, [*gate, "--max-drop", "aa.tail=1"]).exit_code == 0


def test_table_values_and_deltas():
    y, clean, adv = standard_pair()
    a = make_report(y, clean, adv)
    lost = list(range(161, 240, 10))  # 8 robust tail samples lose to aa only
    b = make_report(y, clean, {"pgd20": adv["pgd20"], "aa": flip(adv["aa"], y, lost, False)})
    c = make_report(y, clean, {"aa": adv["aa"], "fgsm": adv["pgd20"]})
    cmp = compare_reports([a, b, c], ["a", "b", "c"])
    assert cmp.scopes == ["overall", "head", "body", "tail"]
    assert [r.outcome for r in cmp.rows] == ["clean", "aa", "worst"]  # pgd20 not in c
    worst = cmp.rows[-1]
    assert worst.values[0] == [0.4, 0.4, 0.4, 0.4]
    assert worst.deltas[1][3] == pytest.approx(-0.1) and worst.deltas[1][1] == 0
    assert worst.deltas[0] == [0, 0, 0, 0]


def test_labels():
    assert labels_for(["runs/at/report.json", "runs/robal/report.json", "x/y.json"]) == [
        "at",
        "robal",
        "y",
    ]
    assert labels_for(["a/report.json", "b/a/report.json"]) == ["a#1", "a#2"]


@pytest.fixture
def files(tmp_path):
    y, clean, adv = standard_pair()
    for name, kw in (("a", {}), ("b", {}), ("eps", {"eps": 4 / 255})):
        (tmp_path / name).mkdir()
        make_report(y, clean, adv, **kw).save(str(tmp_path / name / "report.json"))
    return tmp_path


def test_cli_compare_ok(files):
    res = runner.invoke(
        app, ["compare", str(files / "a/report.json"), str(files / "b/report.json"), "--strict"]
    )
    assert res.exit_code == 0, res.output
    assert "worst case" in res.output and "(+0.0)" in res.output and "tail" in res.output
    assert res.stderr == ""


def test_cli_compare_warns_and_strict_exits_2(files):
    args = ["compare", str(files / "a/report.json"), str(files / "eps/report.json")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "eps vs a: eps differs: a 0.0313725, eps 0.0156863" in " ".join(res.stderr.split())
    res = runner.invoke(app, [*args, "--strict"])
    assert res.exit_code == 2
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .startswith("ltrobust: error: reports are not comparable")
    )


def test_cli_compare_needs_two_readable_reports(files):
    res = runner.invoke(app, ["compare", str(files / "a/report.json")])
    assert res.exit_code == 2 and "at least two" in res.stderr
    res = runner.invoke(app, ["compare", str(files / "a/report.json"), str(files / "nope.json")])
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_piped_output_is_not_cut_at_80_columns(tmp_path):
    """``compare a b c | cat``: rich fitted the table to 80 columns and cut the deltas."""
    import subprocess
    import sys
    from pathlib import Path

    golden = Path(__file__).parent / "golden" / "report_v1.json"
    cmd = [sys.executable, "-m", "ltrobust", "compare", *[str(golden)] * 4]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={"PATH": ""})
    assert res.returncode == 0, res.stderr
    widest = max(len(line) for line in res.stdout.splitlines())
    assert widest > 80 and "…" not in res.stdout, res.stdout
