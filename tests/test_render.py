"""Rendering: self-contained HTML, Markdown with its plots, the tidy frame, CSV/Parquet, and
reading a report without torch."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ltrobust.report as R
from ltrobust.cli.main import app
from ltrobust.report.blocks import frac
from ltrobust.report.frame import FRAME_COLUMNS
from ltrobust.report.render_html import report_html

from .report_factory import full_diagnostics, full_verdict, make_report, standard_pair

runner = CliRunner()
GOLDEN = Path(__file__).parent / "golden" / "report_v1.json"
PNG = b"\x89PNG\r\n\x1a\n"


def plain_report():
    y, clean, adv = standard_pair()
    return make_report(y, clean, adv)


def full_report():
    y, clean, adv = standard_pair()
    return make_report(y, clean, adv, diagnostics=full_diagnostics(), verdict=full_verdict())


class Refs(HTMLParser):
    """Every URL-carrying attribute and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "srcset", "poster", "data", "action"):
                self.urls.append((tag, k, v or ""))
            if k == "id":
                self.ids.append(v)


def parse(html: str) -> Refs:
    p = Refs()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def html_full() -> str:
    return report_html(full_report())


def test_html_is_self_contained(html_full):
    refs = parse(html_full)
    imgs = [u for t, k, u in refs.urls if t == "img"]
    assert len(imgs) == 4  # recall, sweep, zero_grad, landing
    for u in imgs:
        assert u.startswith("data:image/png;base64,")
        assert base64.b64decode(u.split(",", 1)[1]).startswith(PNG)
    others = [u for t, k, u in refs.urls if t != "img"]
    assert others and all(u.startswith("#") and u[1:] in refs.ids for u in others)  # nav anchors
    assert not {"script", "link", "iframe", "object", "embed"} & set(refs.tags)
    low = html_full.lower()
    assert (
        "http://" not in low
        and "https://" not in low
        and "url(" not in low
        and "@import" not in low
    )


def test_html_sections_in_order(html_full):
    order = [
        "Verdict",
        "Sanity checks",
        "Robust recall by group",
        "Per-class recall",
        "κ sweep (logit scaling)",
        "Zero-gradient ratios",
        "Where adversarial examples land",
        "Provenance",
    ]
    pos = [html_full.index(f">{h}</h") for h in order]
    assert pos == sorted(pos)
    assert 'class="verdict-inflated">inflated<' in html_full and "+18.0" in html_full
    assert "ab" * 32 in html_full and "apgd-dlr" in html_full
    assert "<details><summary>1 check passed</summary>" in html_full
    assert "Unbounded attack (linf eps=1, 20 steps): recall 0.0% overall, head 0.0%" in html_full
    assert "whole sample, PGD-20" in html_full


def test_html_skips_absent_diagnostics():
    html = report_html(plain_report())
    assert len([u for t, k, u in parse(html).urls if t == "img"]) == 2
    assert 'id="sweep"' not in html and 'id="zero-grad"' not in html and 'id="checks"' not in html
    assert "No verdict in this report" in html


def test_markdown_with_plot_files(tmp_path):
    files = R.write_format(full_report(), "md", tmp_path / "out.md")
    text = (tmp_path / "out.md").read_text()
    assert (
        text.index("## Verdict")
        < text.index("## Robust recall by group")
        < text.index("## Provenance")
    )
    assert "| **worst case** | 40.0 (" in text and "| tail | **inflated** | 12.0 |" in text
    links = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert links == [
        "out_plots/recall.png",
        "out_plots/sweep.png",
        "out_plots/zero_grad.png",
        "out_plots/landing.png",
    ]
    for link in links:
        assert (tmp_path / link).read_bytes().startswith(PNG)
    assert len(files) == 5


def test_group_table_numbers():
    doc_html = report_html(plain_report())
    table = doc_html[
        doc_html.index(">Robust recall by group</h") : doc_html.index(">Per-class recall</h")
    ]
    # clean 90% (interval 85.6–93.2 of 216/240), pgd20 50%, worst case = aa 40% in every group
    assert '<td>clean</td><td>90.0<span class="sub">85.6–93.2</span>' in table
    assert '<td class="strong">worst case</td><td>40.0' in table
    assert table.count(">50.0<") == 6  # pgd20: overall, three groups, balanced, worst class


def test_golden_report_renders(tmp_path):
    r = R.read_report(GOLDEN)
    html = report_html(r)
    assert "Robust recall by group" in html and "No verdict" in html
    R.write_format(r, "md", tmp_path / "g.md")
    assert "## Provenance" in (tmp_path / "g.md").read_text()


