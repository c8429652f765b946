"""Metric paths (``<outcome>.<scope>``) and the numbers they point at in a report.

``outcome`` is ``clean``, an attack name as run (``pgd20``, ``aa``, ...) or ``worst`` (the
per-sample worst case; ``worst_case`` is accepted too). ``scope`` is ``overall``, a group name
(``head``/``body``/``tail`` or ``many``/``medium``/``few``), ``balanced`` (mean per-class
recall), ``worst_class`` (the lowest class recall; under attack, among the classes with clean
recall above zero: none when no class is recognised clean) or ``class:<index or name>``.
Examples: ``worst.tail``, ``aa.overall``, ``pgd20.class:Coat``, ``clean.class:3``. A paper
protocol's numbers (``--protocol``): ``protocol:<name>.<row>.<scope>``, e.g.
``protocol:robal.aa.tail`` (:mod:`ltrobust.report.protocol_paths`).

Torch-free: gating and comparing read JSON only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ltrobust.errors import ConfigError
from ltrobust.report import protocol_paths
from ltrobust.report.schema import AuditReport, Outcome

FIXED_SCOPES = ("overall", "balanced", "worst_class")
OUTCOME_ALIASES = {"worst_case": "worst", "worst-case": "worst"}


@dataclass(frozen=True)
class MetricPath:
    """A parsed metric path; ``cls`` is set for ``class:`` scopes once resolved."""

    text: str
    outcome: str
    scope: str
    class_ref: str | None = None
    cls: int | None = None


@dataclass
class MetricValue:
    """A metric's value with what the statistics need.

    ``correct``/``n`` are set when the value is a proportion of samples (everything except
    ``balanced`` on a long-tailed test set, a mean of recalls); ``classes`` are the labels of the samples it counts (``None``: all samples).
    """

    value: float | None
    correct: int | None
    n: int | None
    classes: list[int] | None


def parse_metric_path(text: str) -> MetricPath:
    """Syntax only: ``outcome.scope``; raises :class:`ConfigError` with an example."""
    raw = text.strip()
    if raw.lower().startswith(protocol_paths.PREFIX):
        head, dot, scope = raw.rpartition(".")
        if not dot or head.count(".") != 1 or not scope:
            raise ConfigError(
                f"metric path {text!r} must be protocol:<name>.<row>.<scope>, e.g. "
                "protocol:robal.aa.tail or protocol:at-bsl.headline.overall"
            )
        return MetricPath(raw, protocol_paths.PREFIX + head[len(protocol_paths.PREFIX) :], scope)
    outcome, dot, scope = raw.partition(".")
    if not dot or not outcome or not scope:
        raise ConfigError(
            f"metric path {text!r} must be <outcome>.<scope>, e.g. worst.tail, aa.overall, "
            "pgd20.class:3"
        )
    outcome = OUTCOME_ALIASES.get(outcome.lower(), outcome)
    if scope.lower().startswith("class:"):
        ref = scope[len("class:") :].strip()
        if not ref:
            raise ConfigError(f"metric path {text!r}: class: needs an index or a class name")
        return MetricPath(raw, outcome, "class", class_ref=ref)
    return MetricPath(raw, outcome, scope)


def outcome_names(report: AuditReport) -> list[str]:
    return [o.name for o in report.outcomes()]


def get_outcome(report: AuditReport, name: str) -> Outcome:
    """The outcome called ``name`` (clean, an attack, worst); ConfigError lists valid names."""
    for o in report.outcomes():
        if o.name == name:
            return o
    raise ConfigError(
        f"unknown outcome {name!r}; this report has {', '.join(outcome_names(report))}"
    )


def resolve_class(report: AuditReport, ref: str, where: str) -> int:
    """A class index from ``3`` or a class name (case-insensitive)."""
    names = list(
        report.dataset.get("class_names") or [s.name for s in report.clean.summary.per_class]
    )
    if ref.isdigit():
        idx = int(ref)
        if idx < len(names):
            return idx
        raise ConfigError(f"{where}: class index {idx} out of range (0..{len(names) - 1})")
    hits = [i for i, n in enumerate(names) if n.lower() == ref.lower()]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise ConfigError(f"{where}: class name {ref!r} is ambiguous; use its index")
    raise ConfigError(f"{where}: unknown class {ref!r}; classes are {', '.join(names)}")


def resolve(report: AuditReport, path: MetricPath | str) -> MetricPath:
    """Check ``path`` against ``report``: the outcome, group or class must exist."""
    p = parse_metric_path(path) if isinstance(path, str) else path
    where = f"metric path {p.text!r}"
    if p.outcome.startswith(protocol_paths.PREFIX):
        protocol_paths.check_scope(report, p.outcome, p.scope, where)
        return p
    if p.outcome not in outcome_names(report):
        raise ConfigError(
            f"{where}: unknown outcome {p.outcome!r}; this report has "
            f"{', '.join(outcome_names(report))}"
        )
    if p.scope == "class":
        return MetricPath(
            p.text, p.outcome, "class", p.class_ref, resolve_class(report, p.class_ref or "", where)
        )
    groups = list(report.dataset.get("groups", {}))
    if p.scope not in FIXED_SCOPES and p.scope not in groups:
        valid = [*FIXED_SCOPES, *groups, "class:<index or name>"]
        raise ConfigError(f"{where}: unknown scope {p.scope!r}; use one of {', '.join(valid)}")
    return p


def metric_value(report: AuditReport, path: MetricPath | str) -> MetricValue:
    """The value of a (resolved or textual) metric path in ``report``."""
    p = resolve(report, path)
    if p.outcome.startswith(protocol_paths.PREFIX):
        return MetricValue(*protocol_paths.value(report, p.outcome, p.scope))
    s = get_outcome(report, p.outcome).summary
    if p.scope == "overall":
        return MetricValue(s.accuracy, s.correct, s.n, None)
    if p.scope == "balanced":
        if len({c.n for c in s.per_class}) == 1:  # balanced test set: equals the pooled accuracy
            return MetricValue(s.balanced_accuracy, s.correct, s.n, None)
        return MetricValue(s.balanced_accuracy, None, None, None)
    if p.scope == "worst_class" or p.scope == "class":
        cls = s.worst_class if p.scope == "worst_class" else p.cls
        if cls is None:
            return MetricValue(None, None, None, None)
        c = s.per_class[cls]
        return MetricValue(c.recall, c.correct, c.n, [cls])
    g = s.groups[p.scope]
    return MetricValue(g.recall, g.correct, g.n, list(g.classes))


def sample_flags(report: AuditReport, outcome: str) -> dict[int, tuple[int, bool]] | None:
    """Per-sample ``{dataset index: (label, correct)}`` for an outcome, or None if not stored.

    clean: clean prediction correct; an attack: its adversarial prediction correct; worst:
    the ``robust`` flag (correct clean and under every attack).
    """
    if outcome.startswith(protocol_paths.PREFIX):
        return protocol_paths.flags(report, outcome)
    ps = report.per_sample
    index, y = ps.get("index"), ps.get("y")
    if not index or y is None or len(index) != len(y):
        return None
    if outcome == "clean":
        preds = ps.get("clean_pred")
        ok = [p == t for p, t in zip(preds, y, strict=True)] if preds is not None else None
    elif outcome == "worst":
        ok = [bool(r) for r in ps["robust"]] if ps.get("robust") is not None else None
    else:
        preds = (ps.get("adv_pred") or {}).get(outcome)
        ok = [p == t for p, t in zip(preds, y, strict=True)] if preds is not None else None
    if ok is None or len(ok) != len(index):
        return None
    return {int(i): (int(t), bool(k)) for i, t, k in zip(index, y, ok, strict=True)}
