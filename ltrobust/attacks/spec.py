"""One row of the attack table as typed data: :class:`AttackSpec` (torch-free).

A row says which factory kind builds it (``iterative``, ``autoattack``, ``torchattacks``), its
loss and steps, its step as a :class:`StepRule` (the audit's step, a multiple of eps, or a fixed
length), its random start as a :class:`StartRule`, the scale of its budget, and its **roles**:
what the audit uses it for. The audit asks the table for a role instead of naming attacks
(:func:`ltrobust.attacks.registry.names_with_role`).

Roles (a closed set, :data:`ROLES`):

``default``
    in the audit's default attack list (a pattern row: its examples, ``pgd20, pgd100``).
``gradient``
    a first-order attack on the model's gradients; the verdict's headline falls back to the
    least inflated of them when the ``headline`` attack was not run.
``headline``
    the attack whose inflation the verdict reports first (PGD-20).
``observed``
    the attack whose gradients the zero-gradient diagnostics observe (PGD-20); the kappa sweep
    reuses it at kappa 0.
``single-step``
    a one-step attack; stronger than the headline means gradient masking (FGSM).
``long``
    the headline's attack with many more steps; well below it means PGD has not converged.
``logit-scaling``
    a logit-scaling adaptive attack (REAT's LSA, the scale-invariant one).
``strong``
    scale-invariant or gradient-free: without one the verdict cannot say ``reliable``.
``components``
    an AutoAttack whose passes report which component broke each sample, on the audit's ball:
    the audit records them and checks AutoAttack against PGD-20 (so not RoBal's ``robal-aa``,
    whose ball is 0.031).
``diagnostic``
    run only by a pass of the diagnostics, under its own name (escalation, the unbounded
    attack, the tail targets); ``--attacks`` refuses it.
``escalation``
    an escalation attack (docs/METHODS.md §3.9), run on the survivors when the diagnostics call
    for it; which one is its ``gradient-free`` or ``eot`` role.
``gradient-free``
    uses no gradient (Square): the escalation when gradients vanish.
``eot``
    averages gradients over draws of a randomised model: the escalation when forward passes
    differ.
``whole-box``
    the unbounded attack: its ball holds the whole input box (:data:`WHOLE_BOX`).
``tail-targeted``
    targeted APGD towards the tail classes (``--aa-tail-targets``); it is built with them.
``kappa-invariant``
    the kappa sweep's scale-invariant attack (APGD-DLR), run on the rescaled logits at the
    sweep's ends.

Roles of a pattern row (``pgd{N}``) hold for every N; :attr:`AttackSpec.number_roles` adds
roles for one N only (``pgd20`` is the headline, ``pgd100`` the long run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, get_args

Role = Literal[
    "default",
    "gradient",
    "headline",
    "observed",
    "single-step",
    "long",
    "logit-scaling",
    "strong",
    "components",
    "diagnostic",
    "escalation",
    "gradient-free",
    "eot",
    "whole-box",
    "tail-targeted",
    "kappa-invariant",
]
#: every role a row may have
ROLES: frozenset[str] = frozenset(get_args(Role))
Kind = Literal["iterative", "autoattack", "torchattacks", "tail-targeted"]
StartKind = Literal["uniform", "normal", "none"]


@dataclass(frozen=True)
class StepRule:
    """An iterative attack's step length: ``relative * eps`` (of the row's ball), or the fixed
    length ``absolute``, or (neither given) the audit's step for the dataset."""

    relative: float | None = None
    absolute: float | None = None

    def __post_init__(self) -> None:
        if self.relative is not None and self.absolute is not None:
            raise ValueError("a step rule is relative to eps or absolute, not both")

    def resolve(self, eps: float, audit_step: float | None) -> float:
        """The step for a ball of radius ``eps`` when the audit's step is ``audit_step`` (None:
        none is known, and a rule that needs it raises ValueError). A step of ``1/n`` of eps
        is ``eps / n``, as the papers write it (for n a power of two the same float as
        ``eps * relative``)."""
        if self.relative is not None:
            n = 1 / self.relative
            return eps / n if n == round(n) else eps * self.relative
        if self.absolute is not None:
            return float(self.absolute)
        if audit_step is None:
            raise ValueError("this attack takes the audit's step; none was given")
        return float(audit_step)

    @property
    def label(self) -> str | None:
        """``eps``, ``eps*0.25``, a length, or None for the audit's step (for lists)."""
        if self.relative is not None:
            return "eps" if self.relative == 1.0 else f"eps*{self.relative!r}"
        return None if self.absolute is None else repr(self.absolute)


#: the audit's step for the dataset
AUDIT_STEP = StepRule()


@dataclass(frozen=True)
class StartRule:
    """Where an iterative attack starts: ``none`` (the clean point), ``uniform`` in the ball
    (``clip``: clipped to the input box before the first gradient; RoBal's and AT-BSL's code do
    not clip), or ``normal``: ``x + sigma * N(0, 1)``, not clipped (AT-BSL's FGSM)."""

    kind: StartKind = "uniform"
    clip: bool = True
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in get_args(StartKind):
            raise ValueError(f"unknown start kind {self.kind!r}")
        if self.kind == "normal" and not self.sigma > 0:
            raise ValueError(f"a normal start needs sigma > 0, got {self.sigma}")

    @property
    def random(self) -> bool:
        """Whether the start is drawn at random."""
        return self.kind != "none"

    @property
    def label(self) -> str:
        """The name reports store: ``uniform``, ``uniform-noclip``, ``normal-0.001``, ``none``."""
        if self.kind == "normal":
            return f"normal-{self.sigma!r}"
        if self.kind == "uniform" and not self.clip:
            return "uniform-noclip"
        return self.kind


