"""The attacks of docs/METHODS.md §2 as one declarative table, and the factory that builds them.

``fgsm, pgd20, pgd100, mim, cw20, cw100, adaptive, adaptive-auto, aa, aa-fast``; ``pgdN`` and
``cwN`` for any number of steps N. Hidden rows: the papers' protocol attacks
(docs/PROTOCOLS.md §9.1) and the diagnostics' own (``square``, ``aa-rand``, ``pgd20-eot``,
``unbounded``, ``apgd-dlr``, ``aa-tail``; role ``diagnostic``). Every row's settings are data (the loss by
name, its logit scale, steps, momentum, random start, budget, the AutoAttack version) in a typed
:class:`~ltrobust.attacks.spec.AttackSpec`, and so are its roles (what the audit uses it for:
:func:`names_with_role`); the factories in :mod:`ltrobust.attacks.factories` turn a row into an
attack object. This module is torch-free, so the CLI validates and lists attack names without
loading torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ltrobust.attacks.spec import (
    NO_START,
    UNIFORM,
    UNIFORM_NOCLIP,
    WHOLE_BOX,
    AttackSpec,
    BuildInputs,
    Role,
    StartRule,
    StepRule,
)
from ltrobust.errors import ConfigError
from ltrobust.registry import Entry, Registry
from ltrobust.values import parse_names

if TYPE_CHECKING:
    from ltrobust.attacks.base import Attack
    from ltrobust.attacks.threat import ThreatModel

_ITERATIVE = "ltrobust.attacks.factories:iterative"
_AUTOATTACK = "ltrobust.attacks.factories:autoattack"
_TORCHATTACKS = "ltrobust.attacks.factories:torchattacks_attack"
_TAIL = "ltrobust.attacks.factories:tail_targeted"
#: logit scale alpha of the ``adaptive`` attack (REAT §5.2)
ADAPTIVE_SCALE = 10.0
#: one step of the whole budget (FGSM)
ONE_STEP = StepRule(relative=1.0)
QUARTER = StepRule(relative=0.25)
EIGHTH = StepRule(relative=0.125)
#: the headline PGD's number of steps, and that of the long run checking its convergence
HEADLINE_STEPS, LONG_STEPS = 20, 100


def _roles(*roles: Role) -> frozenset[Role]:
    return frozenset(roles)


ATTACKS: Registry[AttackSpec] = Registry(
    "attack",
    [
        Entry(
            "fgsm",
            _ITERATIVE,
            "one signed-gradient step of size eps on CE, from the clean point",
            AttackSpec(
                "iterative", steps=1, step=ONE_STEP, start=NO_START,
                roles=_roles("default", "gradient", "single-step"),
            ),
        ),
        Entry(
            "pgd{N}",
            _ITERATIVE,
            "PGD on CE from a uniform random start in the eps-ball, N steps",
            AttackSpec(
                "iterative", roles=_roles("default", "gradient"),
                number_roles=(
                    (HEADLINE_STEPS, _roles("headline", "observed")),
                    (LONG_STEPS, _roles("long")),
                ),
            ),
            examples=(f"pgd{HEADLINE_STEPS}", f"pgd{LONG_STEPS}"),
        ),
        Entry(
            "mim",
            _ITERATIVE,
            "momentum iterative attack (Dong et al.): g <- mu g + grad / mean|grad|, sign step",
            AttackSpec("iterative", steps=20, momentum=1.0, roles=_roles("default", "gradient")),
        ),
        Entry(
            "cw{N}",
            _ITERATIVE,
            "PGD on the Carlini-Wagner margin loss (not the L2 minimisation attack), N steps",
            AttackSpec("iterative", loss="cw", roles=_roles("default", "gradient")),
            examples=("cw20", "cw100"),
        ),
        Entry(
            "adaptive",
            _ITERATIVE,
            "the logit-scaling attack: PGD-20 on CE(10 * logits) (REAT §5.2, AT-BSL's LSA)",
            AttackSpec(
                "iterative", loss_scale=ADAPTIVE_SCALE, steps=20,
                roles=_roles("default", "logit-scaling"),
            ),
        ),
        Entry(
            "adaptive-auto",
            _ITERATIVE,
            "PGD-20 on CE of the logits over their per-sample std: invariant to any logit scale",
            AttackSpec(
                "iterative", loss="temperature-ce", steps=20,
                roles=_roles("default", "logit-scaling", "strong"),
            ),
        ),
        Entry(
            "aa",
            _AUTOATTACK,
            "AutoAttack standard (pyautoattack): APGD-CE, APGD-T, FAB-T, Square; worst case",
            AttackSpec(
                "autoattack", version="standard", roles=_roles("default", "strong", "components")
            ),
        ),
        Entry(
            "aa-fast",
            _AUTOATTACK,
            "APGD-CE + APGD-T with AutoAttack's standard settings (RoBal's evaluation)",
            AttackSpec("autoattack", version="fast", roles=_roles("strong", "components")),
        ),
    ],
)  # fmt: skip

#: RoBal's evaluation budget relative to CIFAR's 8/255: eps 0.031, step 0.0078 (its configs)
ROBAL_EPS = 0.031 / (8 / 255)
ROBAL_STEP = StepRule(relative=0.0078 / 0.031)
#: AT-BSL's FGSM start: x + 0.001 N(0, 1), not clipped
ATBSL_START = StartRule("normal", clip=False, sigma=0.001)


def _protocol(name: str, factory: str, description: str, spec: AttackSpec) -> Entry[AttackSpec]:
    """An attack of a paper's evaluation protocol (docs/PROTOCOLS.md §9.1): listed apart, run by
    ``--protocol``; budgets and steps keep their ratio to the audit's eps. Its roles are those
    true of it (``robal-aa`` is ``strong`` but not ``components``: its ball is RoBal's)."""
    return Entry(name, factory, description, spec, hidden=True)


def _it(
    loss: str,
    steps: int,
    step: StepRule,
    *,
    start: StartRule = UNIFORM,
    kappa: float = 50.0,
    loss_scale: float = 1.0,
    momentum: float | None = None,
    eps_scale: float = 1.0,
    roles: frozenset[Role] = frozenset({"gradient"}),
) -> AttackSpec:
    """A protocol's iterative row (a first-order attack unless ``roles`` says otherwise)."""
    return AttackSpec(
        "iterative", loss=loss, steps=steps, step=step, start=start, kappa=kappa,
        loss_scale=loss_scale, momentum=momentum, eps_scale=eps_scale, roles=roles,
    )  # fmt: skip


def _ta(
    attack: str,
    steps: int | None = None,
    step: StepRule | None = None,
    roles: frozenset[Role] = frozenset({"gradient"}),
) -> AttackSpec:
    """A protocol's torchattacks row."""
    return AttackSpec(
        "torchattacks", backend_attack=attack, steps=steps, step=step or StepRule(), roles=roles
    )


#: the roles of a protocol's single-step row
_SINGLE_STEP = _roles("gradient", "single-step")


for _entry in (
    _protocol("robal-fgsm", _ITERATIVE, "RoBal's FGSM (eps 0.031)",
              _it("ce", 1, ONE_STEP, start=NO_START, eps_scale=ROBAL_EPS, roles=_SINGLE_STEP)),
    _protocol("robal-pgd20", _ITERATIVE, "RoBal's PGD-20 (eps 0.031, step 0.0078, unclipped start)",
              _it("ce", 20, ROBAL_STEP, start=UNIFORM_NOCLIP, eps_scale=ROBAL_EPS)),
    _protocol("robal-mim20", _ITERATIVE, "RoBal's MIM (20 steps of 0.0078, momentum 1)",
              _it("ce", 20, ROBAL_STEP, momentum=1.0, start=UNIFORM_NOCLIP, eps_scale=ROBAL_EPS)),
    _protocol("robal-cw20", _ITERATIVE, "RoBal's CW-20 (kappa 50, step 0.0078)",
              _it("cw", 20, ROBAL_STEP, kappa=50.0, start=UNIFORM_NOCLIP, eps_scale=ROBAL_EPS)),
    _protocol("robal-aa", _AUTOATTACK, "RoBal's AutoAttack: APGD-CE + APGD-T at eps 0.031",
              AttackSpec("autoattack", version="fast", eps_scale=ROBAL_EPS, roles=_roles("strong"))),
    _protocol("atbsl-fgsm", _ITERATIVE, "AT-BSL's FGSM (start x + 0.001 N(0, 1))",
              _it("ce", 1, ONE_STEP, start=ATBSL_START, roles=_SINGLE_STEP)),
    _protocol("atbsl-pgd20", _ITERATIVE, "AT-BSL's PGD-20 (step eps/4, unclipped start)",
              _it("ce", 20, QUARTER, start=UNIFORM_NOCLIP)),
    _protocol("atbsl-cw20", _ITERATIVE, "AT-BSL's CW-20 (kappa 50, step eps/4)",
              _it("cw", 20, QUARTER, kappa=50.0, start=UNIFORM_NOCLIP)),
    _protocol("atbsl-lsa", _ITERATIVE, "AT-BSL's LSA: PGD-20 on CE(10 z)",
              _it("ce", 20, QUARTER, loss_scale=10.0, start=UNIFORM_NOCLIP,
                  roles=_roles("logit-scaling"))),
    _protocol("ta-aa", _TORCHATTACKS, "torchattacks 3.5.1 AutoAttack(n_classes=C): 10 iterations, "
              "C - 1 targets", _ta("AutoAttack", roles=_roles("strong"))),
    _protocol("ta-fgsm", _TORCHATTACKS, "torchattacks 3.5.1 FGSM", _ta("FGSM", roles=_SINGLE_STEP)),
    _protocol("ta-pgd20", _TORCHATTACKS, "torchattacks 3.5.1 PGD-20, step eps/4",
              _ta("PGD", 20, QUARTER)),
    _protocol("ta-pgd20-slow", _TORCHATTACKS, "torchattacks 3.5.1 PGD-20, step eps/8",
              _ta("PGD", 20, EIGHTH)),
    _protocol("ta-pgd100-slow", _TORCHATTACKS, "torchattacks 3.5.1 PGD-100, step eps/8",
              _ta("PGD", 100, EIGHTH)),
    _protocol("robustlt-cw20", _ITERATIVE, "RobustLT's CW-20 (kappa 0, step eps/8)",
              _it("cw", 20, EIGHTH, kappa=0.0)),
    _protocol("mcat-pgd20", _ITERATIVE, "MCAT's PGD-20 (step eps/4)", _it("ce", 20, QUARTER)),
    _protocol("reat-pgd100", _ITERATIVE, "REAT's PGD-100 (step assumed eps/4)",
              _it("ce", 100, QUARTER)),
    _protocol("reat-cw100", _ITERATIVE, "REAT's CW-100 (kappa 50 and step eps/4 assumed)",
              _it("cw", 100, QUARTER, kappa=50.0)),
):  # fmt: skip
    ATTACKS.add(_entry)

#: AutoAttack's number of target classes (APGD-T, FAB-T): also the tail-targeted row's
AA_TARGETS = 9
#: gradient draws per step of the escalation's EOT PGD (AutoAttack's ``rand`` version's 20)
EOT_DRAWS = 20


def _diagnostic(name: str, factory: str, description: str, spec: AttackSpec) -> Entry[AttackSpec]:
    """An attack only a pass of the diagnostics runs (docs/METHODS.md §3): hidden, under its
    own name (reports store it), refused by ``--attacks``."""
    if "diagnostic" not in spec.roles:
        raise ValueError(f"attack {name!r}: a diagnostics row needs the diagnostic role")
    return Entry(name, factory, description, spec, hidden=True)


for _entry in (
    _diagnostic("square", _AUTOATTACK, "escalation: AutoAttack's Square (5000 queries), "
                "gradient-free", AttackSpec("autoattack", version="square",
                roles=_roles("diagnostic", "escalation", "gradient-free"))),
    _diagnostic("aa-rand", _AUTOATTACK, "escalation: AutoAttack's rand version (APGD-CE, "
                "APGD-DLR, EOT over 20 draws)", AttackSpec("autoattack", version="rand",
                roles=_roles("diagnostic", "escalation", "eot"))),
    _diagnostic(f"pgd{HEADLINE_STEPS}-eot", _ITERATIVE, "escalation: the headline PGD with "
                "each step's gradient averaged over draws (the config's eot_draws)",
                AttackSpec("iterative", steps=HEADLINE_STEPS, eot=EOT_DRAWS,
                roles=_roles("diagnostic", "escalation", "eot"))),
    _diagnostic("unbounded", _ITERATIVE, "PGD-20 on CE in a ball that holds the whole box, "
                "step eps/10: must reach about 0%", AttackSpec("iterative", steps=20,
                step=StepRule(relative=0.1), budget=WHOLE_BOX,
                roles=_roles("diagnostic", "whole-box"))),
    _diagnostic("apgd-dlr", _AUTOATTACK, "the kappa sweep's scale-invariant attack: "
                "AutoAttack's APGD on the DLR loss (100 iterations, one restart)",
                AttackSpec("autoattack", version="dlr",
                roles=_roles("diagnostic", "kappa-invariant"))),
    _diagnostic("aa-tail", _TAIL, "targeted APGD (100 iterations) towards the 9 tail classes "
                "of highest clean logit", AttackSpec("tail-targeted", steps=100,
                targets=AA_TARGETS, roles=_roles("diagnostic", "tail-targeted"))),
):  # fmt: skip
    ATTACKS.add(_entry)

#: every named attack in table order (the protocols' and the diagnostics' own attacks are
#: listed apart)
ATTACK_NAMES = tuple(ATTACKS.names())


def check_attack_name(name: str) -> None:
    """Raise :class:`ConfigError` listing the valid names if ``name`` is unknown or is one of
    the diagnostics' own attacks (their passes run them under their names)."""
    entry, number = ATTACKS.lookup(name)
    if "diagnostic" in entry.settings.roles_of(number):
        raise ConfigError(
            f"attack {name!r} is run by the audit's diagnostics, not by an attack list; "
            f"valid: {ATTACKS.valid()}"
        )


def parse_attack_list(text: str) -> list[str]:
    """Split ``"fgsm, pgd20,aa"`` into names, check each, keep order, drop duplicates."""
    if not text.strip("," + " "):
        raise ConfigError("no attack given; valid: " + ATTACKS.valid())
    names = parse_names(text, name="--attacks")
    for name in names:
        check_attack_name(name)
    return names


def attack_spec(name: str) -> AttackSpec:
    """The table's row of ``name`` with a pattern's N filled in (``pgd50`` -> steps 50)."""
    entry, number = ATTACKS.lookup(name)
    return entry.settings.with_steps(number) if entry.is_pattern else entry.settings


def attack_roles(name: str) -> frozenset[Role]:
    """The roles of the attack ``name`` (``pgd20``: its pattern's and those of N = 20)."""
    entry, number = ATTACKS.lookup(name)
    return entry.settings.roles_of(number)


def names_with_role(
    role: Role, names: Iterable[str] | None = None, *, hidden: bool = False
) -> list[str]:
    """Those of ``names`` (default: every listed name of the table, examples included; with
    ``hidden`` the protocols' and the diagnostics' rows too) whose attack has ``role``, in
    order; unknown names are left out."""
    pool = ATTACKS.names(hidden=hidden) if names is None else list(names)
    return [n for n in pool if n in ATTACKS and role in attack_roles(n)]


def name_with_role(role: Role) -> str:
    """The one name of the table, hidden rows included, with ``role`` (``headline`` ->
    ``pgd20``, ``whole-box`` -> ``unbounded``); a table without exactly one is a programming
    error."""
    found = names_with_role(role, hidden=True)
    if len(found) != 1:
        raise ValueError(f"the attack table needs one {role} attack, has {found}")
    return found[0]


def build_attack(
    name: str,
    threat: ThreatModel,
    step_size: float | None,
    *,
    seed: int = 0,
    sample_shape: Sequence[int] | None = None,
    tail: Iterable[int] = (),
) -> Attack:
    """Build the attack called ``name`` for ``threat`` with the audit's iterative step
    ``step_size`` (None where the row's step does not read it). ``sample_shape`` and ``tail``
    are what some rows need (:class:`~ltrobust.attacks.spec.BuildInputs`); the others ignore
    them."""
    entry, _ = ATTACKS.lookup(name)
    inputs = _inputs(sample_shape, tail)
    attack: Attack = entry.load()(name, threat, step_size, seed, attack_spec(name), inputs)
    return attack


def build_variant(
    name: str,
    threat: ThreatModel,
    step_size: float | None,
    *,
    label: str,
    seed: int = 0,
    sample_shape: Sequence[int] | None = None,
    tail: Iterable[int] = (),
    **changes: Any,
) -> Attack:
    """The attack ``name`` with some of its row's fields changed (``loss_scale``, ``eot``), named
    ``label`` in reports: the kappa sweep's PGD-20 and the escalation's EOT PGD at the config's
    draws are variants of the table's rows, not attacks of their own."""
    entry, _ = ATTACKS.lookup(name)
    spec = replace(attack_spec(name), **changes)
    inputs = _inputs(sample_shape, tail)
    attack: Attack = entry.load()(label, threat, step_size, seed, spec, inputs)
    return attack


def _inputs(sample_shape: Sequence[int] | None, tail: Iterable[int]) -> BuildInputs:
    shape = None if sample_shape is None else tuple(int(s) for s in sample_shape)
    return BuildInputs(shape, tuple(int(c) for c in tail))


#: the audit's default: the named attacks of rows with the ``default`` role (not aa-fast, which
#: aa contains)
DEFAULT_ATTACKS = tuple(name for name in ATTACK_NAMES if "default" in attack_roles(name))
