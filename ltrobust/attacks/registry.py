"""Attack names of METHODS §2 and the factory that builds them.

``fgsm, pgd20, pgd100, mim, cw20, cw100, adaptive, adaptive-auto, aa, aa-fast``; ``pgdN`` and
``cwN`` for any number of steps N are accepted too. ``adaptive`` is PGD-20 on CE(10 * logits)
(REAT §5.2); ``adaptive-auto`` is PGD-20 on the scale-invariant :class:`TemperatureCE`, which
needs no guessed factor.
"""

from __future__ import annotations

import re

from ltrobust.attacks.autoattack import AutoAttackAdapter
from ltrobust.attacks.base import Attack
from ltrobust.attacks.iterative import GradHook, IterativeAttack
from ltrobust.attacks.losses import CrossEntropy, CWMargin, TemperatureCE
from ltrobust.attacks.threat import ThreatModel
from ltrobust.errors import ConfigError

ATTACK_NAMES = (
    "fgsm",
    "pgd20",
    "pgd100",
    "mim",
    "cw20",
    "cw100",
    "adaptive",
    "adaptive-auto",
    "aa",
    "aa-fast",
)
#: logit scale alpha of the ``adaptive`` attack (REAT §5.2)
ADAPTIVE_SCALE = 10.0
MIM_MOMENTUM = 1.0
MIM_STEPS = 20


def parse_attack_list(text: str) -> list[str]:
    """Split ``"fgsm, pgd20,aa"`` into names, check each, keep order, drop duplicates."""
    names: list[str] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        check_attack_name(name)
        if name not in names:
            names.append(name)
    if not names:
        raise ConfigError("no attack given; valid: " + ", ".join(ATTACK_NAMES))
    return names


def check_attack_name(name: str) -> None:
    """Raise :class:`ConfigError` listing the valid names if ``name`` is unknown."""
    if name in ATTACK_NAMES or re.fullmatch(r"(pgd|cw)[1-9]\d{0,4}", name):
        return
    raise ConfigError(
        f"unknown attack {name!r}; valid: {', '.join(ATTACK_NAMES)} (or pgdN / cwN for N steps)"
    )


def build_attack(
    name: str,
    threat: ThreatModel,
    step_size: float,
    *,
    seed: int = 0,
    grad_hook: GradHook | None = None,
) -> Attack:
    """Build the attack called ``name`` for ``threat`` with iterative step ``step_size``."""
    check_attack_name(name)
    if name == "fgsm":
        return IterativeAttack(
            threat,
            CrossEntropy(),
            steps=1,
            step_size=threat.eps,
            random_start=False,
            name=name,
            grad_hook=grad_hook,
        )
    if name == "mim":
        return IterativeAttack(
            threat,
            CrossEntropy(),
            steps=MIM_STEPS,
            step_size=step_size,
            momentum=MIM_MOMENTUM,
            name=name,
            grad_hook=grad_hook,
        )
    if name == "adaptive":
        return IterativeAttack(
            threat,
            CrossEntropy(scale=ADAPTIVE_SCALE),
            steps=20,
            step_size=step_size,
            name=name,
            grad_hook=grad_hook,
        )
    if name == "adaptive-auto":
        return IterativeAttack(
            threat, TemperatureCE(), steps=20, step_size=step_size, name=name, grad_hook=grad_hook
        )
    if name in ("aa", "aa-fast"):
        return AutoAttackAdapter(
            threat, version="standard" if name == "aa" else "fast", seed=seed, name=name
        )
    loss = CWMargin() if name.startswith("cw") else CrossEntropy()
    steps = int(re.sub(r"\D", "", name))
    return IterativeAttack(
        threat, loss, steps=steps, step_size=step_size, name=name, grad_hook=grad_hook
    )
