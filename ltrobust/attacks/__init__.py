"""Attacks: a threat model, one iterative core with pluggable losses, and AutoAttack."""

from ltrobust.attacks.autoattack import (
    AutoAttackAdapter,
    TailTargetedAPGD,
    aa_target_classes,
    make_autoattack,
)
from ltrobust.attacks.base import Attack
from ltrobust.attacks.iterative import IterativeAttack
from ltrobust.attacks.losses import CrossEntropy, CWMargin, TemperatureCE
from ltrobust.attacks.registry import (
    ATTACK_NAMES,
    build_attack,
    check_attack_name,
    parse_attack_list,
)
from ltrobust.attacks.rng import per_sample_noise, salt_of, sample_seeds
from ltrobust.attacks.threat import ThreatModel, parse_number

__all__ = [
    "ATTACK_NAMES",
    "Attack",
    "AutoAttackAdapter",
    "CWMargin",
    "CrossEntropy",
    "IterativeAttack",
    "TailTargetedAPGD",
    "TemperatureCE",
    "ThreatModel",
    "aa_target_classes",
    "build_attack",
    "check_attack_name",
    "make_autoattack",
    "parse_attack_list",
    "parse_number",
    "per_sample_noise",
    "salt_of",
    "sample_seeds",
]
