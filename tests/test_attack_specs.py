"""The attack table's typed rows: step and start rules, roles the audit asks for instead of
names, the protocol rows against docs/PROTOCOLS.md's table, the diagnostics' own rows, and no
attack-name literal in audit/."""

from __future__ import annotations

import ast
from itertools import takewhile
from pathlib import Path

import pytest
import torch

from ltrobust.attacks import CrossEntropy, IterativeAttack, ThreatModel, build_attack
from ltrobust.attacks.autoattack import TailTargetedAPGD
from ltrobust.attacks.registry import (
    ATTACKS,
    DEFAULT_ATTACKS,
    attack_roles,
    attack_spec,
    build_variant,
    name_with_role,
    names_with_role,
    parse_attack_list,
)
from ltrobust.attacks.spec import ROLES, AttackSpec, StartRule, StepRule, whole_box_eps
from ltrobust.audit.config import AuditConfig, Thresholds
from ltrobust.audit.protocol_run import plan_attacks
from ltrobust.audit.protocols import PROTOCOLS
from ltrobust.audit.session import DataInfo, make_outcome
from ltrobust.audit.verdict import judge_scope
from ltrobust.errors import ConfigError
from ltrobust.report.schema import Outcome

ROOT = Path(__file__).resolve().parents[1]
AUDIT = ROOT / "ltrobust" / "audit"
PROTOCOLS_DOC = ROOT / "docs" / "PROTOCOLS.md"
#: the protocol table: its cells are the attacks that replay each paper row (data, not logic)
TABLES = {"protocols.py"}
CIFAR = 8 / 255


def test_step_rule_resolves_relative_absolute_or_the_audits_step():
    assert StepRule(relative=0.25).resolve(0.1, 0.01) == 0.1 * 0.25
    assert StepRule(relative=1.0).resolve(0.1, 0.01) == 0.1
    assert StepRule(absolute=0.003).resolve(0.1, 0.01) == 0.003
    assert StepRule().resolve(0.1, 0.01) == 0.01
    assert [StepRule(relative=1.0).label, StepRule(relative=0.25).label] == ["eps", "eps*0.25"]
    with pytest.raises(ValueError, match="not both"):
        StepRule(relative=0.25, absolute=0.01)


def test_start_rule_labels_are_what_reports_store():
    assert StartRule().label == "uniform" and StartRule(clip=False).label == "uniform-noclip"
    assert StartRule("normal", clip=False, sigma=0.001).label == "normal-0.001"
    assert not StartRule("none").random
    with pytest.raises(ValueError, match="sigma"):
        StartRule("normal")
    with pytest.raises(ValueError, match="start kind"):
        StartRule("gauss")  # type: ignore[arg-type]


def test_roles_are_a_closed_set():
    with pytest.raises(ValueError, match="unknown attack roles"):
        AttackSpec("iterative", roles=frozenset({"fast"}))  # type: ignore[arg-type]
    for entry in ATTACKS.entries(hidden=True):
        assert entry.settings.roles <= ROLES
    assert not [r for r in ROLES if r in ATTACKS], "a role named like an attack reads ambiguously"


def test_the_audit_finds_its_attacks_by_role():
    assert name_with_role("headline") == name_with_role("observed") == "pgd20"
    assert names_with_role("single-step") == ["fgsm"]
    assert names_with_role("long") == ["pgd100"]
    assert names_with_role("logit-scaling") == ["adaptive", "adaptive-auto"]
    assert names_with_role("strong") == ["adaptive-auto", "aa", "aa-fast"]
    assert names_with_role("strong", hidden=True)[-2:] == ["robal-aa", "ta-aa"]
    assert names_with_role("components") == ["aa", "aa-fast"]
    # the diagnostics' own attacks: hidden rows found by role
    assert names_with_role("escalation", hidden=True) == ["square", "aa-rand", "pgd20-eot"]
    assert names_with_role("gradient-free", hidden=True) == ["square"]
    assert names_with_role("eot", hidden=True) == ["aa-rand", "pgd20-eot"]
    assert name_with_role("whole-box") == "unbounded"
    assert name_with_role("tail-targeted") == "aa-tail"
    assert name_with_role("kappa-invariant") == "apgd-dlr"
    assert not names_with_role("diagnostic")  # none is listed
    # the default list is pinned: a new row joins it only with the default role, on purpose
    # (it would make every older default report an incomparable --baseline)
    default = ("fgsm", "pgd20", "pgd100", "mim", "cw20", "cw100", "adaptive", "adaptive-auto")
    assert DEFAULT_ATTACKS == (*default, "aa") == tuple(names_with_role("default"))
    # a pattern's roles hold for every N: pgd50 is a gradient attack, only pgd20 the headline
    assert "gradient" in attack_roles("pgd50") and "headline" not in attack_roles("pgd50")
    assert names_with_role("gradient", ["pgd50", "cw7", "aa", "nonsense"]) == ["pgd50", "cw7"]


