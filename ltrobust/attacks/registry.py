"""The attacks of docs/METHODS.md §2 as one declarative table, and the factory that builds them.

``fgsm, pgd20, pgd100, mim, cw20, cw100, adaptive, adaptive-auto, aa, aa-fast``; ``pgdN`` and
``cwN`` for any number of steps N. Every row's settings are data (the loss by name, its logit
scale, steps, momentum, random start, the AutoAttack version); the factories in
:mod:`ltrobust.attacks.factories` turn a row into an attack object. This module is torch-free,
so the CLI validates and lists attack names without loading torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltrobust.errors import ConfigError
from ltrobust.registry import Entry, Registry
from ltrobust.values import parse_names

if TYPE_CHECKING:
    from ltrobust.attacks.base import Attack
    from ltrobust.attacks.threat import ThreatModel

_ITERATIVE = "ltrobust.attacks.factories:iterative"
_AUTOATTACK = "ltrobust.attacks.factories:autoattack"
#: logit scale alpha of the ``adaptive`` attack (REAT §5.2)
ADAPTIVE_SCALE = 10.0

ATTACKS = Registry(
    "attack",
    [
        Entry(
            "fgsm",
            _ITERATIVE,
            "one signed-gradient step of size eps on CE, from the clean point",
            {"loss": "ce", "steps": 1, "step_size": "eps", "random_start": False},
        ),
        Entry(
            "pgd{N}",
            _ITERATIVE,
            "PGD on CE from a uniform random start in the eps-ball, N steps",
            {"loss": "ce", "steps": "N"},
            examples=("pgd20", "pgd100"),
        ),
        Entry(
            "mim",
            _ITERATIVE,
            "momentum iterative attack (Dong et al.): g <- mu g + grad / mean|grad|, sign step",
            {"loss": "ce", "steps": 20, "momentum": 1.0},
        ),
        Entry(
            "cw{N}",
            _ITERATIVE,
            "PGD on the Carlini-Wagner margin loss (not the L2 minimisation attack), N steps",
            {"loss": "cw", "steps": "N"},
            examples=("cw20", "cw100"),
        ),
        Entry(
            "adaptive",
            _ITERATIVE,
            "the logit-scaling attack: PGD-20 on CE(10 * logits) (REAT §5.2, AT-BSL's LSA)",
            {"loss": "ce", "loss_scale": ADAPTIVE_SCALE, "steps": 20},
        ),
        Entry(
            "adaptive-auto",
            _ITERATIVE,
            "PGD-20 on CE of the logits over their per-sample std: invariant to any logit scale",
            {"loss": "temperature-ce", "steps": 20},
        ),
        Entry(
            "aa",
            _AUTOATTACK,
            "AutoAttack standard (pyautoattack): APGD-CE, APGD-T, FAB-T, Square; worst case",
            {"version": "standard"},
        ),
        Entry(
            "aa-fast",
            _AUTOATTACK,
            "APGD-CE + APGD-T with AutoAttack's standard settings (RoBal's evaluation)",
            {"version": "fast"},
        ),
    ],
)

#: every named attack in table order
ATTACK_NAMES = tuple(ATTACKS.names())
#: the audit's default: every named attack except aa-fast, which aa contains
DEFAULT_ATTACKS = tuple(name for name in ATTACK_NAMES if name != "aa-fast")


def check_attack_name(name: str) -> None:
    """Raise :class:`ConfigError` listing the valid names if ``name`` is unknown."""
    ATTACKS.lookup(name)


def parse_attack_list(text: str) -> list[str]:
    """Split ``"fgsm, pgd20,aa"`` into names, check each, keep order, drop duplicates."""
    if not text.strip("," + " "):
        raise ConfigError("no attack given; valid: " + ATTACKS.valid())
    names = parse_names(text, name="--attacks")
    for name in names:
        check_attack_name(name)
    return names


def attack_settings(name: str) -> dict[str, object]:
    """The table's settings of ``name`` with ``N`` filled in (``pgd50`` -> steps 50)."""
    entry, number = ATTACKS.lookup(name)
    return {k: (number if v == "N" else v) for k, v in entry.settings.items()}


def build_attack(name: str, threat: ThreatModel, step_size: float, *, seed: int = 0) -> Attack:
    """Build the attack called ``name`` for ``threat`` with iterative step ``step_size``."""
    entry, _ = ATTACKS.lookup(name)
    attack: Attack = entry.load()(name, threat, step_size, seed, attack_settings(name))
    return attack
