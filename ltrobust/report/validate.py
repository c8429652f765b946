"""The one validation of a report.json, run by every reader before anything else touches it.

``AuditReport.from_dict`` (so ``from_json``, ``load``, :func:`ltrobust.report.read_report` and
:func:`ltrobust.report.load`, and through them ``report``, ``compare`` and ``gate``) calls
:func:`validate_report`: types; fractions in [0, 1] and differences of fractions in [-1, 1];
counts that are non-negative integers; per-class lists, confusion matrices and per-sample arrays
of the right lengths; class indices in range; and numbers that agree with each other (see
:mod:`ltrobust.report.validate_rules`; the protocols section is recomputed from the per-sample
records, :mod:`ltrobust.report.validate_protocols`). NaN and infinities are refused wherever
they appear.

The schema is declared below (its diagnostics, verdict and protocols sections in
:mod:`ltrobust.report.validate_sections`) with the nodes of
:mod:`ltrobust.report.validate_nodes`; the first problem raises
:class:`ReportSchemaError`, one line naming the field by its JSON path:
``report.json does not match the report schema: attacks.pgd20.summary.groups.tail.recall must
be a number in [0, 1] or null, got "0.5"``. Integers must fit a double exactly (|n| <= 2**53).
Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ltrobust.errors import LtRobustError
from ltrobust.report.text import visible
from ltrobust.report.validate_nodes import (
    ANY,
    Bool,
    Context,
    Int,
    Invalid,
    ListOf,
    MapOf,
    Num,
    Obj,
    Str,
    brief,
    is_int,
)
from ltrobust.report.validate_protocols import protocols_rule
from ltrobust.report.validate_rules import (
    clean_summary_rule,
    outcome_rule,
    per_sample_rule,
    stat_rule,
    summary_rule,
)
from ltrobust.report.validate_sections import (
    CLASS,
    CLASSES,
    COUNT,
    DIAGNOSTICS,
    DIFFERENCE,
    FRACTION,
    PROTOCOL,
    SAMPLES,
    SECONDS,
    STRINGS,
    VERDICT,
)

#: the version of the report format this ltrobust writes (2: an attack's worst class is chosen
#: among the classes with clean recall above zero)
SCHEMA_VERSION = 2
#: the versions it reads (1: the worst class was chosen among every class)
READ_VERSIONS = (1, 2)


class ReportSchemaError(LtRobustError):
    """A report whose content does not match the schema; ``detail`` names the first bad field,
    ``source`` the file (None for data that came from no file)."""

    def __init__(self, detail: str, source: str | None = None) -> None:
        self.detail, self.source = detail, source
        where = visible(source) if source is not None else "the report"
        super().__init__(f"{where} does not match the report schema: {detail}")

    def with_source(self, source: str) -> ReportSchemaError:
        return ReportSchemaError(self.detail, source)


_STAT = {"n": COUNT, "correct": COUNT, "recall": FRACTION, "ci_low": FRACTION, "ci_high": FRACTION}
CLASS_STAT = Obj({"cls": CLASS, "name": Str(), **_STAT}, rules=(stat_rule,))
GROUP_STAT = Obj(
    {"name": Str(), "classes": ListOf(CLASS, unique=True), **_STAT}, rules=(stat_rule,)
)
SUMMARY = Obj(
    {
        "n": COUNT,
        "correct": COUNT,
        "accuracy": FRACTION,
        "balanced_accuracy": FRACTION,
        "worst_class_recall": FRACTION,
        "worst_class": CLASS.or_null(),
        "per_class": ListOf(CLASS_STAT, size="C", what=CLASSES),
        "groups": MapOf(GROUP_STAT, key_field="name"),
        "landing": MapOf(MapOf(COUNT)),
    },
    rules=(summary_rule,),
)
CLEAN_SUMMARY = Obj(SUMMARY.fields, rules=(clean_summary_rule,))
OUTCOME = Obj(
    {
        "name": Str(),
        "settings": Obj({"over": STRINGS}, optional=True, closed=False),
        "summary": SUMMARY,
        "confusion": ListOf(ListOf(COUNT, size="C", what=CLASSES), size="C", what=CLASSES),
        "boundary_error": MapOf(DIFFERENCE),
        "seconds": SECONDS,
    },
    rules=(outcome_rule,),
)

PROVENANCE = Obj(
    {
        "versions": MapOf(Str().or_null()),
        "created": Str().or_null(),
        "command": Str().or_null(),
        "checkpoint": MapOf(ANY).or_null(),
        "device": Str().or_null(),
        "device_name": Str().or_null(),
        "seed": Int(None).or_null(),
        # how the run went; ``timing``: wall seconds per part of the audit and in total
        "execution": Obj(
            {"timing": MapOf(SECONDS).or_null()}, optional=True, closed=False
        ).or_null(),
        "files": ListOf(Obj({"path": Str(), "sha256": Str()})),
    },
    optional=True,
    closed=False,
)
CONFIG = Obj(
    {
        "attacks": STRINGS,
        "norm": Str(),
        "eps": Num(0, above=True),
        "step": Num(0, above=True).or_null(),
        "seed": Int(None),
        "batch_size": Int(1),
        "n": Int(0, equals="n", what="the number of test samples, clean.summary.n"),
        "worst_only": STRINGS,
        "diagnostics": Obj(
            {"kappas": ListOf(Num()), "thresholds": MapOf(Num())}, optional=True, closed=False
        ).or_null(),
    },
    optional=True,
    closed=False,
)
DATASET = Obj(
    {
        "name": Str(),
        "num_classes": Int(1),
        "class_names": ListOf(Str(), size="C", what=CLASSES),
        "class_counts": ListOf(COUNT, size="C", what=CLASSES),
        "test_counts": ListOf(COUNT, size="C", what=CLASSES),
        "groups_mode": Str(),
        "groups": MapOf(ListOf(CLASS, unique=True)),
        "test_imbalanced": Bool(),
        "imbalance_ratio": Num(0),
        "shape": ListOf(Int(1)),
        "n": Int(0, equals="n", what="the number of test samples, clean.summary.n"),
    },
    optional=True,
    closed=False,
)
PREDICTIONS = ListOf(CLASS, size="n", what=SAMPLES)
PER_SAMPLE = Obj(
    {
        "index": ListOf(Int(0), size="n", what=SAMPLES, unique=True),
        "y": PREDICTIONS,
        "clean_pred": PREDICTIONS,
        "adv_pred": MapOf(PREDICTIONS),
        "extra_pred": MapOf(PREDICTIONS),
        "robust": ListOf(Bool(), size="n", what=SAMPLES),
        "aa_broken_by": ListOf(Str(), size="n", what=SAMPLES),
    },
    optional=True,
    closed=False,
    rules=(per_sample_rule,),
)

#: the whole report, fields in the order ``AuditReport.to_dict`` writes them
REPORT = Obj(
    {
        "provenance": PROVENANCE,
        "config": CONFIG,
        "dataset": DATASET,
        "clean": OUTCOME.with_fields(name=Str("clean"), summary=CLEAN_SUMMARY),
        "attacks": MapOf(OUTCOME, key_field="name"),
        "worst_case": OUTCOME.or_null(),
        "per_sample": PER_SAMPLE,
        "diagnostics": DIAGNOSTICS,
        "verdict": VERDICT.or_null(),
        "schema_version": Int(1),
        "protocols": MapOf(PROTOCOL),
    },
    optional=frozenset({"protocols"}),
    rules=(protocols_rule,),
)


def _at(data: Any, *keys: str) -> Any:
    """``data[k0][k1]...`` or None where a step is not an object holding the key."""
    for k in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(k)
    return data


def _context(data: Mapping[str, Any]) -> Context:
    """What sizes and cross-references the walk checks against, read from the data: the number
    of classes (``dataset.num_classes``, else the length of ``clean.summary.per_class``) and of
    samples (``clean.summary.n``), clean's per-class sample counts, the groups and class names."""
    per = _at(data, "clean", "summary", "per_class")
    declared = _at(data, "dataset", "num_classes")
    c = declared if is_int(declared) and declared >= 1 else None
    if c is None and isinstance(per, list):
        c = len(per)
    n = _at(data, "clean", "summary", "n")
    ctx: Context = {"root": data, "C": c, "n": n if is_int(n) else None}
    if isinstance(per, list) and len(per) == c:
        counts = [_at(s, "n") for s in per]
        ctx["class_n"] = counts if all(is_int(x) for x in counts) else None
    names = _at(data, "dataset", "class_names")
    if isinstance(names, list) and len(names) == c and all(isinstance(x, str) for x in names):
        ctx["names"] = names
    groups = _at(data, "dataset", "groups")
    if not isinstance(groups, Mapping):
        clean_groups = _at(data, "clean", "summary", "groups")
        if isinstance(clean_groups, Mapping):
            groups = {g: _at(st, "classes") for g, st in clean_groups.items()}
    if isinstance(groups, Mapping) and all(isinstance(v, list) for v in groups.values()):
        ctx["groups"] = groups
    return ctx


def validate_report(data: Any, source: str | None = None) -> None:
    """Check a report's JSON data (as ``json.load`` returns it) against the schema.

    Raises :class:`LtRobustError` for an unsupported ``schema_version`` and
    :class:`ReportSchemaError` (a subclass) for the first field that is missing, of the wrong
    type, out of range or inconsistent; ``source`` (a file name) starts the message.
    """
    where = f"{visible(source)}: " if source is not None else ""
    if not isinstance(data, Mapping):
        raise LtRobustError(f"{where}report is not a JSON object")
    version = data.get("schema_version")
    if not is_int(version) or version not in READ_VERSIONS:
        reads = " and ".join(map(str, READ_VERSIONS))
        raise LtRobustError(
            f"{where}unsupported report schema_version {brief(version)}; this ltrobust reads "
            f"{reads}"
        )
    try:
        REPORT.walk(data, (), _context(data))
    except Invalid as exc:
        raise ReportSchemaError(str(exc), source) from None
    except RecursionError:
        raise ReportSchemaError("its data is nested too deeply", source) from None
