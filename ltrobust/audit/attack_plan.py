"""One plan per audit: the attacks that run, merged with the protocols' ones and built once.

:func:`make_plan` takes the audit's validated config (its attack list parsed once, by
:meth:`~ltrobust.audit.config.AuditConfig.validate`), merges the protocols' attacks into it
(:func:`~ltrobust.audit.protocol_run.plan_attacks`) and builds every attack it needs exactly
once for the audit's threat model and step. The resume key, the ``--baseline`` check and the
run read the same :class:`AuditPlan`: an attack's settings are those of the object that runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ltrobust.attacks.base import Attack
from ltrobust.attacks.registry import build_attack
from ltrobust.attacks.threat import ThreatModel
from ltrobust.audit.config import AuditConfig
from ltrobust.audit.protocol_run import RowMap, plan_attacks


@dataclass(frozen=True)
class AuditPlan:
    """The attacks of one audit.

    Attributes:
        names: every attack that runs, in run order (the audit's, then those only a protocol
            adds).
        rows: which attack serves each protocol row, ``(protocol, label) -> name``.
        attacks: the attack object of each name, built once.
    """

    names: tuple[str, ...]
    rows: RowMap
    attacks: Mapping[str, Attack]

    def settings(self, names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """The settings of the attacks ``names`` (default: all), by name, in order."""
        return {n: self.attacks[n].settings() for n in (self.names if names is None else names)}


def make_plan(
    config: AuditConfig, threat: ThreatModel, step: float, dataset: str | None = None
) -> AuditPlan:
    """The plan of an audit of ``config`` (validated) at ``threat`` with iterative ``step``.

    A protocol attack whose settings equal those of one already planned is built once to be
    compared, then served by the planned one; every other attack is built once and kept. With
    ``dataset``, a paper protocol at a budget its paper never used there is refused.
    """
    built: dict[str, Attack] = {}

    def build(name: str) -> Attack:
        if name not in built:
            built[name] = build_attack(name, threat, step, seed=config.seed)
        return built[name]

    names, rows = plan_attacks(config, threat, step, dataset=dataset, build=build)
    return AuditPlan(tuple(names), rows, {n: build(n) for n in names})
