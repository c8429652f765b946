"""The gate: exact McNemar, threshold parsing, metric paths, exit codes 0/1/2, JUnit XML."""

from __future__ import annotations

import json
import math
import warnings
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.errors import ConfigError
from ltrobust.report.gate import parse_threshold, run_gate
from ltrobust.report.paths import metric_value, parse_metric_path
from ltrobust.report.significance import mcnemar_exact

from .report_factory import flip, make_report, standard_pair

runner = CliRunner()


def binom_two_sided_reference(b: int, c: int) -> float:
    """Independent reference: the Binomial(n, 1/2) pmf built by the recurrence
    pmf(k+1) = pmf(k) * (n-k)/(k+1), exactly with fractions."""
    n = b + c
    pmf, term = [], Fraction(1, 2**n)
    for k in range(n + 1):
        pmf.append(term)
        term = term * (n - k) / (k + 1)
    return float(min(Fraction(1), 2 * sum(pmf[: min(b, c) + 1])))


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 5, 0.0625),  # 2 / 2^5
        (5, 0, 0.0625),
        (1, 9, 0.021484375),  # 2 * (1 + 10) / 2^10
        (12, 2, 0.012939453125),  # 2 * (1 + 14 + 91) / 2^14
        (0, 0, 1.0),
        (3, 3, 1.0),  # 2 * 42/64 > 1 is capped
        (0, 1, 1.0),
    ],
)
def test_mcnemar_hand_computed(b, c, p):
    assert mcnemar_exact(b, c) == p


@pytest.mark.parametrize(("b", "c"), [(7, 19), (40, 62), (250, 180), (1, 1200)])
def test_mcnemar_against_reference(b, c):
    assert math.isclose(mcnemar_exact(b, c), binom_two_sided_reference(b, c), rel_tol=1e-12)


def test_threshold_conventions():
    assert parse_threshold("worst.tail=1.0", "max_drop").limit == 1.0
    assert parse_threshold("worst.tail=2pp", "max_drop").limit == 2.0
    assert parse_threshold("aa.tail=0.20", "min").limit == 0.20
    assert parse_threshold("aa.tail=20%", "min").limit == pytest.approx(0.20)
    bad = [
        ("worst.tail=1%", "max_drop", "percentage points"),
        ("aa.tail=20", "min", "ambiguous"),
        ("aa.tail", "min", "PATH=VALUE"),
        ("aa.tail=abc", "min", "not a number"),
        ("worst.tail=-1", "max_drop", "not a number"),
        ("aa.tail=150%", "min", "cannot exceed"),
    ]
    for text, kind, needle in bad:
        with pytest.raises(ConfigError, match=needle):
            parse_threshold(text, kind)


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("worsttail", "must be <outcome>.<scope>"),
        ("nosuch.overall", "unknown outcome 'nosuch'"),
        ("worst.nosuch", "unknown scope 'nosuch'"),
        ("worst.class:99", "out of range"),
        ("worst.class:unicorn", "unknown class 'unicorn'"),
        ("worst.class:", "needs an index"),
    ],
)
def test_metric_path_errors(path, needle):
    y, clean, adv = standard_pair()
    with pytest.raises(ConfigError, match=needle):
        metric_value(make_report(y, clean, adv), path)


def test_metric_values_follow_the_report():
    y, clean, adv = standard_pair()
    r = make_report(y, clean, adv)
    assert parse_metric_path("worst_case.tail").outcome == "worst"
    assert metric_value(r, "worst.tail").value == r.worst_case.summary.groups["tail"].recall == 0.4
    assert metric_value(r, "pgd20.overall").value == 0.5
    assert metric_value(r, "clean.class:3").value == metric_value(r, "clean.class:CAT").value == 0.9
    assert metric_value(r, "aa.balanced").value == pytest.approx(0.4)


def tail_regression(n_lost: int, n_gained: int = 0):
    """Baseline and a new report on the same samples: the new one loses robustness on
    ``n_lost`` robust tail samples and gains it on ``n_gained`` clean-wrong tail samples."""
    y, clean, adv = standard_pair()
    base = make_report(y, clean, adv)
    robust_tail = [i for i in range(160, 240) if base.per_sample["robust"][i]]
    wrong_tail = [i for i in range(160, 240) if clean[i] != y[i]]
    lost, gained = robust_tail[:n_lost], wrong_tail[:n_gained]
    new_adv = {a: flip(flip(p, y, lost, False), y, gained, True) for a, p in adv.items()}
    new = make_report(y, flip(clean, y, gained, True), new_adv)
    return base, new


def test_mcnemar_decides_paired_drops():
    base, new = tail_regression(12, 2)
    res = run_gate(new, [parse_threshold("worst.tail=1.0", "max_drop")], base)
    (check,) = res.checks
    assert check.method == "mcnemar" and check.discordant == (12, 2)
    assert check.p_value == 0.012939453125
    assert check.delta_pp == pytest.approx(-12.5)  # 32/80 -> 22/80
    assert not res.passed
    # same drop, tolerance above it: pass; small drop that is not significant: pass
    assert run_gate(new, [parse_threshold("worst.tail=13", "max_drop")], base).passed
    base3, new3 = tail_regression(3)
    res3 = run_gate(new3, [parse_threshold("worst.tail=1.0", "max_drop")], base3)
    assert res3.checks[0].p_value == 0.25 and res3.passed
    # head samples did not change: no discordant pairs there
    head = run_gate(new, [parse_threshold("worst.head=0", "max_drop")], base).checks[0]
    assert head.discordant == (0, 0) and head.p_value == 1.0 and head.passed