@pytest.mark.parametrize("name", names_with_role("diagnostic", hidden=True))
def test_attack_lists_refuse_the_diagnostics_own_attacks(name):
    with pytest.raises(ConfigError, match="run by the audit's diagnostics"):
        parse_attack_list(f"pgd20,{name}")


def test_whole_box_budget_and_steps_of_one_nth_of_eps():
    assert whole_box_eps("linf", (0.0, 1.0), None) == 1.0
    assert whole_box_eps("l2", (0.0, 1.0), (3, 32, 32)) == 3072**0.5
    assert whole_box_eps("linf", (-1.0, 1.0), None) == 2.0
    with pytest.raises(ValueError, match="sample shape"):
        whole_box_eps("l2", (0.0, 1.0), None)
    eps = 3072**0.5
    assert StepRule(relative=0.1).resolve(eps, None) == eps / 10  # not eps * 0.1
    with pytest.raises(ValueError, match="audit's step"):
        StepRule().resolve(eps, None)
    unbounded = build_attack("unbounded", ThreatModel("l2", 0.5), None, sample_shape=(3, 32, 32))
    assert (unbounded.threat.eps, unbounded.settings()["step_size"]) == (eps, eps / 10)


def test_the_tail_row_is_built_with_the_tail():
    threat = ThreatModel("linf", 0.1)
    attack = build_attack("aa-tail", threat, 0.01, seed=3, tail=[5, 4])
    by_hand = TailTargetedAPGD(threat, [4, 5], max_targets=9, n_iter=100, seed=3, name="aa-tail")
    assert attack.settings() == by_hand.settings()
    with pytest.raises(ValueError, match="tail class"):
        build_attack("aa-tail", threat, 0.01)


def test_variants_are_the_rows_attack_with_one_field_changed():
    threat = ThreatModel("linf", 0.1)
    swept = build_variant("pgd20", threat, 0.01, label="pgd20@kappa=2", loss_scale=0.01)
    by_hand = IterativeAttack(
        threat, CrossEntropy(scale=0.01), steps=20, step_size=0.01, name="pgd20@kappa=2"
    )
    assert swept.settings() == by_hand.settings()
    eot = build_variant("pgd20", threat, 0.01, label="pgd20-eot", eot=4).settings()
    assert eot == {**build_attack("pgd20", threat, 0.01).settings(), "name": "pgd20-eot", "eot": 4}


def _protocol_table() -> dict[str, dict[str, str]]:
    """The rows of docs/PROTOCOLS.md §9.1 (the attack table's protocol rows), by attack name:
    column -> cell, ``*`` (assumed) and backticks stripped."""
    text = PROTOCOLS_DOC.read_text(encoding="utf-8")
    section = text[text.index("### 9.1 ") :].splitlines()
    first = next(i for i, ln in enumerate(section) if ln.startswith("|"))
    lines = list(takewhile(lambda ln: ln.startswith("|"), section[first:]))
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip().strip("`").rstrip("*") for c in line.strip("|").split("|")]
        row = dict(zip(head, cells, strict=True))
        rows[row["attack"]] = row
    return rows


def _number(cell: str) -> float | None:
    """``8/255``, ``0.031``, ``20`` or ``—`` (None)."""
    if cell == "—":
        return None
    top, _, bottom = cell.partition("/")
    return float(top) / float(bottom) if bottom else float(top)


PROTOCOL_TABLE = _protocol_table()


@pytest.mark.parametrize("name", sorted(PROTOCOL_TABLE))
def test_protocol_row_matches_docs(name):
    """Each protocol row against docs/PROTOCOLS.md §9.1: engine, loss, logit scale, momentum,
    steps, step (relative to the row's eps), start, kappa and eps (relative to 8/255)."""
    doc, spec = PROTOCOL_TABLE[name], attack_spec(name)
    assert ATTACKS.lookup(name)[0].hidden
    engine = doc["engine"].replace("`", "").split()
    kind = {"ltrobust": "iterative", "pyautoattack": "autoattack", "torchattacks": "torchattacks"}
    assert spec.kind == kind[engine[0]]
    if spec.kind == "autoattack":
        assert spec.version == engine[1]
    if spec.kind == "torchattacks":
        assert spec.backend_attack == engine[1]
    eps = _number(doc["ε"])
    assert eps is not None and spec.eps_scale == pytest.approx(eps / CIFAR, rel=1e-12)
    steps, step = _number(doc["steps"]), _number(doc["step"])
    assert spec.steps == (None if steps is None else int(steps))
    if step is None:
        assert spec.step == StepRule()
    else:
        assert spec.step.relative == pytest.approx(step / eps, rel=1e-12)
    if doc["start"] != "—":
        assert spec.start.label == doc["start"]
    if doc["loss"] != "—":
        assert spec.loss == doc["loss"]
    assert spec.loss_scale == (_number(doc["scale"]) or 1.0)
    assert spec.momentum == _number(doc["momentum"])
    if doc["κ"] != "—":
        assert (spec.loss, spec.kappa) == ("cw", _number(doc["κ"]))


