"""Sanity checks and the verdict per group (docs/METHODS.md §3): is the robustness real?

The robust accuracy to believe is the per-sample worst case over every attack run, the adaptive
ones and the kappa sweep. A headline number (PGD-20 at kappa 0, ...) is *inflated* by how far it
lies above that. Each check is data: name, scope (``overall`` or a group), whether it fired, the
measured value, the threshold and a sentence.

Verdict of a scope:

- ``inflated``: a gradient-masking check fired there (kappa sensitivity, adaptive gap, PGD-vs-AA
  gap, zero gradients, unbounded attack not reaching 0%, Square beating white-box attacks,
  targeted APGD towards tail classes or an escalation attack breaking what every other attack
  missed, FGSM beating PGD) and PGD-20 lies more than ``inflation`` above the believed accuracy;
- ``suspect``: any check fired (randomised model, softmax outputs, PGD not converged, or a masking
  check with little inflation), or no scale-invariant attack was run, so the evidence is thin;
- ``reliable``: none of that;
- ``degenerate``: the clean model says nothing to attack: it predicts one class for most
  samples, its balanced clean recall is within 5 points of chance (every scope), or the scope's
  clean recall is 0 (that scope). A robust recall of 0% there is no evidence either way.

A gap counts only if it concerns at least ``min_samples`` samples of the scope, so that a few
samples of a small group do not decide its verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ltrobust.attacks.registry import name_with_role, names_with_role
from ltrobust.attacks.spec import Role
from ltrobust.audit.config import Thresholds
from ltrobust.metrics.collapse import CHANCE_MARGIN, ONE_CLASS_EXCESS, collapse_of
from ltrobust.metrics.fields import VerdictName
from ltrobust.report.findings import Check, Diagnostics, Scoped, Unbounded
from ltrobust.report.schema import Outcome
from ltrobust.report.sections import Verdict, VerdictEntry

#: the attack whose inflation the verdict reports (PGD-20), and the one the kappa sweep repeats;
#: the other attacks a check needs come from the attack table by role
HEADLINE = name_with_role("headline")
SWEPT = name_with_role("observed")
_STRONG = ", ".join(names_with_role("strong"))
MODEL_CHECKS = ("softmax_outputs", "randomised", "one_class_predictions", "chance_level")
#: the checks that make every scope's verdict ``degenerate``
DEGENERATE_CHECKS = ("one_class_predictions", "chance_level")

MASKING_CHECKS = (
    "kappa_sensitivity",
    "adaptive_gap",
    "pgd_aa_gap",
    "zero_gradient",
    "unbounded_not_zero",
    "square_breaks_more",
    "tail_targets_break_more",
    "escalation_breaks_more",
    "fgsm_beats_pgd",
)


def scope_value(outcome: Outcome | None, scope: str) -> float | None:
    """Accuracy (``overall``) or a group's recall of an outcome."""
    if outcome is None:
        return None
    if scope == "overall":
        return outcome.summary.accuracy
    return outcome.summary.groups[scope].recall


def scope_size(outcome: Outcome, scope: str) -> int:
    return outcome.summary.n if scope == "overall" else outcome.summary.groups[scope].n


