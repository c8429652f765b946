"""The report's other sections as types: the verdict and the protocols (dataclasses the audit
constructs), and the dataset, per-sample, config and provenance objects (typed dicts: written as
the audit builds them, key for key).

``config`` and ``provenance`` are open: they record the audit's options and its environment,
whose keys grow with the audit; their known keys are typed, others may be any JSON data (finite
numbers only). Every other object refuses a key it does not declare. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import ConfigDict, with_config
from typing_extensions import NotRequired, TypedDict

from ltrobust.metrics.fields import (
    ClassIndex,
    Count,
    Difference,
    Flag,
    Fraction,
    Integer,
    NonNegative,
    Omit,
    Positive,
    PositiveInt,
    Real,
    Seconds,
    Settings,
    Text,
    VerdictName,
    expect,
)
from ltrobust.metrics.stats import STRICT_RECORD
from ltrobust.report.findings import Section

#: objects whose unknown keys are kept (and checked as JSON data with finite numbers)
OPEN_RECORD = ConfigDict(extra="allow", allow_inf_nan=False)


@dataclass
class VerdictEntry(Section):
    """The verdict of one scope: its name, the believed robust accuracy (the per-sample worst
    case), each attack's inflation above it, and why (the checks that fired, notes)."""

    verdict: VerdictName
    believed: Fraction
    inflation: dict[str, Difference]
    flags: list[Text]


@dataclass
class Verdict(Section):
    """The verdict overall and per group, with the thresholds it was judged by."""

    overall: VerdictEntry | None
    groups: dict[str, VerdictEntry]
    thresholds: dict[str, Real]


@with_config(STRICT_RECORD)
class Dataset(TypedDict, total=False):
    """The audited data: its classes, training and test counts, groups and input shape."""

    name: Text
    num_classes: PositiveInt
    class_names: list[Text]
    class_counts: list[Count]
    test_counts: list[Count]
    groups_mode: Text
    groups: dict[str, list[ClassIndex]]
    test_imbalanced: Flag
    imbalance_ratio: NonNegative | None
    shape: list[PositiveInt]
    n: Count


@with_config(STRICT_RECORD)
class PerSample(TypedDict, total=False):
    """Per test sample, in audit order: its dataset index, label, clean prediction, the
    prediction under every attack (reported ones in ``adv_pred``, those that only feed the worst
    case in ``extra_pred``), the worst-case flag and AutoAttack's breaking component."""

    index: list[Count]
    y: list[ClassIndex]
    clean_pred: list[ClassIndex]
    adv_pred: dict[str, list[ClassIndex]]
    extra_pred: dict[str, list[ClassIndex]]
    robust: list[Flag]
    aa_broken_by: list[Text]


@with_config(OPEN_RECORD)
class DiagnosticsConfig(TypedDict, total=False):
    """The diagnostics' settings as the audit ran them."""

    kappas: list[Real]
    thresholds: dict[str, Real]


@with_config(OPEN_RECORD)
class Config(TypedDict, total=False):
    """The audit's settings (``ltrobust.audit.config.AuditConfig``); its known keys typed."""

    attacks: list[Text]
    norm: Text
    eps: Positive
    step: Positive | None
    seed: Integer
    batch_size: PositiveInt
    n: Count
    worst_only: list[Text]
    diagnostics: DiagnosticsConfig | None


@with_config(OPEN_RECORD)
class Execution(TypedDict, total=False):
    """How the run went; ``timing``: wall seconds per part of the audit and in total."""

    timing: dict[str, Seconds] | None


@with_config(STRICT_RECORD)
class SourceFile(TypedDict):
    """A file the model or the data was read from, and its sha256."""

    path: Text
    sha256: Text


@with_config(OPEN_RECORD)
class Provenance(TypedDict, total=False):
    """Where the numbers came from: versions, time, command, checkpoint, device, seed, files."""

    versions: dict[str, Text | None]
    created: Text | None
    command: Text | None
    checkpoint: Settings | None
    device: Text | None
    device_name: Text | None
    seed: Integer | None
    execution: Execution | None
    files: list[SourceFile]


@with_config(OPEN_RECORD)
class ProtocolRow(TypedDict):
    """One row of a paper's table: the attack that serves it (None: clean) and its numbers;
    a protocol's extra numbers (MCAT's ``tail_below_N``, RoBal's ``block_recall_sums``) are
    further keys, each recomputed from the per-sample records when the report is read."""

    attack: Text | None
    overall: Fraction
    balanced: Fraction
    groups: dict[str, Fraction]
    per_class: list[Fraction]


@with_config(STRICT_RECORD)
class Scores(TypedDict):
    """Overall, balanced (mean per-class) and per-group accuracy on a protocol's test set."""

    overall: Fraction
    balanced: Fraction
    groups: dict[str, Fraction]


@with_config(STRICT_RECORD)
class Gap(TypedDict):
    """Strict minus the protocol's headline on one scope, with the exact McNemar counts ``b``
    and ``c`` of ``n`` pairs and the 95% interval of b / n (before 0.3: McNemar's ``p``)."""

    gap: Difference
    b: Count
    c: Count
    n: NotRequired[Count]
    interval: NotRequired[list[Fraction] | None]
    p: NotRequired[Fraction]


@dataclass
class Gaps(Section):
    """The gap overall and per group."""

    overall: Gap
    groups: dict[str, Gap]


@dataclass(kw_only=True)
class ProtocolSection(Section):
    """What a paper's protocol would publish on the audited samples, and its gap to strict
    (docs/PROTOCOLS.md); the optional fields are left out by older reports."""

    OPTIONAL = frozenset(
        {"leaves_out", "source", "budget", "positions", "headline_metric", "groups_published"}
    )

    description: Text
    leaves_out: Omit[Text] = None
    source: Omit[Text] = None
    verified: Text
    test_set: Annotated[
        Literal["balanced", "long-tailed"], expect('one of "balanced", "long-tailed"')
    ]
    budget: Omit[Text] = None
    n: Count
    positions: Omit[list[Count]] = None
    rows: dict[str, ProtocolRow]
    headline: Text
    headline_metric: Omit[
        Annotated[Literal["overall", "balanced"], expect('one of "overall", "balanced"')]
    ] = None
    groups_published: Omit[list[Text]] = None
    published: Scores
    strict: Scores
    gap: Gaps
    deviations: list[Text]
