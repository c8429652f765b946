"""Factories of the attack table (:mod:`ltrobust.attacks.registry`): a row's
:class:`~ltrobust.attacks.spec.AttackSpec` (and the :class:`~ltrobust.attacks.spec.BuildInputs`
a few rows need) -> attack. Each takes ``(name, threat, audit step or None, seed, spec,
inputs)``."""

from __future__ import annotations

from typing import Any

from ltrobust.attacks.autoattack import AutoAttackAdapter, TailTargetedAPGD
from ltrobust.attacks.base import Attack
from ltrobust.attacks.iterative import IterativeAttack, LossFn
from ltrobust.attacks.losses import CrossEntropy, CWMargin, TemperatureCE
from ltrobust.attacks.spec import AttackSpec, BuildInputs, whole_box_eps
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


def scaled_threat(threat: ThreatModel, spec: AttackSpec, inputs: BuildInputs) -> ThreatModel:
    """The row's ball: the audit's, its radius times ``eps_scale`` when a protocol defines its
    budget relative to CIFAR's 8/255 (RoBal's 0.031), or, for a ``whole-box`` budget, one that
    holds the whole input box (L2: from ``inputs.sample_shape``)."""
    if spec.budget == "whole-box":
        eps = whole_box_eps(threat.norm, threat.bounds, inputs.sample_shape)
        return ThreatModel(threat.norm, eps, threat.bounds)
    scale = spec.eps_scale
    return threat if scale == 1.0 else ThreatModel(threat.norm, threat.eps * scale, threat.bounds)


def iterative(
    name: str,
    threat: ThreatModel,
    step_size: float | None,
    seed: int,
    spec: AttackSpec,
    inputs: BuildInputs,
) -> Attack:
    """:class:`IterativeAttack` of the row's loss (with its scale and kappa), steps, step rule
    (resolved on the row's ball), start rule, momentum, EOT draws and budget."""
    if spec.steps is None:
        raise ValueError(f"attack {name!r}: an iterative row needs its steps")
    ball = scaled_threat(threat, spec, inputs)
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
    name: str,
    threat: ThreatModel,
    step_size: float | None,
    seed: int,
    spec: AttackSpec,
    inputs: BuildInputs,
) -> Attack:
    """:class:`AutoAttackAdapter` of the row's ``version``, seeded with ``seed``."""
    ball = scaled_threat(threat, spec, inputs)
    return AutoAttackAdapter(ball, version=str(spec.version), seed=seed, name=name)


def torchattacks_attack(
    name: str,
    threat: ThreatModel,
    step_size: float | None,
    seed: int,
    spec: AttackSpec,
    inputs: BuildInputs,
) -> Attack:
    """:class:`TorchattacksAttack` of the row's ``backend_attack`` (AutoAttack, PGD, FGSM), with
    its steps and step rule where the row gives them."""
    ball = scaled_threat(threat, spec, inputs)
    options: dict[str, Any] = {} if spec.steps is None else {"steps": spec.steps}
    if spec.step.relative is not None or spec.step.absolute is not None:
        options["step_size"] = spec.step.resolve(ball.eps, step_size)
    attack = str(spec.backend_attack)
    return TorchattacksAttack(ball, attack, settings=options, seed=seed, name=name)


def tail_targeted(
    name: str,
    threat: ThreatModel,
    step_size: float | None,
    seed: int,
    spec: AttackSpec,
    inputs: BuildInputs,
) -> Attack:
    """:class:`TailTargetedAPGD` towards ``inputs.tail`` with the row's ``targets`` per sample
    and ``steps`` iterations, seeded with ``seed``."""
    if spec.steps is None or spec.targets is None:
        raise ValueError(f"attack {name!r}: a tail-targeted row needs its steps and targets")
    ball = scaled_threat(threat, spec, inputs)
    return TailTargetedAPGD(
        ball, list(inputs.tail), max_targets=spec.targets, n_iter=spec.steps, seed=seed, name=name
    )