def _pick(section: Scoped | Unbounded | None, scope: str) -> float | None:
    if section is None:
        return None
    return section.overall if scope == "overall" else section.groups.get(scope)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _min_opt(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _min_role(values: Mapping[str, float | None], role: Role) -> float | None:
    """The lowest of ``values`` over the attacks with ``role`` (None if none is there)."""
    return _min_opt([values[name] for name in names_with_role(role, values)])


class _Checker:
    """Builds the checks of one scope; ``n`` samples make a gap count only above min_samples."""

    def __init__(self, scope: str, n: int, th: Thresholds) -> None:
        self.scope, self.n, self.th = scope, n, th
        self.out: list[Check] = []

    def add(self, name: str, value: float | None, threshold: float, message: str) -> None:
        fired = value is not None and value > threshold and value * self.n >= self.th.min_samples
        self.out.append(Check(name, self.scope, bool(fired), value, threshold, message))


#: what one finding of the diagnostics shows, per scope (None: not measured)
Finding = Callable[[Diagnostics], Scoped | Unbounded | None]

#: checks that read one finding: (check, the finding, the Thresholds field, what a triggered
#: check means)
_DIAGNOSTIC_CHECKS: tuple[tuple[str, Finding, str, str], ...] = (
    (
        "zero_gradient",
        lambda d: d.zero_grad.sample_level if d.zero_grad else None,
        "zero_grad",
        "inputs whose whole CE gradient is exactly 0",
    ),
    (
        "unbounded_not_zero",
        lambda d: d.unbounded,
        "unbounded",
        "an attack with an unbounded budget does not reach 0%",
    ),
    (
        "square_breaks_more",
        lambda d: d.square_only,
        "square",
        "black-box Square breaks samples no white-box attack did",
    ),
    (
        "tail_targets_break_more",
        lambda d: d.aa_tail.newly_broken_share if d.aa_tail else None,
        "tail_targets",
        "targeted APGD towards tail classes breaks samples every other attack missed",
    ),
    (
        "escalation_breaks_more",
        lambda d: d.escalation.newly_broken_share if d.escalation else None,
        "escalation",
        "an escalation attack (Square or EOT) breaks samples every gradient attack missed",
    ),
)


def scope_checks(
    scope: str, attacks: Mapping[str, Outcome], diag: Diagnostics, th: Thresholds, n: int
) -> list[Check]:
    """Every check that can be computed for one scope (attacks not run are skipped)."""
    acc = {name: scope_value(o, scope) for name, o in attacks.items()}
    pgd, c = acc.get(HEADLINE), _Checker(scope, n, th)
    single = _min_role(acc, "single-step")
    if single is not None and pgd is not None:
        c.add(
            "fgsm_beats_pgd",
            _diff(pgd, single),
            th.fgsm_margin,
            "single-step FGSM is stronger than iterative PGD-20",
        )
    long = _min_role(acc, "long")
    if long is not None and pgd is not None:
        c.add(
            "steps_not_converged",
            _diff(pgd, long),
            th.steps_gap,
            "PGD-100 is well below PGD-20: PGD has not converged",
        )
    adaptive = _min_role(acc, "logit-scaling")
    if adaptive is not None and pgd is not None:
        c.add(
            "adaptive_gap",
            _diff(pgd, adaptive),
            th.adaptive_gap,
            "a logit-scaling adaptive attack beats PGD-20",
        )
    aa = _min_role(acc, "components")
    if aa is not None and pgd is not None:
        c.add("pgd_aa_gap", _diff(pgd, aa), th.aa_gap, "AutoAttack is well below PGD-20")
    if diag.sweep is not None and pgd is not None:
        lowest = _min_opt([_pick(r.pgd20, scope) for r in diag.sweep.rows])
        c.add(
            "kappa_sensitivity",
            _diff(pgd, lowest),
            th.kappa_gap,
            "PGD-20 on rescaled logits (kappa sweep) is well below kappa 0",
        )
    for name, finding, threshold, message in _DIAGNOSTIC_CHECKS:
        section = finding(diag)
        if section is not None:
            c.add(name, _pick(section, scope), getattr(th, threshold), message)
    return c.out


def model_checks(diag: Diagnostics) -> list[Check]:
    """Checks on the model as a whole (scope ``overall``)."""
    out = []
    for name, found, message in (
        ("softmax_outputs", diag.softmax_outputs, "the model outputs probabilities, not logits"),
        ("randomised", diag.randomised, "repeated forward passes differ: use EOT attacks"),
    ):
        if found is not None:
            out.append(Check(name, "overall", found, float(found), 0.5, message))
    return out


def degenerate_checks(clean: Outcome) -> list[Check]:
    """Model checks on the clean predictions (scope ``overall``): one class predicted far more
    often than any class occurs, and balanced recall at chance level
    (:mod:`ltrobust.metrics.collapse`, the rule the training monitor warns with)."""
    stats = collapse_of(clean.confusion)
    if stats is None:
        return []
    c = round(1 / stats.chance)
    below = None if stats.balanced is None else stats.chance - stats.balanced
    return [
        Check(
            name="one_class_predictions",
            group="overall",
            triggered=stats.one_class,
            value=stats.excess,
            threshold=ONE_CLASS_EXCESS,
            message=f"one class takes {100 * stats.top_share:.0f}% of the clean predictions",
        ),
        Check(
            name="chance_level",
            group="overall",
            triggered=stats.at_chance,
            value=below,
            threshold=-CHANCE_MARGIN,
            message=f"balanced clean recall is at chance level (1/{c})",
        ),
    ]


def judge_scope(
    scope: str,
    attacks: Mapping[str, Outcome],
    worst: Outcome | None,
    checks: list[Check],
    th: Thresholds,
    invariant_run: bool = False,
    clean: Outcome | None = None,
) -> VerdictEntry:
    """Verdict of one scope: ``reliable``, ``suspect``, ``inflated`` or ``degenerate`` (see
    module doc)."""
    believed = scope_value(worst, scope)
    inflation = {name: _diff(scope_value(o, scope), believed) for name, o in attacks.items()}
    flags = [c for c in checks if c.triggered and (c.group == scope or c.name in MODEL_CHECKS)]
    headline = inflation.get(HEADLINE)
    if headline is None:
        headline = _min_role(inflation, "gradient")
    if headline is None:  # no gradient attack run (e.g. AutoAttack alone): the least inflated
        headline = _min_opt(list(inflation.values()))
    n = scope_size(worst, scope) if worst is not None else 0
    big = headline is not None and headline > th.inflation and headline * n >= th.min_samples
    masking = any(c.name in MASKING_CHECKS for c in flags)
    strong = invariant_run or bool(names_with_role("strong", attacks))
    dead = scope_value(clean, scope) == 0 and scope_size(clean, scope) > 0 if clean else False
    verdict: VerdictName
    if dead or any(c.name in DEGENERATE_CHECKS for c in flags):
        verdict = "degenerate"
    elif big and masking:
        verdict = "inflated"
    elif flags or big or not strong:
        verdict = "suspect"
    else:
        verdict = "reliable"
    notes = [] if strong else [f"no scale-invariant attack run ({_STRONG} or the sweep's APGD-DLR)"]
    if big and not masking and headline is not None:
        notes.append(f"PGD-20 is {100 * headline:.1f} points above the believed accuracy")
    if dead:
        notes.append("clean recall is 0%: no sample of this scope to attack")
    return VerdictEntry(
        verdict=verdict,
        believed=believed,
        inflation=inflation,
        flags=[f"{c.name}: {c.message} ({_fmt(c)})" for c in flags] + notes,
    )


def _fmt(check: Check) -> str:
    if check.name in MODEL_CHECKS and check.name not in DEGENERATE_CHECKS:
        return "yes"
    v, t = check.value, check.threshold
    return f"{100 * v:.1f} points > {100 * t:.1f}" if v is not None and t is not None else "n/a"


def judge(
    attacks: Mapping[str, Outcome],
    worst: Outcome | None,
    diag: Diagnostics,
    groups: list[str],
    th: Thresholds,
    clean: Outcome,
) -> tuple[list[Check], Verdict]:
    """All checks and the verdict, overall and per group."""
    checks = model_checks(diag) + degenerate_checks(clean)
    for scope in ["overall", *groups]:
        checks.extend(scope_checks(scope, attacks, diag, th, scope_size(clean, scope)))
    inv = diag.sweep is not None and any(r.invariant for r in diag.sweep.rows)
    verdict = Verdict(
        overall=judge_scope("overall", attacks, worst, checks, th, inv, clean),
        groups={g: judge_scope(g, attacks, worst, checks, th, inv, clean) for g in groups},
        thresholds=dict(vars(th)),
    )
    return checks, verdict
