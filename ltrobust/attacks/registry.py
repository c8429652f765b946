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

_TORCHATTACKS = "ltrobust.attacks.factories:torchattacks_attack"
#: RoBal's evaluation budget relative to CIFAR's 8/255: eps 0.031, step 0.0078 (its configs)
ROBAL_EPS = 0.031 / (8 / 255)
ROBAL_STEP = 0.0078 / 0.031


def _protocol(name: str, factory: str, description: str, **settings: object) -> Entry:
    """An attack of a paper's evaluation protocol (docs/PROTOCOLS.md): listed apart, run by
    ``--protocol``; budgets and steps keep their ratio to the audit's eps."""
    return Entry(name, factory, description, settings, hidden=True)


for _entry in (
    _protocol("robal-fgsm", _ITERATIVE, "RoBal's FGSM (eps 0.031)", loss="ce", steps=1,
              step_size="eps", random_start=False, eps_scale=ROBAL_EPS),
    _protocol("robal-pgd20", _ITERATIVE, "RoBal's PGD-20 (eps 0.031, step 0.0078, unclipped start)",
              loss="ce", steps=20, step_size=f"eps*{ROBAL_STEP!r}", start="uniform-noclip",
              eps_scale=ROBAL_EPS),
    _protocol("robal-mim20", _ITERATIVE, "RoBal's MIM (20 steps of 0.0078, momentum 1)", loss="ce",
              steps=20, momentum=1.0, step_size=f"eps*{ROBAL_STEP!r}", start="uniform-noclip",
              eps_scale=ROBAL_EPS),
    _protocol("robal-cw20", _ITERATIVE, "RoBal's CW-20 (kappa 50, step 0.0078)", loss="cw",
              kappa=50.0, steps=20, step_size=f"eps*{ROBAL_STEP!r}", start="uniform-noclip",
              eps_scale=ROBAL_EPS),
    _protocol("robal-aa", _AUTOATTACK, "RoBal's AutoAttack: APGD-CE + APGD-T at eps 0.031",
              version="fast", eps_scale=ROBAL_EPS),
    _protocol("atbsl-fgsm", _ITERATIVE, "AT-BSL's FGSM (start x + 0.001 N(0, 1))", loss="ce",
              steps=1, step_size="eps", start="normal-0.001"),
    _protocol("atbsl-pgd20", _ITERATIVE, "AT-BSL's PGD-20 (step eps/4, unclipped start)", loss="ce",
              steps=20, step_size="eps*0.25", start="uniform-noclip"),
    _protocol("atbsl-cw20", _ITERATIVE, "AT-BSL's CW-20 (kappa 50, step eps/4)", loss="cw",
              kappa=50.0, steps=20, step_size="eps*0.25", start="uniform-noclip"),
    _protocol("atbsl-lsa", _ITERATIVE, "AT-BSL's LSA: PGD-20 on CE(10 z)", loss="ce",
              loss_scale=10.0, steps=20, step_size="eps*0.25", start="uniform-noclip"),
    _protocol("ta-aa", _TORCHATTACKS, "torchattacks 3.5.1 AutoAttack(n_classes=C): 10 iterations, "
              "C - 1 targets", attack="AutoAttack"),
    _protocol("ta-fgsm", _TORCHATTACKS, "torchattacks 3.5.1 FGSM", attack="FGSM"),
    _protocol("ta-pgd20", _TORCHATTACKS, "torchattacks 3.5.1 PGD-20, step eps/4", attack="PGD",
              steps=20, step_size="eps*0.25"),
    _protocol("ta-pgd20-slow", _TORCHATTACKS, "torchattacks 3.5.1 PGD-20, step eps/8", attack="PGD",
              steps=20, step_size="eps*0.125"),
    _protocol("ta-pgd100-slow", _TORCHATTACKS, "torchattacks 3.5.1 PGD-100, step eps/8",
              attack="PGD", steps=100, step_size="eps*0.125"),
    _protocol("robustlt-cw20", _ITERATIVE, "RobustLT's CW-20 (kappa 0, step eps/8)", loss="cw",
              kappa=0.0, steps=20, step_size="eps*0.125"),
    _protocol("mcat-pgd20", _ITERATIVE, "MCAT's PGD-20 (step eps/4)", loss="ce", steps=20,
              step_size="eps*0.25"),
    _protocol("reat-pgd100", _ITERATIVE, "REAT's PGD-100 (step assumed eps/4)", loss="ce",
              steps=100, step_size="eps*0.25"),
    _protocol("reat-cw100", _ITERATIVE, "REAT's CW-100 (kappa 50 and step eps/4 assumed)",
              loss="cw", kappa=50.0, steps=100, step_size="eps*0.25"),
):  # fmt: skip
    ATTACKS.add(_entry)

#: every named attack in table order (the protocols' own attacks are listed apart)
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