def test_to_frame_matches_json(tmp_path):
    r = plain_report()
    r.save(str(tmp_path / "report.json"))
    df = R.load(tmp_path / "report.json").to_frame()
    data = json.loads((tmp_path / "report.json").read_text())
    assert tuple(df.columns) == FRAME_COLUMNS
    assert len(df) == 4 * (6 + 3 + 1)  # clean, pgd20, aa, worst x (classes, groups, overall)
    for outcome, key in (("clean", "clean"), ("worst", "worst_case")):
        summ = data[key]["summary"]
        rows = df[(df.attack == outcome) & (df.level == "class")].sort_values("class")
        assert rows["recall"].tolist() == [c["recall"] for c in summ["per_class"]]
        assert rows["ci_low"].tolist() == [c["ci_low"] for c in summ["per_class"]]
        g = df[(df.attack == outcome) & (df.level == "group")].set_index("group")
        assert g.loc["tail", "recall"] == summ["groups"]["tail"]["recall"]
        assert g.loc["tail", "n"] == 80 and g["class"].isna().all()
        overall = df[(df.attack == outcome) & (df.level == "overall")]
        assert overall["recall"].item() == summ["accuracy"]
    tail_class = df[(df.level == "class") & (df["class"] == 5)].iloc[0]
    assert (
        tail_class.group == "tail"
        and tail_class.class_name == "dog"
        and tail_class.train_count == 10
    )
    headline = df[df.level != "class"].pivot(index="attack", columns="group", values="recall")
    assert headline.loc["aa", "overall"] == pytest.approx(0.4)


def test_cli_formats(tmp_path):
    r = plain_report()
    r.save(str(tmp_path / "report.json"))
    for fmt in ("html", "md", "csv"):
        res = runner.invoke(app, ["report", str(tmp_path / "report.json"), "--format", fmt])
        assert res.exit_code == 0, res.output
        assert (tmp_path / f"report.{fmt}").is_file()
    assert (tmp_path / "report.csv").read_text().splitlines()[0] == ",".join(FRAME_COLUMNS)
    res = runner.invoke(app, ["report", str(tmp_path / "report.json"), "--format", "terminal"])
    assert res.exit_code == 0 and "worst case" in res.output and "tail" in res.output


def test_parquet(tmp_path, monkeypatch):
    r = plain_report()
    r.save(str(tmp_path / "report.json"))
    args = [
        "report",
        str(tmp_path / "report.json"),
        "--format",
        "parquet",
        "--out",
        str(tmp_path / "t.parquet"),
    ]
    pytest.importorskip("pyarrow")
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    import pandas as pd

    back = pd.read_parquet(tmp_path / "t.parquet")
    assert back["recall"].tolist() == R.load(tmp_path / "report.json").to_frame()["recall"].tolist()
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "pyarrow" else real(n, *a)
    )
    (tmp_path / "t.parquet").unlink()
    res = runner.invoke(app, args)
    assert (
        res.exit_code == 2
        and "needs pyarrow" in res.stderr
        and len(res.stderr.strip().splitlines()) == 1
    )
    assert not (tmp_path / "t.parquet").exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "does not exist"),
        ("[1, 2]", "not a JSON object"),
        ('{"schema_version": 7}', "schema_version 7"),
    ],
)
def test_report_bad_input(tmp_path, content, needle):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    res = runner.invoke(app, ["report", str(path), "--format", "html"])
    assert res.exit_code == 2 and needle in res.stderr
    assert not (tmp_path / "r.html").exists()


def test_frac():
    assert [frac(8 / 255), frac(0.1), frac(0.5), frac(1.0)] == ["8/255", "0.1", "0.5", "1"]


def test_reading_rendering_and_gating_never_import_torch(tmp_path):
    plain_report().save(str(tmp_path / "report.json"))
    code = (
        "import sys\n"
        "from ltrobust.cli.main import app\n"
        "import ltrobust.report.gate, ltrobust.report.compare\n"
        f"p = {str(tmp_path / 'report.json')!r}\n"
        "for args in (['report', p, '--format', 'html'], ['gate', p, '--baseline', p, '--max-drop', 'worst.tail=0'], ['compare', p, p]):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), (args, e.code)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("command", ["report", "compare", "gate"])
def test_help(command):
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0 and "Usage" in res.output


def test_clean_only_report_renders(tmp_path):
    y, clean, _ = standard_pair()
    r = make_report(y, clean, {})
    html = report_html(r)
    assert "worst case" not in html.split('id="groups"')[1].split("</table>")[0]
    assert len([u for t, k, u in parse(html).urls if t == "img"]) == 1  # recall bars only
    df = R.report_frame(r)
    assert set(df.attack) == {"clean"} and len(df) == 6 + 3 + 1
