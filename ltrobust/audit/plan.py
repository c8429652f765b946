"""What an audit will run, said before its first batch: one line per pass (torch-free).

:func:`audit_plan` lists the passes of an audit from its config (after
:func:`~ltrobust.audit.protocol_run.plan_attacks` merged the protocols' attacks into it) and the
protocol rows: the clean pass, the attacks asked for, the attacks a ``--protocol`` adds (with
the rows each serves), the diagnostics passes (the kappa sweep's PGD-20 and APGD-DLR, the
unbounded attack, the tail-targeted APGD) and the escalations that may follow. Each pass
belongs to a *part* of the audit; the runner times the parts (:data:`PARTS`) with the same
split, so the plan and the total line after the table name the same things.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ltrobust.attacks.registry import ATTACKS, name_with_role, names_with_role
from ltrobust.audit.config import AuditConfig

#: the parts of an audit, in the order they run (the keys of the report's timing)
PARTS = ("clean", "attacks", "protocols", "diagnostics", "escalation")


@dataclass(frozen=True)
class PlannedPass:
    """One pass: its part (one of :data:`PARTS`), its name and what it is (one line);
    ``maybe`` marks a pass that runs only when the diagnostics call for it."""

    part: str
    name: str
    what: str
    maybe: bool = False


def describe(name: str) -> str:
    """The attack table's one-line description of ``name`` (``N`` filled in: ``pgd50``)."""
    entry, number = ATTACKS.lookup(name)
    if entry.is_pattern and number is not None:
        return re.sub(r"\bN\b", str(number), entry.description)
    return entry.description


def part_of(name: str, config: AuditConfig, rows: Mapping[tuple[str, str], str]) -> str:
    """``attacks`` for an attack of the audit's own list, ``protocols`` for one only a
    ``--protocol`` adds (a paper's attack, or any attack when ``strict`` is not asked for)."""
    if name not in rows.values():
        return "attacks"
    entry, _ = ATTACKS.lookup(name)
    return "protocols" if entry.hidden or "strict" not in config.protocols else "attacks"


def _attack_pass(
    name: str, config: AuditConfig, rows: Mapping[tuple[str, str], str]
) -> PlannedPass:
    part = part_of(name, config, rows)
    what = describe(name)
    served = [f"{protocol} {label}" for (protocol, label), a in rows.items() if a == name]
    if served:
        what += f" [protocol rows: {', '.join(served)}]"
    if name in config.worst_only:
        what += " [worst case only: the samples still robust at its turn]"
    return PlannedPass(part, name, what)


def _diagnostics(config: AuditConfig, num_classes: int) -> list[PlannedPass]:
    diag = config.diagnostics()
    if diag is None:
        return []
    out = []
    if diag.sweep:
        kappas = list(diag.kappas)
        grid = ", ".join(f"{k:g}" for k in kappas)
        out.append(
            PlannedPass(
                "diagnostics",
                "sweep pgd20",
                f"kappa sweep: PGD-20 on logits x 10^-kappa at kappa {grid} "
                "(kappa 0 reuses pgd20 when it ran)",
            )
        )
        if diag.invariant and num_classes >= 3:
            ends = sorted({kappas[0], kappas[-1], 0.0})
            out.append(
                PlannedPass(
                    "diagnostics",
                    "sweep apgd-dlr",
                    "kappa sweep: APGD-DLR (scale-invariant loss) at kappa "
                    + ", ".join(f"{k:g}" for k in ends),
                )
            )
    if diag.unbounded:
        out.append(
            PlannedPass(
                "diagnostics",
                name_with_role("whole-box"),
                f"PGD-20 with a budget that holds the whole box, on up to {diag.unbounded_n} "
                "samples: should reach ~0%",
            )
        )
    return out


def _escalations(config: AuditConfig) -> list[PlannedPass]:
    diag = config.diagnostics()
    if diag is None or not diag.escalate:
        return []
    return [
        PlannedPass(
            "escalation",
            ", ".join(names_with_role("gradient-free", hidden=True)),
            "Square (gradient-free, 5000 queries) on the survivors, if gradients vanish or the "
            "unbounded attack stays above 0%",
            maybe=True,
        ),
        PlannedPass(
            "escalation",
            ", ".join(names_with_role("eot", hidden=True)),
            f"EOT attacks (AutoAttack rand, EOT PGD-20 with {diag.eot_draws} draws) on the "
            "survivors, if the model is randomised",
            maybe=True,
        ),
    ]


def audit_plan(
    config: AuditConfig, rows: Mapping[tuple[str, str], str], num_classes: int
) -> list[PlannedPass]:
    """Every pass of an audit of ``config`` (its ``attacks`` already merged with the protocols'
    ones; ``rows``: protocol row -> attack) on data of ``num_classes`` classes, in run order."""
    plan = [PlannedPass("clean", "clean", "predictions on the unperturbed inputs")]
    plan += [_attack_pass(name, config, rows) for name in config.attacks]
    plan += _diagnostics(config, num_classes)
    if config.aa_tail_targets:
        plan.append(
            PlannedPass(
                "diagnostics",
                "aa-tail-targets",
                "targeted APGD towards the 9 highest-scoring tail classes, on the survivors",
            )
        )
    return plan + _escalations(config)


def plan_lines(plan: list[PlannedPass], n: int) -> list[str]:
    """The plan as text lines: a header, then one line per pass."""
    runs = [p for p in plan if not p.maybe]
    width = max(len(p.name) for p in plan)
    lines = [f"plan: {len(runs)} passes over {n} samples"]
    for p in plan:
        part = f"{p.part} (may follow)" if p.maybe else p.part
        lines.append(f"  {p.name:<{width}}  {part}: {p.what}")
    return lines
