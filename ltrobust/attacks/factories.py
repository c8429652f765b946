"""Factories of the attack table (:mod:`ltrobust.attacks.registry`): a row's
:class:`~ltrobust.attacks.spec.AttackSpec` -> attack."""

from __future__ import annotations

from typing import Any

from ltrobust.attacks.autoattack import AutoAttackAdapter
from ltrobust.attacks.base import Attack
from ltrobust.attacks.iterative import IterativeAttack, LossFn
from ltrobust.attacks.losses import CrossEntropy, CWMargin, TemperatureCE
from ltrobust.attacks.spec import AttackSpec
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


def scaled_threat(threat: ThreatModel, spec: AttackSpec) -> ThreatModel:
    """The row's ball: the audit's, its radius times ``eps_scale`` when a protocol defines its
    budget relative to CIFAR's 8/255 (RoBal's 0.031)."""
    scale = spec.eps_scale
    return threat if scale == 1.0 else ThreatModel(threat.norm, threat.eps * scale, threat.bounds)


def iterative(
    name: str, threat: ThreatModel, step_size: float, seed: int, spec: AttackSpec
) -> Attack:
    """:class:`IterativeAttack` of the row's loss (with its scale and kappa), steps, step rule
    (resolved on the row's ball), start rule, momentum and ``eps_scale``."""
    if spec.steps is None:
        raise ValueError(f"attack {name!r}: an iterative row needs its steps")
    ball = scaled_threat(threat, spec)
    return IterativeAttack(
        ball,
        loss_by_name(spec.loss, spec.loss_scale, spec.kappa),
        steps=spec.steps,
        step_size=spec.step.resolve(ball.eps, step_size),
        momentum=spec.momentum,
        name=name,
        eot=spec.eot,
        start=spec.start,
    )


def autoattack(
    name: str, threat: ThreatModel, step_size: float, seed: int, spec: AttackSpec
) -> Attack:
    """:class:`AutoAttackAdapter` of the row's ``version``, seeded with ``seed``."""
    ball = scaled_threat(threat, spec)
    return AutoAttackAdapter(ball, version=str(spec.version), seed=seed, name=name)


def torchattacks_attack(
    name: str, threat: ThreatModel, step_size: float, seed: int, spec: AttackSpec
) -> Attack:
    """:class:`TorchattacksAttack` of the row's ``backend_attack`` (AutoAttack, PGD, FGSM), with
    its steps and step rule where the row gives them."""
    ball = scaled_threat(threat, spec)
    options: dict[str, Any] = {} if spec.steps is None else {"steps": spec.steps}
    if spec.step.relative is not None or spec.step.absolute is not None:
        options["step_size"] = spec.step.resolve(ball.eps, step_size)
    attack = str(spec.backend_attack)
    return TorchattacksAttack(ball, attack, settings=options, seed=seed, name=name)