UNIFORM = StartRule()
UNIFORM_NOCLIP = StartRule(clip=False)
NO_START = StartRule("none")

#: a row's ball: the audit's (times its ``eps_scale``), or ``whole-box``, one that holds the
#: whole input box (:func:`whole_box_eps`; the unbounded attack)
Budget = Literal["audit", "whole-box"]
WHOLE_BOX: Budget = "whole-box"


def whole_box_eps(
    norm: str, bounds: tuple[float, float], sample_shape: Sequence[int] | None
) -> float:
    """The radius of the smallest ball around any point of the box ``bounds`` that holds the
    whole box: L-inf its width, L2 its diagonal ``width * sqrt(d)`` (d values per sample,
    from ``sample_shape``, which L2 needs)."""
    width = bounds[1] - bounds[0]
    if norm == "linf":
        return width
    if sample_shape is None:
        raise ValueError("a whole-box L2 ball needs the sample shape")
    d = 1
    for s in sample_shape:
        d *= int(s)
    return width * float(d) ** 0.5


@dataclass(frozen=True)
class BuildInputs:
    """What a few rows need at build time besides the ball and the step: the shape of one
    sample (a whole-box L2 ball) and the tail classes (the ``tail-targeted`` row)."""

    sample_shape: tuple[int, ...] | None = None
    tail: tuple[int, ...] = ()


@dataclass(frozen=True)
class AttackSpec:
    """One row of the attack table (see the module doc for ``roles``).

    Attributes:
        kind: the factory that builds it.
        loss: ``ce``, ``cw`` or ``temperature-ce`` (iterative rows).
        steps: gradient steps; None in a pattern row (its N) or where the attack fixes them.
        step: the step rule (iterative and torchattacks PGD rows).
        start: the random start (iterative rows).
        loss_scale: the logit scale of the loss (the adaptive attacks).
        kappa: the CW margin's confidence.
        momentum: MIM's decay factor, or None.
        eot: gradient draws per step (expectation over transformation; the escalation's EOT).
        eps_scale: the row's budget relative to the audit's (RoBal's 0.031 vs 8/255).
        budget: ``audit`` (the audit's ball, times ``eps_scale``) or ``whole-box``.
        targets: target classes per sample (the ``tail-targeted`` row).
        version: AutoAttack's version (``standard``, ``fast``).
        backend_attack: the torchattacks class (``PGD``, ``FGSM``, ``AutoAttack``).
        roles: what the audit uses the row for.
        number_roles: for a pattern row, roles only one N has: ``((20, {"headline"}), ...)``.
    """

    kind: Kind
    loss: str = "ce"
    steps: int | None = None
    step: StepRule = AUDIT_STEP
    start: StartRule = UNIFORM
    loss_scale: float = 1.0
    kappa: float = 50.0
    momentum: float | None = None
    eot: int = 1
    eps_scale: float = 1.0
    budget: Budget = "audit"
    targets: int | None = None
    version: str | None = None
    backend_attack: str | None = None
    roles: frozenset[Role] = frozenset()
    number_roles: tuple[tuple[int, frozenset[Role]], ...] = ()

    def __post_init__(self) -> None:
        unknown = {*self.roles, *(r for _, rs in self.number_roles for r in rs)} - ROLES
        if unknown:
            raise ValueError(f"unknown attack roles {sorted(unknown)}; valid: {sorted(ROLES)}")
        if self.budget not in get_args(Budget):
            raise ValueError(f"unknown budget {self.budget!r}")

    def roles_of(self, number: int) -> frozenset[Role]:
        """The roles of the name with number ``number`` (0 for a plain name)."""
        extra = [rs for n, rs in self.number_roles if n == number]
        return self.roles.union(*extra)

    def with_steps(self, steps: int) -> AttackSpec:
        """This row with ``steps`` filled in (a pattern's N)."""
        return replace(self, steps=steps)

    def summary(self) -> dict[str, object]:
        """The row's settings as plain data for lists (``ltrobust attacks``): what differs from
        the defaults, ``steps`` ``N`` in a pattern row, the step and start by their labels."""
        out: dict[str, object] = {}
        if self.kind == "iterative":
            out["loss"] = self.loss
        if self.loss_scale != 1.0:
            out["loss_scale"] = self.loss_scale
        if self.kappa != 50.0:
            out["kappa"] = self.kappa
        if self.kind == "iterative" or self.steps is not None:
            out["steps"] = "N" if self.steps is None else self.steps
        if self.step.label is not None:
            out["step_size"] = self.step.label
        if not self.start.random and self.kind == "iterative":
            out["random_start"] = False
        elif self.start.label != "uniform":
            out["start"] = self.start.label
        extra = {"momentum": self.momentum, "version": self.version, "attack": self.backend_attack}
        out.update({k: v for k, v in extra.items() if v is not None})
        if self.eps_scale != 1.0:
            out["eps_scale"] = self.eps_scale
        if self.eot != 1:
            out["eot"] = self.eot
        if self.budget != "audit":
            out["budget"] = self.budget
        if self.targets is not None:
            out["targets"] = self.targets
        return out
