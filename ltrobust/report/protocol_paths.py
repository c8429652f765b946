"""Metric paths into a report's ``protocols`` section: ``protocol:<name>.<row>.<scope>``.

``<row>`` is a row the protocol publishes (``AA``, ``PGD-20``, ..., case-insensitive),
``clean``, or ``headline`` (its headline robust number; ``strict``'s is the worst case);
``<scope>`` is ``overall``, ``balanced`` or a group. Examples: ``protocol:robal.aa.tail``,
``protocol:at-bsl.headline.overall``. Per-sample outcomes come from the report's per-sample
predictions (an attack's sample is correct if classified correctly after it, as the papers
score), restricted to the protocol's test set. Torch-free.
"""

from __future__ import annotations

from ltrobust.errors import ConfigError
from ltrobust.report.schema import AuditReport
from ltrobust.report.sections import ProtocolSection

PREFIX = "protocol:"


def split(outcome: str) -> tuple[str, str]:
    """``protocol:robal.aa`` -> (``robal``, ``aa``)."""
    name, _, row = outcome[len(PREFIX) :].partition(".")
    return name, row


def section(report: AuditReport, name: str, where: str) -> ProtocolSection:
    protocols = report.protocols or {}
    if name not in protocols:
        have = ", ".join(protocols) or "none (audit with --protocol)"
        raise ConfigError(f"{where}: no protocol {name!r} in this report; it has {have}")
    return protocols[name]


def row_label(sec: ProtocolSection, row: str, where: str) -> str:
    """The row's label as the report writes it (``headline`` resolves to the headline row)."""
    if row.lower() == "headline":
        return str(sec["headline"])
    labels = ["clean", *sec.get("rows", {})]
    hits = [label for label in labels if label.lower() == row.lower()]
    if not hits:
        raise ConfigError(
            f"{where}: unknown row {row!r}; use headline or one of {', '.join(labels)}"
        )
    return hits[0]


def flags(report: AuditReport, outcome: str) -> dict[int, tuple[int, bool]] | None:
    """``{dataset index: (label, correct)}`` of a protocol row on its test set, or None."""
    name, row = split(outcome)
    sec = section(report, name, outcome)
    label = row_label(sec, row, outcome)
    ps = report.per_sample
    index, y = ps.get("index"), ps.get("y")
    if not index or y is None:
        return None
    if label == "worst case":
        ok = [bool(r) for r in ps.get("robust") or []]
    elif label == "clean":
        ok = [p == t for p, t in zip(ps.get("clean_pred") or [], y, strict=False)]
    else:
        attack = sec["rows"][label]["attack"]
        preds = {**(ps.get("adv_pred") or {}), **(ps.get("extra_pred") or {})}.get(attack)
        ok = [p == t for p, t in zip(preds or [], y, strict=False)]
    if len(ok) != len(index):
        return None
    positions = sec.get("positions") or range(len(index))
    return {int(index[i]): (int(y[i]), bool(ok[i])) for i in positions}


def value(
    report: AuditReport, outcome: str, scope: str
) -> tuple[float | None, int | None, int | None, list[int] | None]:
    """(value, correct, n, classes) of a protocol row in ``scope``."""
    name, row = split(outcome)
    sec = section(report, name, outcome)
    label = row_label(sec, row, outcome)
    part = sec["published"] if label in ("worst case",) or label == sec["headline"] else None
    if part is None:
        part = sec["rows"][label]
    groups = report.dataset.get("groups", {})
    classes = None if scope in ("overall", "balanced") else list(groups.get(scope, []))
    v = (
        part.get(scope)
        if scope in ("overall", "balanced")
        else (part.get("groups") or {}).get(scope)
    )
    found = flags(report, outcome)
    if found is None or scope == "balanced":
        return v, None, None, classes
    kept = [ok for label_, ok in found.values() if classes is None or label_ in classes]
    return v, sum(kept), len(kept), classes


def check_scope(report: AuditReport, outcome: str, scope: str, where: str) -> None:
    name, row = split(outcome)
    row_label(section(report, name, where), row, where)
    groups = list(report.dataset.get("groups", {}))
    if scope not in ("overall", "balanced", *groups):
        valid = ", ".join(["overall", "balanced", *groups])
        raise ConfigError(f"{where}: unknown scope {scope!r} for a protocol; use one of {valid}")
