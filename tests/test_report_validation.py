"""report.json validated on load (types, ranges, consistency), a gate that never passes on a value
it could not compare, and report names rendered as data (escaped Markdown and HTML)."""

from __future__ import annotations

import copy
import html
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import ltrobust.report as R
from ltrobust.cli.main import app
from ltrobust.errors import ConfigError, LtRobustError
from ltrobust.report.compare import compare_reports
from ltrobust.report.gate import Threshold, parse_threshold, run_gate
from ltrobust.report.plots import landing_plot, recall_bars
from ltrobust.report.render_html import report_html
from ltrobust.report.render_md import write_markdown
from ltrobust.report.schema import AuditReport
from ltrobust.report.text import is_control, visible
from ltrobust.report.validate import ReportSchemaError, validate_report

from .report_factory import full_diagnostics, full_verdict, make_report, standard_pair

runner = CliRunner()
NAN, INF = float("nan"), float("inf")


def full_data() -> dict[str, Any]:
    """A valid report with every part (diagnostics, verdict, per-sample block) as JSON data."""
    y, clean, adv = standard_pair()
    r = make_report(y, clean, adv, diagnostics=full_diagnostics(), verdict=full_verdict())
    return json.loads(r.to_json())


FULL = full_data()


def mutated(path: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    d = copy.deepcopy(FULL)
    parent = d
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return d


def write(path: Path, data: dict[str, Any]) -> str:
    path.write_text(json.dumps(data))  # allow_nan: writes NaN/Infinity as an edited file would
    return str(path)


def one_line_error(res: Any) -> str:
    """The CLI refused with exit 2, one stderr line and no traceback; returns that line."""
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ltrobust: error:"), err
    assert "Traceback" not in res.output + res.stderr
    return err


TAIL = ("attacks", "pgd20", "summary", "groups", "tail")

# ---- cause 1: one validation of the whole schema on load ---------------------------------

# (mutation path, new value, the JSON path and words the error must name)
INVALID = [
    (
        (*TAIL, "recall"),
        "0.5",
        'attacks.pgd20.summary.groups.tail.recall must be a number in [0, 1] or null, got "0.5"',
    ),
    (
        (*TAIL, "recall"),
        NAN,
        "attacks.pgd20.summary.groups.tail.recall must be a number in [0, 1] or null, got NaN",
    ),
    ((*TAIL, "recall"), 7.5, "groups.tail.recall must be a number in [0, 1] or null, got 7.5"),
    ((*TAIL, "recall"), 0.9, "groups.tail.recall must be correct / n = 40/80 = 0.5, got 0.9"),
    (
        (*TAIL, "ci_high"),
        INF,
        "groups.tail.ci_high must be a number in [0, 1] or null, got Infinity",
    ),
    ((*TAIL, "correct"), -1, "groups.tail.correct must be an integer >= 0, got -1"),
    ((*TAIL, "classes"), [4, 6], "groups.tail.classes[1] must be a class index in [0, 5], got 6"),
    (("clean", "summary", "per_class", 5), None, "clean.summary.per_class[5] must be an object"),
    (("clean", "confusion", 2), [1, 2], "clean.confusion[2] must have 6 entries"),
    (("clean", "confusion", 0, 1), 3, "clean.confusion[0] must sum to summary.per_class[0].n = 40"),
    (("clean", "summary", "per_class"), [], "clean.summary.per_class must have 6 entries"),
    (("clean", "summary", "balanced_accuracy"), 1.0, "clean.summary.balanced_accuracy must be 0.9"),
    (
        ("attacks", "aa", "boundary_error", "tail"),
        1.5,
        "attacks.aa.boundary_error.tail must be a number in [-1, 1]",
    ),
    (("per_sample", "y"), [0] * 10, "per_sample.y must have 240 entries"),
    (
        ("per_sample", "clean_pred", 7),
        6,
        "per_sample.clean_pred[7] must be a class index in [0, 5], got 6",
    ),
    (
        ("per_sample", "adv_pred", "aa", 0),
        2,
        "per_sample.adv_pred.aa does not match attacks.aa.confusion",
    ),
    (("per_sample", "robust", 1), False, "per_sample.robust[1] must be true"),
    (("config", "eps"), "8/255", 'config.eps must be a number > 0, got "8/255"'),
    (("dataset", "class_names"), "plane,car", "dataset.class_names must be a list"),
    (("dataset", "num_classes"), 7, "dataset.class_names must have 7 entries"),
    (
        ("diagnostics", "checks", 0, "value"),
        NAN,
        "diagnostics.checks[0].value must be a number in [-1, 1] or null, got NaN",
    ),
    (
        ("verdict", "groups", "tail", "verdict"),
        "fine",
        "verdict.groups.tail.verdict must be one of",
    ),
    (
        ("provenance", "seconds"),
        [1.0, INF],
        "provenance.seconds[1] must be a finite number, got Infinity",
    ),
    (("clean", "summary", "extra"), 1, "unknown key clean.summary.extra"),
]


@pytest.mark.parametrize(("path", "value", "needle"), INVALID)
def test_library_readers_refuse_with_the_json_path(tmp_path, path, value, needle):
    """Cause 1: every reader shares one validation; the error is one line naming the file and
    the first bad field (before: a string recall crashed, NaN and 7.5 were accepted)."""
    data = mutated(path, value)
    with pytest.raises(ReportSchemaError) as exc:
        AuditReport.from_dict(data)
    assert needle in str(exc.value)
    file = write(tmp_path / "new.json", data)
    for read in (AuditReport.load, R.read_report, R.load):
        with pytest.raises(LtRobustError) as exc:
            read(file)
        msg = str(exc.value)
        assert msg.startswith(f"{file} does not match the report schema: ") and needle in msg
        assert "\n" not in msg


def test_missing_field_is_named(tmp_path):
    data = mutated(("attacks", "pgd20", "confusion"), delete=True)
    with pytest.raises(ReportSchemaError, match=r"attacks\.pgd20\.confusion is missing"):
        validate_report(data)
    data = mutated(("diagnostics",), delete=True)
    with pytest.raises(ReportSchemaError, match="diagnostics is missing"):
        validate_report(data)


INVALID_CLI = [INVALID[0], INVALID[1], INVALID[8], INVALID[14]]


@pytest.mark.parametrize(("path", "value", "needle"), INVALID_CLI)
def test_cli_report_gate_compare_exit_2_on_invalid_report(tmp_path, path, value, needle):
    good = write(tmp_path / "base.json", FULL)
    bad = write(tmp_path / "new.json", mutated(path, value))
    for args in (
        ["report", bad, "--format", "html"],
        ["gate", bad, "--baseline", good, "--max-drop", "pgd20.tail=0"],
        ["gate", good, "--baseline", bad, "--max-drop", "pgd20.tail=0"],
        ["gate", bad, "--min", "pgd20.tail=0.1"],
        ["compare", good, bad],
    ):
        err = one_line_error(runner.invoke(app, args))
        assert f"{bad} does not match the report schema: " in err and needle in err, args
    assert not (tmp_path / "new.html").exists()


def test_valid_reports_still_load_and_round_trip(tmp_path):
    assert AuditReport.from_dict(copy.deepcopy(FULL)).to_dict() == FULL
    golden = Path(__file__).parent / "golden" / "report_v1.json"
    assert R.read_report(golden).to_dict() == json.loads(golden.read_text())
    y, clean, _ = standard_pair()
    y5 = [t for t in y if t != 5]  # class 5 without samples: recall and intervals null
    empty = json.loads(make_report(y5, clean[: len(y5)], {}).to_json())
    assert empty["clean"]["summary"]["per_class"][5]["recall"] is None
    assert AuditReport.from_dict(copy.deepcopy(empty)).to_dict() == empty


def test_json_that_is_not_a_report(tmp_path):
    cases = {
        "nan.json": ("NaN", "report is not a JSON object"),
        "deep.json": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        "v.json": (json.dumps({**FULL, "schema_version": "1"}), 'schema_version "1"'),
        "big.json": ('{"n": 1' + "0" * 5000 + "}", "not valid JSON"),
    }
    for name, (text, needle) in cases.items():
        (tmp_path / name).write_text(text)
        err = one_line_error(runner.invoke(app, ["report", str(tmp_path / name)]))
        assert needle in err


# random mutations: refused with one line, or read back exactly


def _places(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path below ``data`` (objects' keys and list positions), long per-sample lists
    sampled so that each kind of place stays likely."""
    out = []
    if isinstance(data, dict):
        items: list[tuple[Any, Any]] = list(data.items())
    elif isinstance(data, list):
        items = list(enumerate(data))[:: max(1, len(data) // 6)]
    else:
        return out
    for k, v in items:
        out.append((*path, k))
        out += _places(v, (*path, k))
    return out


PLACES = _places(FULL)
JSON_VALUES = st.one_of(
    st.text(max_size=4),
    st.sampled_from([NAN, INF, -INF, None, True, False, -1, 0, 1, 2, 0.5, 1e308, 10**30, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.lists(st.integers(0, 6), max_size=3),
    st.dictionaries(st.sampled_from(["n", "overall", "x"]), st.floats(0, 1), max_size=2),
)


@st.composite
def mutations(draw: st.DrawFn) -> dict[str, Any]:
    d = copy.deepcopy(FULL)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(PLACES))
        parent: Any = d
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this place
        if not isinstance(parent, dict | list):
            continue
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return d


@settings(max_examples=250, deadline=None, database=None)
@given(mutations())
def test_mutated_reports_are_refused_or_round_trip(data):
    try:
        report = AuditReport.from_dict(data)  # reads, never changes, its argument
    except LtRobustError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert report.to_dict() == data


# ---- cause 2: the gate never passes on a value it could not compare ----------------------


@pytest.mark.parametrize("which", ["new", "baseline"])
def test_gate_cli_never_exits_0_on_nan(tmp_path, which):
    """Before: exit 0 with value nan and delta +nan (NaN compares False with everything)."""
    nan = mutated((*TAIL, "recall"), NAN)
    files = {
        "new": write(tmp_path / "new.json", FULL),
        "baseline": write(tmp_path / "b.json", FULL),
    }
    files[which] = write(tmp_path / f"{which}_nan.json", nan)
    res = runner.invoke(
        app, ["gate", files["new"], "--baseline", files["baseline"], "--max-drop", "pgd20.tail=0"]
    )
    assert "got NaN" in one_line_error(res)


def in_memory(path: tuple[Any, ...], value: Any) -> AuditReport:
    """A report object with one attribute set to ``value``, bypassing validation (what a
    library caller can hand the gate)."""
    r = AuditReport.from_dict(copy.deepcopy(FULL))
    obj: Any = r
    for key in path[:-1]:
        obj = obj[key] if isinstance(key, int) or isinstance(obj, dict) else getattr(obj, key)
    if isinstance(obj, list | dict):
        obj[path[-1]] = value
    else:
        setattr(obj, path[-1], value)
    return r


TAIL_OBJ = ("attacks", "pgd20", "summary", "groups", "tail", "recall")
UNCOMPARABLE = [NAN, INF, -INF, None, "0.5", [0.5], {"r": 0.5}, True, -0.1, 1.5, 7.5]


@pytest.mark.parametrize("value", UNCOMPARABLE, ids=repr)
@pytest.mark.parametrize("which", ["new", "baseline"])
def test_gate_fails_checks_it_cannot_compare(which, value):
    good, bad = in_memory(TAIL_OBJ, 0.5), in_memory(TAIL_OBJ, value)
    new, base = (bad, good) if which == "new" else (good, bad)
    thresholds = [parse_threshold("pgd20.tail=100", "max_drop")]
    if which == "new":
        thresholds.append(parse_threshold("pgd20.tail=0", "min"))
    res = run_gate(new, thresholds, base)
    assert not res.passed
    for check in res.checks:
        assert not check.passed and check.method == "not compared"
        assert check.detail.startswith("cannot compare: ") and "\n" not in check.detail
        assert check.delta_pp is None


def test_gate_cli_exit_1_when_a_value_is_missing(tmp_path):
    """No samples of a class, an outcome the baseline lacks: FAIL (exit 1) with the reason
    (before: exit 2 for the first, a ConfigError; the report is valid)."""
    y, clean, adv = standard_pair()
    keep = [i for i, t in enumerate(y) if t != 5]
    sub = [y[i] for i in keep]
    no5 = make_report(
        sub, [clean[i] for i in keep], {a: [p[i] for i in keep] for a, p in adv.items()}, index=keep
    )
    no5.save(str(tmp_path / "no5.json"))
    make_report(y, clean, adv).save(str(tmp_path / "full.json"))
    make_report(y, clean, {"pgd20": adv["pgd20"]}).save(str(tmp_path / "pgd.json"))
    d = str(tmp_path)
    for args, needle in (
        (["gate", f"{d}/no5.json", "--min", "clean.class:5=0.1"], "no value in the new report"),
        (
            ["gate", f"{d}/full.json", "--baseline", f"{d}/pgd.json", "--max-drop", "aa.tail=5"],
            "the baseline has no outcome 'aa'",
        ),
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, res.output
        assert "cannot compare" in " ".join(res.output.split()) and needle in " ".join(
            res.output.split()
        )


def test_gate_refuses_a_threshold_that_is_not_a_number():
    r = AuditReport.from_dict(copy.deepcopy(FULL))
    for t in (Threshold("max_drop", "pgd20.tail", NAN), Threshold("min", "aa.tail", INF)):
        with pytest.raises(ConfigError, match="not a finite number"):
            run_gate(r, [t], r)


def test_compare_never_computes_with_nan():
    a, b = AuditReport.from_dict(copy.deepcopy(FULL)), in_memory(TAIL_OBJ, NAN)
    cmp = compare_reports([a, b], ["a", "b"])
    row = next(r for r in cmp.rows if r.outcome == "pgd20")
    tail = cmp.scopes.index("tail")
    assert row.values[1][tail] is None and row.deltas[1][tail] is None
    b.config["eps"] = NAN
    assert any(p.key == "eps" for _, p in compare_reports([a, b], ["a", "b"]).problems)


# the gate on values it cannot compare, from files and from report objects


COMPARED = [
    ("pgd20.tail", (*TAIL, "recall")),
    ("pgd20.tail", (*TAIL, "correct")),
    ("clean.overall", ("clean", "summary", "accuracy")),
    ("worst.class:5", ("worst_case", "summary", "per_class", 5, "recall")),
    ("aa.balanced", ("attacks", "aa", "summary", "balanced_accuracy")),
]
NOT_COMPARABLE = st.one_of(
    st.sampled_from([NAN, INF, -INF, None, "0.5", True, -0.25, 1.5, 7.5, [], {}]),
    st.floats(allow_nan=True).filter(lambda v: not 0 <= v <= 1),
    st.text(max_size=3),
)


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.sampled_from(COMPARED), NOT_COMPARABLE, st.booleans(), st.booleans())
def test_gate_cli_never_passes_on_a_mutated_compared_value(
    tmp_path, target, value, in_base, delete
):
    metric, path = target
    bad = mutated(path, delete=True) if delete else mutated(path, value)
    new = write(tmp_path / "n.json", FULL if in_base else bad)
    base = write(tmp_path / "b.json", bad if in_base else FULL)
    for option in (["--max-drop", f"{metric}=100"], ["--min", f"{metric}=0"]):
        res = runner.invoke(app, ["gate", new, "--baseline", base, *option])
        assert res.exit_code in (1, 2), (metric, value, res.output)
        if res.exit_code == 2:
            one_line_error(res)


VALUES = [(metric, path) for metric, path in COMPARED if path[-1] != "correct"]


@settings(max_examples=60, deadline=None, database=None)
@given(st.sampled_from(VALUES), st.one_of(NOT_COMPARABLE, st.just(math.nan)), st.booleans())
def test_gate_never_passes_in_memory(target, value, in_base):
    """Report objects a library caller builds are not validated: the gate itself refuses to
    pass on a value that is not a fraction in [0, 1]."""
    metric, path = target
    bad = in_memory(path, value)
    good = AuditReport.from_dict(copy.deepcopy(FULL))
    new, base = (good, bad) if in_base else (bad, good)
    res = run_gate(new, [parse_threshold(f"{metric}=100", "max_drop")], base)
    assert not res.passed and res.checks[0].method == "not compared"


# ---- cause 3: names are data, shown literally in Markdown, HTML and the plots --------------

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[/]",
    "| pipe",
    "*bold*",
    "\x1b]0;title\x07",
    "\x1b[2J",
    "two\nlines",
    r"$\frac{$x$",
]
HOSTILE_GROUPS = {"head": [0, 1, 2], "b<o>dy|": [3, 4, 5], "tail\x1b[31m": [6, 7, 8]}


def hostile_report() -> AuditReport:
    y = [c for c in range(len(HOSTILE)) for _ in range(4)]
    clean = [t if i % 4 else (t + 1) % len(HOSTILE) for i, t in enumerate(y)]
    adv = {"pgd20": [t if i % 2 else (t + 2) % len(HOSTILE) for i, t in enumerate(y)]}
    diagnostics = full_diagnostics(HOSTILE_GROUPS)
    diagnostics["warnings"] = ["<b onmouseover=alert(1)>warn</b>\r\x1b[1A"]
    return make_report(
        y,
        clean,
        adv,
        dataset="<script>ds</script>",
        names=HOSTILE,
        counts=[90 - 10 * i for i in range(len(HOSTILE))],
        groups=HOSTILE_GROUPS,
        diagnostics=diagnostics,
        verdict=full_verdict(HOSTILE_GROUPS),
    )


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def controls(text: str) -> set[str]:
    return {ch for ch in text if is_control(ch) and ch != "\n"}


def md_shown(md: str) -> str:
    """What Markdown displays: backslash escapes of punctuation and entities resolved."""
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", md))


def test_hostile_names_render_literally(tmp_path):
    """Before: report.md held raw <script> and <img onerror> tags and raw ESC characters."""
    report = hostile_report()
    AuditReport.from_dict(json.loads(report.to_json()))  # a valid report
    plots = {"recall": recall_bars(report), "landing": landing_plot(report)}  # no mathtext error
    write_markdown(report, tmp_path / "r.md", plots)
    md = (tmp_path / "r.md").read_text()
    page = report_html(report, plots)
    for tag in ("<script", "<img", "<b ", "<o>", "<svg"):
        assert tag not in md.lower()
    assert not controls(md) and not controls(page)
    shown_md, shown_html = md_shown(md), page.replace("&lt;", "<").replace("&gt;", ">")
    for name in [*HOSTILE, *HOSTILE_GROUPS]:
        assert visible(name) in shown_md, name
        assert visible(name).replace("&", "&amp;").replace('"', "&quot;") in shown_html, name
    for block in md.split("\n\n"):  # every table row keeps its cells
        rows = [line for line in block.splitlines() if line.startswith("|")]
        cells = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
        assert len(cells) <= 1, block
    tags = Tags()
    tags.feed(page)
    ours = "html head meta title style body main h1 h2 h3 p nav a div table thead tbody tr th td"
    ours += " span ul li details summary footer img"
    assert {t for t, _ in tags.tags} <= set(ours.split())
    images = [attrs for t, attrs in tags.tags if t == "img"]
    assert len(images) == 2
    assert all(str(a["src"]).startswith("data:image/png;base64,") for a in images)
    assert not any(k.startswith("on") for _, attrs in tags.tags for k in attrs)
