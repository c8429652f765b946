"""Attacks: a threat model, one iterative core with pluggable losses, AutoAttack, and the
declarative attack table (docs/METHODS.md §2). Names load lazily: the table is torch-free."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltrobust.lazy import exports

if TYPE_CHECKING:
    from ltrobust.attacks.autoattack import (
        AutoAttackAdapter,
        TailTargetedAPGD,
        aa_target_classes,
        make_autoattack,
    )
    from ltrobust.attacks.base import Attack, AttackOutput, GradObserver
    from ltrobust.attacks.iterative import IterativeAttack
    from ltrobust.attacks.losses import CrossEntropy, CWMargin, TemperatureCE
    from ltrobust.attacks.registry import (
        ATTACK_NAMES,
        ATTACKS,
        DEFAULT_ATTACKS,
        build_attack,
        check_attack_name,
        parse_attack_list,
    )
    from ltrobust.attacks.rng import per_sample_noise, salt_of, sample_seeds
    from ltrobust.attacks.threat import ThreatModel

_WHERE = {
    **dict.fromkeys(
        ("AutoAttackAdapter", "TailTargetedAPGD", "aa_target_classes", "make_autoattack"),
        "ltrobust.attacks.autoattack",
    ),
    **dict.fromkeys(("Attack", "AttackOutput", "GradObserver"), "ltrobust.attacks.base"),
    "IterativeAttack": "ltrobust.attacks.iterative",
    **dict.fromkeys(("CrossEntropy", "CWMargin", "TemperatureCE"), "ltrobust.attacks.losses"),
    **dict.fromkeys(
        (
            "ATTACK_NAMES",
            "ATTACKS",
            "DEFAULT_ATTACKS",
            "build_attack",
            "check_attack_name",
            "parse_attack_list",
        ),
        "ltrobust.attacks.registry",
    ),
    **dict.fromkeys(("per_sample_noise", "salt_of", "sample_seeds"), "ltrobust.attacks.rng"),
    "ThreatModel": "ltrobust.attacks.threat",
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, globals(), _WHERE)
