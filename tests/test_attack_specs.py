"""The attack table's typed rows: step and start rules, roles the audit asks for instead of
names, the protocol rows against docs/PROTOCOLS.md, and no attack-name literal in audit/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ltrobust.attacks import CrossEntropy, IterativeAttack, ThreatModel, build_attack
from ltrobust.attacks.registry import (
    ATTACKS,
    DEFAULT_ATTACKS,
    attack_roles,
    attack_spec,
    build_variant,
    name_with_role,
    names_with_role,
)
from ltrobust.attacks.spec import ROLES, AttackSpec, StartRule, StepRule

AUDIT = Path(__file__).resolve().parents[1] / "ltrobust" / "audit"
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
    assert names_with_role("components") == ["aa", "aa-fast"]
    assert DEFAULT_ATTACKS == tuple(n for n in ATTACKS.names() if n != "aa-fast")
    # a pattern's roles hold for every N: pgd50 is a gradient attack, only pgd20 the headline
    assert "gradient" in attack_roles("pgd50") and "headline" not in attack_roles("pgd50")
    assert names_with_role("gradient", ["pgd50", "cw7", "aa", "nonsense"]) == ["pgd50", "cw7"]


def test_variants_are_the_rows_attack_with_one_field_changed():
    threat = ThreatModel("linf", 0.1)
    swept = build_variant("pgd20", threat, 0.01, label="pgd20@kappa=2", loss_scale=0.01)
    by_hand = IterativeAttack(
        threat, CrossEntropy(scale=0.01), steps=20, step_size=0.01, name="pgd20@kappa=2"
    )
    assert swept.settings() == by_hand.settings()
    eot = build_variant("pgd20", threat, 0.01, label="pgd20-eot", eot=4).settings()
    assert eot == {**build_attack("pgd20", threat, 0.01).settings(), "name": "pgd20-eot", "eot": 4}


# name: (loss, steps, step relative to eps, start, kappa, eps relative to the audit's), from
# docs/PROTOCOLS.md §1-§5 and §9 (CIFAR's numbers: eps 8/255, RoBal's 0.031)
PROTOCOL_ROWS = {
    "robal-fgsm": ("ce", 1, 1.0, "none", 50.0, 0.031 / CIFAR),
    "robal-pgd20": ("ce", 20, 0.0078 / 0.031, "uniform-noclip", 50.0, 0.031 / CIFAR),
    "robal-mim20": ("ce", 20, 0.0078 / 0.031, "uniform-noclip", 50.0, 0.031 / CIFAR),
    "robal-cw20": ("cw", 20, 0.0078 / 0.031, "uniform-noclip", 50.0, 0.031 / CIFAR),
    "atbsl-fgsm": ("ce", 1, 1.0, "normal-0.001", 50.0, 1.0),
    "atbsl-pgd20": ("ce", 20, (2 / 255) / CIFAR, "uniform-noclip", 50.0, 1.0),
    "atbsl-cw20": ("cw", 20, (2 / 255) / CIFAR, "uniform-noclip", 50.0, 1.0),
    "atbsl-lsa": ("ce", 20, (2 / 255) / CIFAR, "uniform-noclip", 50.0, 1.0),
    "robustlt-cw20": ("cw", 20, (1 / 255) / CIFAR, "uniform", 0.0, 1.0),
    "mcat-pgd20": ("ce", 20, (2 / 255) / CIFAR, "uniform", 50.0, 1.0),
    "reat-pgd100": ("ce", 100, (2 / 255) / CIFAR, "uniform", 50.0, 1.0),
    "reat-cw100": ("cw", 100, (2 / 255) / CIFAR, "uniform", 50.0, 1.0),
    "ta-pgd20": (None, 20, (2 / 255) / CIFAR, "uniform", 50.0, 1.0),
    "ta-pgd20-slow": (None, 20, (1 / 255) / CIFAR, "uniform", 50.0, 1.0),
    "ta-pgd100-slow": (None, 100, (1 / 255) / CIFAR, "uniform", 50.0, 1.0),
}


@pytest.mark.parametrize("name", sorted(PROTOCOL_ROWS))
def test_protocol_row_matches_docs(name):
    loss, steps, step, start, kappa, eps_scale = PROTOCOL_ROWS[name]
    spec = attack_spec(name)
    assert spec.steps == steps and spec.step.relative == pytest.approx(step, rel=1e-12)
    assert spec.start.label == start and spec.eps_scale == pytest.approx(eps_scale, rel=1e-12)
    if loss is not None:
        assert (spec.kind, spec.loss, spec.kappa) == ("iterative", loss, kappa)
    assert ATTACKS.lookup(name)[0].hidden and not spec.roles


def test_every_hidden_row_is_checked_against_the_docs():
    hidden = {e.name for e in ATTACKS.entries(hidden=True) if e.hidden}
    autoattacks = {n for n in hidden if attack_spec(n).kind == "autoattack"}
    assert hidden - autoattacks - {"ta-aa", "ta-fgsm"} == set(PROTOCOL_ROWS)


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


def test_no_attack_name_is_a_literal_in_audit():
    names = set(ATTACKS.names(hidden=True))
    found = [
        f"{path.name}:{line}: {value!r}"
        for path in sorted(AUDIT.glob("*.py"))
        if path.name not in TABLES
        for line, value in _literals(ast.parse(path.read_text()))
        if value in names or value in ATTACKS
    ]
    assert found == [], "ask the attack table for a role instead"