def test_wilson_when_samples_differ():
    y, clean, adv = standard_pair()
    base = make_report(y, clean, adv)
    other = [i + 10_000 for i in range(len(y))]
    modest = make_report(
        y,
        clean,
        {a: flip(p, y, list(range(161, 240, 10)), False) for a, p in adv.items()},
        index=other,
    )
    res = run_gate(modest, [parse_threshold("worst.tail=1.0", "max_drop")], base)
    assert res.checks[0].method == "wilson" and res.passed  # 10 points, intervals overlap
    assert res.notes and "other indices" in res.notes[0]
    tail_dead = {a: flip(p, y, list(range(160, 240)), False) for a, p in adv.items()}
    res = run_gate(
        make_report(y, clean, tail_dead, index=other),
        [parse_threshold("worst.tail=1.0", "max_drop")],
        base,
    )
    assert (
        res.checks[0].method == "wilson" and not res.passed and "disjoint" in res.checks[0].detail
    )


@pytest.fixture
def reports(tmp_path):
    base, new = tail_regression(12, 2)
    base.save(str(tmp_path / "base.json"))
    new.save(str(tmp_path / "new.json"))
    y, clean, adv = standard_pair()
    make_report(y, clean, adv, eps=4 / 255).save(str(tmp_path / "eps4.json"))
    make_report(y, clean, {"pgd20": adv["pgd20"]}).save(str(tmp_path / "pgd_only.json"))
    data = json.loads((tmp_path / "base.json").read_text())
    (tmp_path / "v99.json").write_text(json.dumps({**data, "schema_version": 99}))
    (tmp_path / "noclean.json").write_text(
        json.dumps({k: v for k, v in data.items() if k != "clean"})
    )
    (tmp_path / "bad.json").write_text("{not json")
    return tmp_path


def gate(d, new, *args):
    return runner.invoke(app, ["gate", str(d / new), *[a.replace("@", str(d) + "/") for a in args]])


def test_exit_0_when_nothing_regressed(reports):
    res = gate(
        reports,
        "base.json",
        "--baseline",
        "@base.json",
        "--max-drop",
        "worst.tail=0",
        "--max-drop",
        "aa.overall=0.5",
        "--min",
        "aa.tail=0.20",
    )
    assert res.exit_code == 0, res.output
    assert "gate passed" in res.output and "FAIL" not in res.output


def test_exit_1_on_regression_with_junit(reports):
    junit = reports / "gate.xml"
    res = gate(
        reports,
        "new.json",
        "--baseline",
        "@base.json",
        "--max-drop",
        "worst.tail=1.0",
        "--min",
        "aa.tail=20%",
        "--min",
        "worst.head=0.9",
        "--junit",
        str(junit),
    )
    assert res.exit_code == 1, res.output
    assert "gate failed" in res.output and "p=0.0129" in res.output
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["max-drop worst.tail <= 1pp"].find("failure")
    assert failure is not None and "b=12 c=2" in failure.get("message")
    assert "delta_pp=-12.500" in failure.text and "baseline=0.400000" in failure.text
    assert cases["min aa.tail >= 0.2"].find("failure") is None  # 22/80 >= 0.20
    assert cases["min worst.head >= 0.9"].find("failure") is not None  # 0.4 < 0.9


BAD = [
    (["missing.json", "--min", "aa.tail=0.2"], "does not exist"),
    (["new.json", "--baseline", "@missing.json", "--max-drop", "aa.tail=1"], "does not exist"),
    (["bad.json", "--min", "aa.tail=0.2"], "not valid JSON"),
    (["v99.json", "--min", "aa.tail=0.2"], "schema_version 99"),
    (["noclean.json", "--min", "aa.tail=0.2"], "does not match the report schema"),
    (["new.json", "--min", "nosuch.tail=0.2"], "unknown outcome"),
    (["new.json", "--min", "aa.middle=0.2"], "unknown scope"),
    (["new.json", "--max-drop", "aa.tail=1"], "needs --baseline"),
    (["new.json"], "nothing to check"),
    (["new.json", "--min", "aa.tail=20"], "ambiguous"),
    (["new.json", "--baseline", "@eps4.json", "--max-drop", "clean.overall=1"], "eps differs"),
    (["new.json", "--baseline", "@pgd_only.json", "--max-drop", "worst.tail=1"], "attack set"),
    (["new.json", "--min", "aa.tail=0.2", "--alpha", "1.5"], "alpha"),
]


@pytest.mark.parametrize(("args", "needle"), BAD)
def test_exit_2_on_unusable_input(reports, args, needle):
    res = gate(reports, *args)
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ltrobust: error:"), err
    assert needle in err


