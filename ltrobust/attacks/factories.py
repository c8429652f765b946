"""Factories of the attack table (:mod:`ltrobust.attacks.registry`): a row's settings -> attack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ltrobust.attacks.autoattack import AutoAttackAdapter
from ltrobust.attacks.base import Attack
from ltrobust.attacks.iterative import IterativeAttack, LossFn
from ltrobust.attacks.losses import CrossEntropy, CWMargin, TemperatureCE
from ltrobust.attacks.threat import ThreatModel
from ltrobust.attacks.torchattacks_adapter import TorchattacksAttack


def loss_by_name(name: str, scale: float = 1.0, kappa: float = 50.0) -> LossFn:
    """``ce`` (with a logit ``scale``), ``cw`` (with its ``kappa``) or ``temperature-ce``."""
    if name == "ce":
        return CrossEntropy(scale=scale)
    if name == "cw":
        return CWMargin(kappa=kappa, scale=scale)
    if name == "temperature-ce":
        return TemperatureCE()
    raise ValueError(f"unknown attack loss {name!r}")


def scaled_threat(threat: ThreatModel, settings: Mapping[str, Any]) -> ThreatModel:
    """The row's ball: the audit's, its radius times ``eps_scale`` when a protocol defines its
    budget relative to CIFAR's 8/255 (RoBal's 0.031)."""
    scale = float(settings.get("eps_scale", 1.0))
    return threat if scale == 1.0 else ThreatModel(threat.norm, threat.eps * scale, threat.bounds)


def step_of(threat: ThreatModel, step_size: float, settings: Mapping[str, Any]) -> float:
    """The row's step: the audit's, or ``"eps"`` (one step of the budget), or ``"eps*F"``."""
    step = settings.get("step_size", step_size)
    if step == "eps":
        return threat.eps
    if isinstance(step, str) and step.startswith("eps*"):
        return threat.eps * float(step[len("eps*") :])
    return float(step)


def iterative(
    name: str, threat: ThreatModel, step_size: float, seed: int, settings: Mapping[str, Any]
) -> Attack:
    """:class:`IterativeAttack` from ``loss`` (with ``loss_scale``, ``kappa``), ``steps``,
    ``step_size`` (see :func:`step_of`), ``random_start``, ``start``, ``momentum`` and
    ``eps_scale``."""
    ball = scaled_threat(threat, settings)
    loss = loss_by_name(
        str(settings["loss"]),
        float(settings.get("loss_scale", 1.0)),
        float(settings.get("kappa", 50.0)),
    )
    return IterativeAttack(
        ball,
        loss,
        steps=int(settings["steps"]),
        step_size=step_of(ball, step_size, settings),
        random_start=bool(settings.get("random_start", True)),
        momentum=settings.get("momentum"),
        name=name,
        start=str(settings.get("start", "uniform")),
    )


def autoattack(
    name: str, threat: ThreatModel, step_size: float, seed: int, settings: Mapping[str, Any]
) -> Attack:
    """:class:`AutoAttackAdapter` of the row's ``version``, seeded with ``seed``."""
    ball = scaled_threat(threat, settings)
    return AutoAttackAdapter(ball, version=str(settings["version"]), seed=seed, name=name)


def torchattacks_attack(
    name: str, threat: ThreatModel, step_size: float, seed: int, settings: Mapping[str, Any]
) -> Attack:
    """:class:`TorchattacksAttack` of the row's ``attack`` (AutoAttack, PGD, FGSM)."""
    ball = scaled_threat(threat, settings)
    options = {k: v for k, v in settings.items() if k == "steps"}
    if "step_size" in settings:
        options["step_size"] = step_of(ball, step_size, settings)
    return TorchattacksAttack(ball, str(settings["attack"]), settings=options, seed=seed, name=name)
