"""What the audit's diagnostics found, as dataclasses: the report's ``diagnostics`` section.

These are the audit's return values and the report's schema at once: the audit constructs them
(:mod:`ltrobust.audit.runner`), ``report.json`` is their data (:func:`to_data`), and reading a
report validates its data against them (:mod:`ltrobust.report.validate`). A field that is None
is not written (an audit without the sweep has no ``sweep`` key); a key the dataclass does not
declare is refused. Each section also reads like the JSON object it is written as
(``diagnostics["sweep"]["rows"]``), for code and tests written against the data. Torch-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ltrobust.metrics.fields import (
    ClassIndex,
    Count,
    Difference,
    Flag,
    Fraction,
    Kappa,
    Omit,
    Positive,
    Real,
    Seconds,
    Settings,
    Text,
)
from ltrobust.metrics.stats import STRICT_RECORD


class Section:
    """A report section: validated strictly, written without its unset (None) optional fields
    (``OPTIONAL``), and readable by key like its JSON object."""

    __pydantic_config__ = STRICT_RECORD
    #: fields that are left out of the JSON when None
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def _keys(self) -> Iterator[str]:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.name not in self.OPTIONAL or getattr(self, f.name) is not None:
                yield f.name

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in set(self._keys())

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def keys(self) -> list[str]:
        return list(self._keys())

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self._keys()]

    def __iter__(self) -> Iterator[str]:
        return self._keys()


def to_data(value: Any) -> Any:
    """JSON data of a report value: sections and dataclasses as objects in field order (a
    :class:`Section`'s unset optional fields left out), mappings and lists element-wise."""
    if isinstance(value, Section):
        return {k: to_data(getattr(value, k)) for k in value.keys()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    return value


@dataclass
class Scoped(Section):
    """A share over every sample (``overall``) and per group: most diagnostics' shape."""

    overall: Fraction
    groups: dict[str, Fraction]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Scoped:
        """From :func:`ltrobust.metrics.recall.group_means`' ``{"overall", "groups"}``."""
        return cls(data["overall"], dict(data["groups"]))


@dataclass
class ZeroGradShares(Section):
    """The zero-gradient shares of PGD's steps at one kappa: entries and whole samples."""

    pixel: Scoped
    sample: Scoped


@dataclass
class SweepRow(Section):
    """Accuracy at one kappa: clean, PGD-20 and (at the ends and 0) the scale-invariant
    APGD-DLR, and PGD-20's zero-gradient shares (left out by reports written before them)."""

    OPTIONAL = frozenset({"zero_grad"})

    kappa: Kappa
    clean: Scoped
    pgd20: Scoped
    invariant: Scoped | None
    invariant_attack: Text | None
    zero_grad: ZeroGradShares | None = None


@dataclass(kw_only=True)
class Sweep(Section):
    """The kappa re-scaling sweep (docs/METHODS.md §3): its kappas and a row per kappa."""

    OPTIONAL = frozenset({"kappas"})

    kappas: Omit[list[Kappa]] = None
    rows: list[SweepRow]


@dataclass
class ZeroGrad(Section):
    """Zero-gradient ratios (RoBal §3.3): at the clean input (entries, whole samples) and,
    when the observed attack ran, over its steps."""

    OPTIONAL = frozenset({"pgd_mean", "pgd_sample_level"})

    clean: Scoped
    sample_level: Scoped
    pgd_mean: Omit[Scoped] = None
    pgd_sample_level: Omit[Scoped] = None


@dataclass
class Unbounded(Section):
    """Accuracy under PGD-20 with a budget that holds the whole box, on ``n`` samples."""

    OPTIONAL = frozenset({"n", "eps", "settings"})

    overall: Fraction
    groups: dict[str, Fraction]
    n: Omit[Count] = None
    eps: Omit[Positive] = None
    settings: Omit[Settings] = None


@dataclass
class SurvivorPass(Section):
    """An attack that ran only on the samples still robust: ``attacked`` of them, of which
    ``newly_broken`` it broke, in ``seconds``."""

    settings: Settings
    attacked: Count
    newly_broken: Count
    seconds: Seconds


@dataclass
class EscalationRun(Section):
    """One escalation attack: which, why, its settings and draws, what it attacked and broke."""

    attack: Text
    why: Text
    settings: Settings
    repeats: Count
    attacked: Count
    newly_broken: Count
    seconds: Seconds


@dataclass
class Escalation(Section):
    """The escalations the diagnostics called for (docs/METHODS.md §3.9) and what they broke
    of the samples every attack before them left correct."""

    ran: list[EscalationRun]
    attacked: Count
    newly_broken: Count
    newly_broken_share: Scoped


@dataclass
class AATargets(Section):
    """Which classes AutoAttack's targeted attacks aim at (:mod:`ltrobust.audit.tail_targets`)."""

    k: Count
    applies: Flag
    samples: Count
    tail_target_share: Scoped
    pairs_by_group: dict[str, Fraction]
    tail_classes_targeted: list[ClassIndex]
    tail_classes_never_targeted: list[ClassIndex]


@dataclass
class AATail(Section):
    """Targeted APGD towards the tail classes on the samples every other attack left correct."""

    attack: Settings
    attacked: Count
    newly_broken: Count
    newly_broken_share: Scoped
    seconds: Seconds


@dataclass
class Amp(Section):
    """The float32 re-check of bfloat16 attacks: per pass, predictions that flipped."""

    dtype: Text
    recheck: Text
    flips: dict[str, dict[str, Count]]


@dataclass
class Check(Section):
    """One sanity check of one scope: fired or not, the measured value and the threshold."""

    name: Text
    group: Text
    triggered: Flag
    value: Difference
    threshold: Real | None
    message: Text


@dataclass
class Diagnostics(Section):
    """The report's ``diagnostics``: warnings, then every finding in the order the audit
    makes them; a finding the audit did not make is None (not written)."""

    OPTIONAL = frozenset(
        {
            "randomised",
            "softmax_outputs",
            "worst_only",
            "zero_grad",
            "sweep",
            "unbounded",
            "square_only",
            "escalation",
            "aa_targets",
            "aa_tail",
            "amp",
            "checks",
        }
    )

    warnings: list[Text]
    randomised: Omit[Flag] = None
    softmax_outputs: Omit[Flag] = None
    worst_only: Omit[dict[str, SurvivorPass]] = None
    zero_grad: Omit[ZeroGrad] = None
    sweep: Omit[Sweep] = None
    unbounded: Omit[Unbounded] = None
    square_only: Omit[Scoped] = None
    escalation: Omit[Escalation] = None
    aa_targets: Omit[AATargets] = None
    aa_tail: Omit[AATail] = None
    amp: Omit[Amp] = None
    checks: Omit[list[Check]] = None


def keep_order(value: Any, data: Any) -> Any:
    """``value`` (read from ``data`` by the validation) with every object's keys in the order
    ``data`` has them: typed dicts come out of the validation in their declared order, and a
    report read and written again must keep its bytes."""
    if isinstance(value, dict) and isinstance(data, Mapping):
        return {k: keep_order(value[k], data[k]) for k in data if k in value}
    if isinstance(value, Section | list) or dataclasses.is_dataclass(value):
        if isinstance(value, list):
            if not value or not isinstance(value[0], dict | Section):
                return value
            return [keep_order(v, d) for v, d in zip(value, data, strict=True)]
        for f in dataclasses.fields(value):  # type: ignore[arg-type]
            if isinstance(data, Mapping) and f.name in data:
                setattr(value, f.name, keep_order(getattr(value, f.name), data[f.name]))
    return value