def test_different_attack_sets_still_gate_clean(reports):
    res = gate(
        reports,
        "new.json",
        "--baseline",
        "@pgd_only.json",
        "--max-drop",
        "clean.overall=1",
        "--max-drop",
        "pgd20.tail=20",
    )
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def audit_files(tmp_path_factory):
    """Two nearest-prototype linear models as TorchScript (no training): ``good.ts`` and
    ``bad.ts``, whose tail classes (4, 5) are never predicted; test tensors and counts."""
    import torch

    from .conftest import SHAPE, TRAIN_COUNTS, synthetic

    d = tmp_path_factory.mktemp("audit")
    protos = torch.rand((6, *SHAPE), generator=torch.Generator().manual_seed(1234)).flatten(1)
    x, y = synthetic([8] * 6, seed=2)
    torch.save({"x": x, "y": y}, d / "test.pt")
    (d / "counts.json").write_text(json.dumps(TRAIN_COUNTS))
    for name, tail_bias in (("good", 0.0), ("bad", -1e3)):
        lin = torch.nn.Linear(protos.shape[1], 6)
        with torch.no_grad():
            lin.weight.copy_(2 * protos)
            lin.bias.copy_(-(protos**2).sum(1))
            lin.bias[4:] += tail_bias
        model = torch.nn.Sequential(torch.nn.Flatten(), lin).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace's deprecation
            torch.jit.trace(model, x[:2]).save(str(d / f"{name}.ts"))
    return d


@pytest.fixture
def no_diagnostics(monkeypatch):
    """The audit's own diagnostics (kappa sweep, AutoAttack at several scales) are not under
    test here and take most of an audit's time: switch them off when the API allows it."""
    import inspect

    import ltrobust.audit as audit_pkg

    real = audit_pkg.audit
    if "diagnose" in inspect.signature(real).parameters:
        monkeypatch.setattr(
            audit_pkg, "audit", lambda *a, **k: real(*a, **{**k, "diagnose": False})
        )


def audit(d, model, out, *extra):
    args = ["audit", str(d / model), "--dataset", f"tensors:{d / 'test.pt'}", "--class-counts"]
    args += [str(d / "counts.json"), "--attacks", "fgsm", "--eps", "0.02", "--step", "0.01"]
    args += ["--quiet", "--out", str(d / out)]
    return runner.invoke(app, [*args, *extra])


def test_audit_writes_rendered_reports_and_gates(audit_files, no_diagnostics):
    d = audit_files
    res = audit(d, "good.ts", "base")
    assert res.exit_code == 0, res.output
    for f in (
        "report.json",
        "per_class.csv",
        "report.md",
        "report.html",
        "report_plots/recall.png",
    ):
        assert (d / "base" / f).is_file(), f
    assert "## Robust recall by group" in (d / "base" / "report.md").read_text()
    base = ["--baseline", str(d / "base" / "report.json"), "--fail-on-regression"]
    res = audit(d, "bad.ts", "worse", *base)
    assert res.exit_code == 1, res.output
    assert "gate failed" in res.output and "FAIL max-drop worst.tail <= 0pp" in res.output
    assert "mcnemar" in res.output  # same samples: paired test
    assert (d / "worse" / "report.html").is_file()  # the report is written before the gate


def test_audit_gate_passes_or_warns(capsys):
    """The gate step of `audit --baseline` (no audit run needed): pass, warn, or exit 1."""
    from ltrobust.cli.audit import gate_against as _gate_against

    base, new = tail_regression(12)
    _gate_against(base, base, fail_on_regression=True)  # identical: passes, no exit
    assert "gate passed" in capsys.readouterr().out
    _gate_against(new, base, fail_on_regression=False)
    assert "regression vs the baseline" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        _gate_against(new, base, fail_on_regression=True)
    assert exc.value.code == 1


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--baseline", "missing.json"], "does not exist"),
        (["--fail-on-regression"], "needs --baseline"),
    ],
)
def test_audit_bad_baseline_exits_2_before_auditing(audit_files, extra, needle):
    res = audit(audit_files, "good.ts", "never", *extra)
    assert res.exit_code == 2 and needle in res.stderr
    assert not (audit_files / "never").exists()


def test_balanced_scope_paired_or_tolerance_only():
    base, new = tail_regression(12, 2)
    check = run_gate(new, [parse_threshold("worst.balanced=1", "max_drop")], base).checks[0]
    assert check.method == "mcnemar" and check.discordant == (12, 2)  # balanced test set
    y = [c for c, k in enumerate([40, 30, 20, 10, 6, 4]) for _ in range(k)]
    base_lt = make_report(y, y, {"pgd20": y}, test_imbalanced=True)
    new_lt = make_report(y, y, {"pgd20": [5 if t != 5 else 0 for t in y]}, test_imbalanced=True)
    res = run_gate(new_lt, [parse_threshold("pgd20.balanced=1", "max_drop")], base_lt)
    assert res.checks[0].method == "tolerance" and not res.passed
    assert res.checks[0].delta_pp == pytest.approx(-100.0)
