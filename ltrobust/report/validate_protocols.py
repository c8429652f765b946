"""The protocols section's rule: every number it states is recomputed from the per-sample records.

A report's ``protocols`` section (docs/PROTOCOLS.md) is believed only as far as its per-sample
block supports it. Each protocol must be one the audit ran (``config.protocols``, when the
config lists them); its positions lie inside the per-sample lists (checked before anything
indexes with them) and are the first samples of each class in audit order, its ``n`` their
number (every sample for a balanced test set); each row but ``clean`` names an attack whose
predictions ``per_sample.adv_pred`` holds; its headline names one of its rows (``strict``: the
worst case, no rows). Then every row, headline, strict and gap number, McNemar counts and
or (before 0.3) p-value included, must be what :mod:`ltrobust.report.protocol_scores`, the formulas the audit
itself scores with, give on those records, up to the validation's slack. The first difference
is the problem, named by its JSON path. Plain functions over the report's JSON data; the
protocol and attack tables live in layers the report never imports, so this rule reads only
the report. Torch-free.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ltrobust.metrics.fields import brief, is_number
from ltrobust.report.jsonpath import Context, Path, Problem
from ltrobust.report.protocol_scores import extra_scores, first_of_each_class, gap_scores, scores
from ltrobust.report.validate_rules import TOL

STRICT, WORST = "strict", "worst case"
_SCOPES = ("overall", "balanced", "groups")
_TAIL = re.compile(r"tail_below_([1-9][0-9]{0,8})\Z")


@dataclass(frozen=True)
class Records:
    """The per-sample records a protocol is recomputed from, and what scores them."""

    y: list[int]
    clean: list[int]
    preds: Mapping[str, list[int]]
    robust: list[bool]
    num_classes: int
    groups: Mapping[str, list[int]]
    counts: list[int] | None


def _names(keys: Sequence[Any] | Mapping[str, Any]) -> str:
    return ", ".join(map(brief, keys)) or "none"


def _records(root: Mapping[str, Any], ctx: Context) -> Records | str:
    """The records, or why the section cannot be recomputed."""
    ps = root.get("per_sample") or {}
    missing = [f"per_sample.{k}" for k in ("y", "clean_pred", "robust") if ps.get(k) is None]
    if missing or ctx.get("C") is None:
        what = ", ".join(missing) or "the number of classes"
        return f"cannot be recomputed: the report lacks {what}"
    counts = (root.get("dataset") or {}).get("class_counts")
    return Records(
        y=ps["y"],
        clean=ps["clean_pred"],
        preds=ps.get("adv_pred") or {},
        robust=ps["robust"],
        num_classes=ctx["C"],
        groups=ctx.get("groups") or {},
        counts=counts if isinstance(counts, list) and len(counts) == ctx["C"] else None,
    )


def protocols_rule(report: Mapping[str, Any], ctx: Context) -> Iterator[Problem]:
    """Each protocol of ``report["protocols"]`` against the per-sample records."""
    protocols = report.get("protocols")
    if not protocols:
        return
    ran = (report.get("config") or {}).get("protocols")
    for name, sec in protocols.items():
        where: Path = ("protocols", name)
        if isinstance(ran, list) and name not in ran:
            yield where, f"is no protocol the audit ran (config.protocols: {_names(ran)})"
            return
        rec = _records(report, ctx)
        if isinstance(rec, str):
            yield where, rec
            return
        for path, message in _protocol(name, sec, rec):
            yield (*where, *path), message
            return


def _protocol(name: str, sec: Mapping[str, Any], rec: Records) -> Iterator[Problem]:
    """One protocol's section against what the records give."""
    pick, problem = _test_set(sec, rec)
    problem = problem or next(_shape(name, sec, rec), None)
    if problem is not None:
        yield problem
        return
    rows = sec["rows"]
    ys = [rec.y[i] for i in pick]
    strict = [bool(rec.robust[i]) for i in pick]
    flags: dict[str, list[bool]] = {}
    wanted: dict[str, Any] = {}
    for label, row in rows.items():
        pred = rec.clean if label == "clean" else rec.preds[row["attack"]]
        flags[label] = ok = [pred[i] == t for i, t in zip(pick, ys, strict=True)]
        wanted[label] = {"attack": row["attack"], **_scored(ok, ys, rec)}
        if label != "clean":
            extra = _extra(row, ok, ys, rec)
            if isinstance(extra, str):
                yield ("rows", label), extra
                return
            wanted[label].update(extra)
    yield from _differences(rows, wanted, ("rows",))
    head = strict if sec["headline"] == WORST else flags[sec["headline"]]
    for key, ok in (("published", head), (STRICT, strict)):
        scope = {k: v for k, v in _scored(ok, ys, rec).items() if k in _SCOPES}
        yield from _differences(sec[key], scope, (key,))
    legacy = "p" in ((sec.get("gap") or {}).get("overall") or {})  # written before 0.3
    gap = gap_scores(head, strict, ys, rec.num_classes, rec.groups, legacy=legacy)
    yield from _differences(sec["gap"], gap, ("gap",))


