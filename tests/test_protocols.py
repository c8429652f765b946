"""Paper protocols replayed beside strict (docs/PROTOCOLS.md): an attack two protocols run with
the same settings runs once, each protocol scores its rows as its paper does, strict is never
above any protocol's number, and the gap is tested with McNemar on the same samples."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.attacks import ThreatModel
from ltrobust.audit.config import AuditConfig
from ltrobust.audit.protocol_run import (
    budget_note,
    long_tailed_subset,
    plan_attacks,
    protocol_section,
)
from ltrobust.audit.protocols import ALL_GROUPS, HEADLINE_METRICS, PROTOCOLS, protocol_attacks
from ltrobust.audit.session import DataInfo
from ltrobust.cli.main import app
from ltrobust.data.profile import lt_counts
from ltrobust.errors import ConfigError
from ltrobust.models import create_model, save_checkpoint
from ltrobust.report.blocks import Document
from ltrobust.report.document_protocols import HEADLINE_METRICS as REPORT_METRICS
from ltrobust.report.document_protocols import protocols_section
from ltrobust.report.render_md import render_markdown
from ltrobust.report.significance import clopper_pearson

from .conftest import save_audit_set, save_test_cnn

runner = CliRunner()
CIFAR = ThreatModel("linf", 8 / 255)
ROOT = Path(__file__).resolve().parents[1]


def test_shared_attacks_run_once():
    config = AuditConfig(attacks=["pgd20", "aa"], protocols=["mcat", "robustbench", "strict"])
    attacks, rows = plan_attacks(config, CIFAR, 2 / 255)
    # MCAT's PGD-20 (step eps/4 = 2/255 here) and AA, and RobustBench's AA, are strict's own
    assert attacks == ["pgd20", "aa"]
    assert rows[("mcat", "PGD-20")] == "pgd20" and rows[("robustbench", "AA")] == "aa"
    # on a dataset whose step is not eps/4, MCAT's PGD-20 is an attack of its own
    attacks, rows = plan_attacks(config, ThreatModel("linf", 0.1), 0.01)
    assert attacks == ["pgd20", "aa", "mcat-pgd20"] and rows[("mcat", "PGD-20")] == "mcat-pgd20"
    # without strict only the protocols' attacks run
    attacks, _ = plan_attacks(AuditConfig(protocols=["at-bsl"]), CIFAR, 2 / 255)
    assert attacks == ["atbsl-fgsm", "atbsl-pgd20", "atbsl-cw20", "atbsl-lsa", "ta-aa"]


def test_protocol_names_and_threat_model_are_checked():
    assert set(PROTOCOLS.names()) >= {"robal", "at-bsl", "reat", "robustlt", "mcat", "taet"}
    with pytest.raises(ConfigError, match="unknown protocol 'deepmind'"):
        AuditConfig(protocols=["deepmind"]).validate()
    with pytest.raises(ConfigError, match="L-inf only"):
        AuditConfig(protocols=["robal"], norm="l2").validate()


def test_a_protocol_scores_rows_on_their_own_and_strict_is_the_worst_case():
    info = DataInfo("toy", 2, ["a", "b"], {"head": [0], "tail": [1]}, [100, 10])
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    clean = torch.tensor([0, 0, 0, 1, 1, 1, 1, 0])
    # each attack alone looks strong, on different samples; PGD-20 even "repairs" sample 3
    preds = {
        "ta-pgd20": torch.tensor([0, 0, 1, 0, 1, 1, 1, 1]),
        "reat-pgd100": torch.tensor([0, 1, 0, 0, 1, 1, 0, 1]),
        "reat-cw100": torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]),
        "aa": torch.tensor([1, 0, 0, 0, 1, 0, 1, 1]),
    }
    rows = {("reat", label): attack for label, attack in PROTOCOLS.lookup("reat")[0].settings.rows}
    robust = clean == y
    for p in preds.values():
        robust &= p == y
    sec = protocol_section("reat", rows, preds, clean, robust, y, info, info.class_counts)
    # REAT leads with AutoAttack (its introduction, every table's last column), not PGD-20
    assert (sec["headline"], sec["headline_metric"], sec["groups_published"]) == (
        "AA",
        "overall",
        [],
    )
    assert sec["published"]["overall"] == 6 / 8 and sec["rows"]["PGD-20"]["overall"] == 7 / 8
    assert sec["published"] == {k: sec["rows"]["AA"][k] for k in ("overall", "balanced", "groups")}
    assert sec["rows"]["PGD-20"]["groups"] == {"head": 3 / 4, "tail": 1.0}
    # robust only where clean and every attack are right: sample 4
    assert sec["strict"]["overall"] == 1 / 8 and sec["strict"]["groups"]["tail"] == 1 / 4
    gap = sec["gap"]["overall"]
    assert gap["gap"] == pytest.approx(1 / 8 - 6 / 8) and (gap["b"], gap["c"], gap["n"]) == (
        5,
        0,
        8,
    )
    # 5 of 8 credited wrongly: the exact 95% interval of that share (the gap), no p-value
    assert gap["interval"] == list(clopper_pearson(5, 8)) and "p" not in gap


def test_taets_long_tailed_test_set_follows_the_training_profile():
    y = torch.arange(5).repeat_interleave(40)
    pick = long_tailed_subset(y, [500, 200, 90, 40, 10])
    counts = torch.bincount(y[pick], minlength=5).tolist()
    assert counts == lt_counts(40, 50, 5)
    assert pick.tolist() == sorted(pick.tolist())
    # a reversed profile keeps its head (the last class) the head of the test set, and a
    # shuffled one maps each class to the test count of its training rank
    reverse = long_tailed_subset(y, [10, 40, 90, 200, 500])
    assert torch.bincount(y[reverse], minlength=5).tolist() == lt_counts(40, 50, 5)[::-1]
    shuffled = long_tailed_subset(y, [90, 500, 10, 200, 40])
    by_rank = lt_counts(40, 50, 5)
    expected = [by_rank[2], by_rank[0], by_rank[4], by_rank[1], by_rank[3]]
    assert torch.bincount(y[shuffled], minlength=5).tolist() == expected


def test_audit_with_protocols_end_to_end(tmp_path, trained_cnn, balanced_test):
    save_test_cnn(tmp_path / "model.pt", trained_cnn)
    save_audit_set(tmp_path, balanced_test)
    args = ["audit", str(tmp_path / "model.pt"), "--dataset", f"tensors:{tmp_path / 'test.pt'}"]
    args += ["--class-counts", str(tmp_path / "counts.json"), "--eps", "0.1", "--no-diagnostics"]
    args += ["--attacks", "fgsm,pgd20", "--protocol", "robal,strict", "--out", str(tmp_path / "r")]
    res = runner.invoke(app, [*args, "--quiet"], env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output + res.stderr
    assert "protocols: what each paper's evaluation would publish" in res.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert list(report["protocols"]) == ["robal", "strict"]
    assert report["config"]["attacks"][:2] == ["fgsm", "pgd20"] and "robal-aa" in report["attacks"]
    robal = report["protocols"]["robal"]
    assert report["attacks"]["robal-pgd20"]["settings"]["eps"] == pytest.approx(
        0.1 * 0.031 * 255 / 8
    )
    worst = report["worst_case"]["summary"]["accuracy"]
    assert robal["strict"]["overall"] == worst  # strict on the same samples is the worst case
    for row in robal["rows"].values():  # never above any number the protocol publishes
        assert worst <= row["overall"] + 1e-12
    gate = ["gate", str(tmp_path / "r" / "report.json"), "--min", "protocol:robal.aa.overall=0"]
    assert runner.invoke(app, [*gate, "--min", "protocol:robal.headline.balanced=0"]).exit_code == 0
    # the headline in its metric, and the groups RoBal does not publish marked as not its own
    assert (robal["headline"], robal["headline_metric"], robal["groups_published"]) == (
        "AA",
        "overall",
        [],
    )
    # output that is no terminal is not cut at 80 columns (cli.common.wide_when_piped)
    assert "AA · overall" in res.output and "worst case · overall" in res.output
    md = tmp_path / "r" / "report.md"
    assert runner.invoke(app, ["report", str(tmp_path / "r" / "report.json"), "--format", "md",
                               "--out", str(md)]).exit_code == 0  # fmt: skip
    line = next(x for x in md.read_text().splitlines() if x.startswith("| robal |"))
    assert "| AA · overall |" in line
    cells = [c.strip() for c in line.split("|")[3:-3]]  # overall, the groups
    assert cells[0] == f"**{100 * robal['published']['overall']:.1f}**"
    assert len(cells) == 4 and all(c.startswith("(") and c.endswith(")") for c in cells[1:])
    bad = runner.invoke(
        app, ["gate", str(tmp_path / "r" / "report.json"), "--min", "protocol:taet.aa.overall=0"]
    )
    assert bad.exit_code == 2 and "no protocol 'taet'" in bad.stderr


def test_protocol_budgets_follow_the_paper(tmp_path, trained_cnn):
    """On CIFAR-10-LT (files in the real on-disk format) a replay at another eps is refused
    before any work; elsewhere each protocol section says its budget is scaled."""
    from .test_data import write_cifar10

    write_cifar10(tmp_path / "cifar-10-batches-py", n_test=20)
    net = create_model("test_linear", num_classes=10, in_channels=3, input_size=32)
    save_checkpoint(
        tmp_path / "m.pt", net, arch="test_linear", model_args={}, num_classes=10,
        input_spec={"channels": 3, "size": 32}, dataset="cifar10-lt",
    )  # fmt: skip
    args = ["audit", str(tmp_path / "m.pt"), "--dataset", "cifar10-lt", "--data-dir"]
    args += [str(tmp_path), "--attacks", "fgsm", "--no-diagnostics", "--quiet"]
    res = runner.invoke(app, [*args, "--protocol", "robustbench", "--eps", "4/255", "--out",
                              str(tmp_path / "never")])  # fmt: skip
    assert res.exit_code == 2 and "would replay them at a budget they never used" in res.stderr
    assert not (tmp_path / "never").exists()
    assert budget_note("cifar10-lt", 8 / 255).startswith("the paper's: eps 8/255")
    assert budget_note("fashion-mnist-lt", 0.1).startswith("scaled: no paper evaluated")
    res = runner.invoke(app, [*args, "--protocol", "mcat", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output + res.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["protocols"]["mcat"]["budget"] == budget_note("cifar10-lt", 8 / 255)


def _headline_table() -> dict[str, list[str]]:
    """docs/PROTOCOLS.md's headline table: protocol -> [row, metric, groups published]."""
    text = (ROOT / "docs" / "PROTOCOLS.md").read_text()
    section = text.split("## Headlines: the number each paper leads with", 1)[1].split("\n## ")[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 6:
            out[cells[0].strip("`")] = cells[1:4]
    return out


@pytest.mark.parametrize("name", PROTOCOLS.names())
def test_each_headline_is_the_one_the_docs_cite(name):
    """Headline row, metric and published groups of each protocol are the ones its paper's
    abstract and main table give, as docs/PROTOCOLS.md cites them."""
    row, metric, published = _headline_table()[name]
    spec = PROTOCOLS.lookup(name)[0].settings
    assert (spec.headline, spec.headline_metric) == (row, metric)
    cited = {"none": (), "all": ALL_GROUPS}.get(published, tuple(published.split(", ")))
    assert spec.groups_published == cited
    assert spec.headline in [label for label, _ in spec.rows] or name == "strict"
    assert metric in HEADLINE_METRICS and set(cited) <= set(ALL_GROUPS)


def test_the_docs_cite_every_protocol_and_the_report_knows_every_metric():
    assert sorted(_headline_table()) == sorted(PROTOCOLS.names())
    assert REPORT_METRICS == HEADLINE_METRICS  # the report layer may not import the table
    # the headlines the issue names: REAT leads with AutoAttack, TAET with balanced robustness
    reat, taet = (PROTOCOLS.lookup(n)[0].settings for n in ("reat", "taet"))
    assert (reat.headline, reat.headline_metric) == ("AA", "overall")
    assert (taet.headline, taet.headline_metric) == ("PGD-20", "balanced")


def _toy_sections() -> tuple[dict[str, Any], dict[str, list[int]]]:
    """TAET, MCAT and strict sections on 20 toy samples (ltrobust's shot groups: class 1 has
    19 training images, so it is few, and MCAT's tail)."""
    groups = {"many": [0], "few": [1]}
    info = DataInfo("toy", 2, ["a", "b"], groups, [190, 19])
    y = torch.tensor([0] * 10 + [1] * 10)
    clean = y.clone()
    pgd = torch.tensor([0] * 10 + [0] * 10)  # every class-1 image broken
    preds = {"ta-pgd20-slow": pgd, "ta-fgsm": y, "ta-pgd100-slow": pgd, "ta-aa": pgd}
    preds |= {"mcat-pgd20": pgd, "aa": pgd}
    rows = {(n, label): a for n, label, a in protocol_attacks(["taet", "mcat"])}
    robust = pgd == y
    secs = {
        n: protocol_section(n, rows, preds, clean, robust, y, info, info.class_counts)
        for n in ("taet", "mcat", "strict")
    }
    return secs, groups


def test_renderers_show_the_headline_metric_and_mark_unpublished_groups():
    secs, groups = _toy_sections()
    taet = secs["taet"]
    # TAET's test set keeps 10 images of class 0 and 1 of class 1: overall 10/11, balanced 1/2
    assert taet["n"] == 11 and taet["headline_metric"] == "balanced"
    assert taet["published"]["overall"] == pytest.approx(10 / 11)
    assert taet["published"]["balanced"] == 0.5
    assert secs["mcat"]["groups_published"] == ["few"] and taet["groups_published"] == []
    assert secs["strict"]["groups_published"] == list(ALL_GROUPS)
    old = replace(secs["mcat"], headline_metric=None, groups_published=None)  # not written
    fake = SimpleNamespace(protocols={**secs, "robustbench": old}, dataset={"groups": groups})
    md = render_markdown(Document("t", "s", protocols_section(fake, {})), "plots")
    lines = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    assert "| taet | PGD-20 · balanced | 90.9 | (100.0) | (0.0) | **50.0** |" in lines["taet"]
    assert "| mcat | AA · overall | **50.0** | (100.0) | 0.0 | 50.0 |" in lines["mcat"]
    assert "| strict | worst case · overall | **50.0** | 100.0 | 0.0 | 50.0 |" in lines["strict"]
    # a report written before the two keys existed reads as it did: overall, nothing marked
    assert "| robustbench | AA · overall | **50.0** | 100.0 | 0.0 | 50.0 |" in lines["robustbench"]
