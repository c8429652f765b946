"""Factories of the attack table (:mod:`ltrobust.attacks.registry`): a row's settings -> attack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ltrobust.attacks.autoattack import AutoAttackAdapter
from ltrobust.attacks.base import Attack
from ltrobust.attacks.iterative import IterativeAttack, LossFn
from ltrobust.attacks.losses import CrossEntropy, CWMargin, TemperatureCE
from ltrobust.attacks.threat import ThreatModel


def loss_by_name(name: str, scale: float = 1.0) -> LossFn:
    """``ce`` (with a logit ``scale``), ``cw`` or ``temperature-ce``."""
    if name == "ce":
        return CrossEntropy(scale=scale)
    if name == "cw":
        return CWMargin(scale=scale)
    if name == "temperature-ce":
        return TemperatureCE()
    raise ValueError(f"unknown attack loss {name!r}")


def iterative(
    name: str, threat: ThreatModel, step_size: float, seed: int, settings: Mapping[str, Any]
) -> Attack:
    """:class:`IterativeAttack` from ``loss``, ``loss_scale``, ``steps``, ``step_size`` (a number
    or ``"eps"``), ``random_start`` and ``momentum``."""
    step = settings.get("step_size", step_size)
    return IterativeAttack(
        threat,
        loss_by_name(str(settings["loss"]), float(settings.get("loss_scale", 1.0))),
        steps=int(settings["steps"]),
        step_size=threat.eps if step == "eps" else float(step),
        random_start=bool(settings.get("random_start", True)),
        momentum=settings.get("momentum"),
        name=name,
    )


def autoattack(
    name: str, threat: ThreatModel, step_size: float, seed: int, settings: Mapping[str, Any]
) -> Attack:
    """:class:`AutoAttackAdapter` of the row's ``version``, seeded with ``seed``."""
    return AutoAttackAdapter(threat, version=str(settings["version"]), seed=seed, name=name)