def test_every_protocol_row_is_in_the_docs_table():
    hidden = {e.name for e in ATTACKS.entries(hidden=True) if e.hidden}
    diagnostic = set(names_with_role("diagnostic", hidden=True))
    assert hidden - diagnostic == set(PROTOCOL_TABLE)
    used = {a for p in PROTOCOLS.entries(hidden=True) for _, a in p.settings.rows}
    assert set(PROTOCOL_TABLE) <= used, "a protocol row no protocol runs"


def test_protocol_rows_have_the_roles_true_of_them():
    """First-order rows are gradient attacks, the FGSM rows single-step, the LSA logit-scaling,
    the AutoAttack rows strong; robal-aa (RoBal's ball, 0.031) does not stand in for the
    audit's AutoAttack checks (``components``)."""
    roles = {name: attack_roles(name) for name in PROTOCOL_TABLE}
    assert names_with_role("strong", PROTOCOL_TABLE) == ["robal-aa", "ta-aa"]
    assert names_with_role("single-step", PROTOCOL_TABLE) == ["robal-fgsm", "atbsl-fgsm", "ta-fgsm"]
    assert names_with_role("logit-scaling", PROTOCOL_TABLE) == ["atbsl-lsa"]
    assert not names_with_role("components", PROTOCOL_TABLE)
    first_order = {n for n in PROTOCOL_TABLE if "aa" not in n.split("-") and n != "atbsl-lsa"}
    assert set(names_with_role("gradient", PROTOCOL_TABLE)) == first_order
    assert all(not r & {"default", "headline", "observed", "diagnostic"} for r in roles.values())


def _outcome(name: str) -> Outcome:
    y = torch.tensor([0, 1, 0, 1])
    info = DataInfo("toy", 2, ["a", "b"], {"head": [0], "tail": [1]}, [10, 1])
    return make_outcome(name, {}, y, y.clone(), info, 0.0, None)


def test_a_robal_replay_counts_its_autoattack_as_strong():
    """``--protocol robal`` runs RoBal's five attacks; its AutoAttack is scale-invariant, so the
    verdict does not ask for one (it did before the row had the ``strong`` role)."""
    names, _ = plan_attacks(AuditConfig(protocols=["robal"]), ThreatModel("linf", CIFAR), 0.01)
    assert names == ["robal-fgsm", "robal-pgd20", "robal-mim20", "robal-cw20", "robal-aa"]
    outcomes = {n: _outcome(n) for n in names}
    judged = judge_scope("overall", outcomes, _outcome("worst"), [], Thresholds())
    assert judged["verdict"] == "reliable", judged
    without = {n: o for n, o in outcomes.items() if n != "robal-aa"}
    judged = judge_scope("overall", without, _outcome("worst"), [], Thresholds())
    assert any("scale-invariant" in f for f in judged["flags"])


def _literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant of ``tree`` except docstrings."""
    docs = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant):
                docs.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


#: string literals in audit/ that equal a hidden row's name but mean something else
HOMONYMS = {
    ("runner.py", "square"): "AutoAttack's Square component in broken_by",
    ("verdict.py", "square"): "the Thresholds field square",
    ("verdict.py", "unbounded"): "the diagnostics section and the Thresholds field",
    ("runner.py", "unbounded"): "the diagnostics section",
    ("escalation.py", "unbounded"): "the diagnostics section",
    ("diagnostics_config.py", "unbounded"): "the diagnostics switch --unbounded",
}


def test_no_attack_name_is_a_literal_in_audit():
    names = set(ATTACKS.names(hidden=True))
    assert {value for _, value in HOMONYMS} <= names
    found = [
        f"{path.name}:{line}: {value!r}"
        for path in sorted(AUDIT.glob("*.py"))
        if path.name not in TABLES
        for line, value in _literals(ast.parse(path.read_text()))
        if (value in names or value in ATTACKS) and (path.name, value) not in HOMONYMS
    ]
    assert found == [], "ask the attack table for a role instead"