def _scored(ok: list[bool], ys: list[int], rec: Records) -> dict[str, Any]:
    return scores(ok, ys, rec.num_classes, rec.groups)


def _extra(row: Mapping[str, Any], ok: list[bool], ys: list[int], rec: Records) -> Any:
    """A row's extra numbers (MCAT's ``tail_below_N``, RoBal's ``block_recall_sums``)
    recomputed, or why they cannot be."""
    settings: dict[str, Any] = {}
    for key in row:
        found = _TAIL.match(key)
        if found and "tail_below" in settings:
            return f"has two tail numbers (tail_below_{settings['tail_below']}, {key}); the audit writes one"
        if found:
            settings["tail_below"] = int(found.group(1))
        elif key == "block_recall_sums":
            settings["block_sums"] = True
    if not settings:
        return {}
    if rec.counts is None:
        return "cannot be recomputed: the report lacks dataset.class_counts"
    return extra_scores(ok, ys, rec.counts, **settings)


def _test_set(sec: Mapping[str, Any], rec: Records) -> tuple[list[int], Problem | None]:
    """The protocol's test set (its positions in the per-sample lists), and the first problem
    of ``positions`` and ``n``."""
    n = len(rec.y)
    positions = sec.get("positions")
    if positions is None:
        pick = list(range(n))
    else:
        for i, p in enumerate(positions):
            if p >= n:
                return [], (("positions", i), f"must be a sample position in [0, {n - 1}], got {p}")
        if sec["test_set"] != "long-tailed":
            return [], (("positions",), "must be absent: a balanced test set is every sample")
        sizes = [0] * rec.num_classes
        for p in positions:
            sizes[rec.y[p]] += 1
        pick = first_of_each_class(rec.y, sizes)
        pairs = enumerate(zip(positions, pick, strict=True))
        at = next((i for i, (a, b) in pairs if a != b), None)
        if at is not None:
            return [], (
                ("positions", at),
                f"is {positions[at]}, but the test set takes the first samples of each class in "
                f"audit order: the records give {pick[at]}",
            )
    if sec["n"] != len(pick):
        return [], (("n",), f"is {sec['n']} but the test set has {len(pick)} samples")
    return pick, None


def _shape(name: str, sec: Mapping[str, Any], rec: Records) -> Iterator[Problem]:
    """Rows and headline: ``strict`` has none and heads with the worst case; another protocol
    has a ``clean`` row (no attack), rows whose attacks have per-sample predictions, and heads
    with one of them."""
    rows, headline = sec["rows"], sec["headline"]
    if name == STRICT:
        for label in rows:
            yield ("rows", label), "is no row of the strict protocol (it has none)"
        if headline != WORST:
            yield ("headline",), f"must be {brief(WORST)} for strict, got {brief(headline)}"
        return
    if "clean" not in rows:
        yield ("rows", "clean"), "is missing"
    elif rows["clean"]["attack"] is not None:
        got = brief(rows["clean"]["attack"])
        yield ("rows", "clean", "attack"), f"must be null (clean runs no attack), got {got}"
    for label, row in rows.items():
        if label != "clean" and row["attack"] not in rec.preds:
            yield (
                ("rows", label, "attack"),
                f"must name an attack whose predictions per_sample.adv_pred holds "
                f"({_names(list(rec.preds))}), got {brief(row['attack'])}",
            )
    if headline == "clean" or headline not in rows:
        have = [label for label in rows if label != "clean"]
        got = brief(headline)
        yield ("headline",), f"must name one of its attack rows ({_names(have)}), got {got}"


def _show(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else brief(v)


def _same(got: Any, want: Any) -> bool:
    if is_number(want):
        return is_number(got) and abs(got - want) <= TOL
    return bool(got == want and type(got) is type(want))


def _differences(got: Any, want: Any, path: Path) -> Iterator[Problem]:
    """The first place where ``got`` (the report) differs from ``want`` (recomputed). Every
    field of ``got`` must be one ``want`` has; a group ``got`` leaves out is no claim."""
    if isinstance(want, Mapping):
        if not isinstance(got, Mapping):
            yield path, f"must be an object, got {brief(got)}"
            return
        for k in got:
            if k not in want:
                yield (*path, k), f"is not a field the audit writes here ({_names(want)})"
                return
        for k, v in want.items():
            if k in got:
                yield from _differences(got[k], v, (*path, k))
            elif path[-1] != "groups":
                yield (*path, k), "is missing"
                return
    elif isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            size = f"{len(got)} entries" if isinstance(got, list) else brief(got)
            yield path, f"must have {len(want)} entries, got {size}"
            return
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            yield from _differences(g, w, (*path, i))
    elif not _same(got, want):
        yield path, f"is {brief(got)} but the per-sample records give {_show(want)}"
