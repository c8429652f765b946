"""Consistency rules of a report: what one part of report.json says about another.

A recall is its ``correct / n`` (null when ``n`` is 0), inside its Wilson bounds; a summary's
totals, accuracy, balanced accuracy, worst class, groups and landing follow from its per-class
counts and its confusion matrix; every outcome counts the same test samples per class; the
per-sample block gives the confusion matrices, and its ``robust`` flags the worst case. Each rule
runs once the object's fields have their types (see :mod:`ltrobust.report.validate_nodes`) and
yields the problems it finds as (path below the object, sentence); the walk stops at the first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ltrobust.metrics.fields import brief
from ltrobust.report.jsonpath import Context, Path, Problem, format_path

TOL = 1e-9  # slack for recomputed fractions (the audit divides the same integers)


def _names(keys: Iterable[Any]) -> str:
    return ", ".join(brief(k) for k in keys) or "none"


def _short(values: list[Any], keep: int = 12) -> str:
    return "[" + ", ".join(map(str, values[:keep])) + (", ...]" if len(values) > keep else "]")


def _ratio(d: Mapping[str, Any], key: str, k: int, n: int, what: str) -> Iterator[Problem]:
    """``d[key]`` is ``k / n``, or null when ``n`` is 0."""
    v = d[key]
    if n == 0:
        if v is not None:
            yield (key,), f"must be null: no samples (n is 0), got {brief(v)}"
    elif v is None:
        yield (key,), f"must be a number: n is {n}, got null"
    elif abs(v - k / n) > TOL:
        yield (key,), f"must be {what} = {k}/{n} = {k / n:.6g}, got {brief(v)}"


def stat_rule(d: Mapping[str, Any], ctx: Context) -> Iterator[Problem]:
    """A class's or a group's ``correct`` of ``n``: recall and its Wilson interval."""
    n, k = d["n"], d["correct"]
    if k > n:
        yield ("correct",), f"must be <= n ({n}), got {k}"
        return
    yield from _ratio(d, "recall", k, n, "correct / n")
    for key in ("ci_low", "ci_high"):
        if (d[key] is None) != (n == 0):
            state = "null: no samples (n is 0)" if n == 0 else f"a number: n is {n}"
            yield (key,), f"must be {state}, got {brief(d[key])}"
    r = d["recall"]
    if n and d["ci_low"] > r + TOL:
        yield ("ci_low",), f"must be <= recall ({r:.6g}), got {brief(d['ci_low'])}"
    if n and d["ci_high"] < r - TOL:
        yield ("ci_high",), f"must be >= recall ({r:.6g}), got {brief(d['ci_high'])}"


def clean_summary_rule(s: Mapping[str, Any], ctx: Context) -> Iterator[Problem]:
    """The clean summary: :func:`summary_rule` with the worst class among every class."""
    yield from _summary(s, ctx, None)


def summary_rule(s: Mapping[str, Any], ctx: Context) -> Iterator[Problem]:
    """Totals, accuracy, balanced accuracy, worst class and groups from ``per_class``. From
    schema version 2 on, an attack's (or the worst case's) worst class is chosen among the
    classes with clean recall above zero; version 1 reports chose among every class."""
    yield from _summary(s, ctx, recognised_clean(ctx))


def recognised_clean(ctx: Context) -> list[bool] | None:
    """Per class: clean recall above zero (read from the clean outcome, which the walk checks
    before the attacks); None for a version 1 report, whose worst class is over every class."""
    root = ctx["root"]
    if root.get("schema_version") == 1:
        return None
    per = root["clean"]["summary"]["per_class"]
    return [c["recall"] is not None and c["recall"] > 0 for c in per]


def _summary(s: Mapping[str, Any], ctx: Context, eligible: list[bool] | None) -> Iterator[Problem]:
    per = s["per_class"]
    names, class_n = ctx.get("names"), ctx.get("class_n")
    for i, c in enumerate(per):
        if c["cls"] != i:
            yield ("per_class", i, "cls"), f"must be {i}, its place in per_class, got {c['cls']}"
        if names is not None and c["name"] != names[i]:
            want = f"dataset.class_names[{i}] ({brief(names[i])})"
            yield ("per_class", i, "name"), f"must be {want}, got {brief(c['name'])}"
        if class_n is not None and c["n"] != class_n[i]:
            yield (
                ("per_class", i, "n"),
                f"must be {class_n[i]} like clean.summary.per_class[{i}].n (every outcome counts "
                f"the same test samples), got {c['n']}",
            )
    n, k = sum(c["n"] for c in per), sum(c["correct"] for c in per)
    if s["n"] != n:
        yield ("n",), f"must be {n}, the sum of per_class n, got {s['n']}"
    if s["correct"] != k:
        yield ("correct",), f"must be {k}, the sum of per_class correct, got {s['correct']}"
    yield from _ratio(s, "accuracy", k, n, "correct / n")
    present = [c for c in per if c["n"]]
    bal = s["balanced_accuracy"]
    if not present and bal is not None:
        yield ("balanced_accuracy",), f"must be null: no class has samples, got {brief(bal)}"
    elif present:
        mean = sum(c["recall"] for c in present) / len(present)
        if bal is None or abs(bal - mean) > TOL:
            yield (
                ("balanced_accuracy",),
                f"must be {mean:.6g}, the mean recall of the {len(present)} classes with "
                f"samples, got {brief(bal)}",
            )
    yield from _worst_class(s, present, eligible)
    yield from _groups(s, ctx)


def _worst_class(
    s: Mapping[str, Any], present: list[Mapping[str, Any]], eligible: list[bool] | None
) -> Iterator[Problem]:
    """The lowest recall among the classes with samples (and, with ``eligible``, flagged)."""
    wc, wr = s["worst_class"], s["worst_class_recall"]
    among = "" if eligible is None else " among the classes with clean recall above zero"
    candidates = [c for c in present if eligible is None or eligible[c["cls"]]]
    if not candidates:
        why = "no class has samples" if not present else "no class has clean recall above zero"
        for key in ("worst_class", "worst_class_recall"):
            if s[key] is not None:
                yield (key,), f"must be null: {why}, got {brief(s[key])}"
        return
    low = min(candidates, key=lambda c: (c["recall"], c["cls"]))
    if wc != low["cls"]:
        yield (
            ("worst_class",),
            f"must be {low['cls']}, the class with the lowest recall ({low['recall']:.6g})"
            f"{among}, got {brief(wc)}",
        )
    elif wr is None or abs(wr - low["recall"]) > TOL:
        yield (
            ("worst_class_recall",),
            f"must be per_class[{wc}].recall ({low['recall']:.6g}), got {brief(wr)}",
        )


def _groups(s: Mapping[str, Any], ctx: Context) -> Iterator[Problem]:
    per, groups, want = s["per_class"], s["groups"], ctx.get("groups")
    if want is not None and set(groups) != set(want):
        yield ("groups",), f"must have the groups {_names(want)}, got {_names(groups)}"
        return
    for g, st in groups.items():
        if want is not None and list(st["classes"]) != list(want[g]):
            where = format_path(("dataset", "groups", g))
            yield (
                ("groups", g, "classes"),
                f"must be {_short(list(want[g]))} like {where}, got {_short(list(st['classes']))}",
            )
        for key in ("n", "correct"):
            total = sum(per[c][key] for c in st["classes"])
            if st[key] != total:
                yield (
                    ("groups", g, key),
                    f"must be {total}, the sum over its classes, got {st[key]}",
                )


def outcome_rule(o: Mapping[str, Any], ctx: Context) -> Iterator[Problem]:
    """The summary's per-class counts and landing follow from the confusion matrix."""
    cm, s = o["confusion"], o["summary"]
    per = s["per_class"]
    for c, row in enumerate(cm):
        if sum(row) != per[c]["n"]:
            yield (
                ("confusion", c),
                f"must sum to summary.per_class[{c}].n = {per[c]['n']}, got {sum(row)}",
            )
        if row[c] != per[c]["correct"]:
            want = f"summary.per_class[{c}].correct = {per[c]['correct']}"
            yield ("confusion", c, c), f"must be {want}, got {row[c]}"
    groups = {g: list(st["classes"]) for g, st in s["groups"].items()}
    land = s["landing"]
    if set(land) != set(groups) or any(set(land[g]) != set(groups) for g in land):
        bad = next((g for g in land if set(land[g]) != set(groups)), None)
        where: Path = ("summary", "landing")
        if set(land) == set(groups) and bad is not None:
            where = (*where, bad)
        yield where, f"must have one entry per group ({_names(groups)})"
        return
    for g, tc in groups.items():
        for h, pc in groups.items():
            want = sum(cm[t][p] for t in tc for p in pc if t != p)
            if land[g][h] != want:
                yield (
                    ("summary", "landing", g, h),
                    f"must be {want}, the samples of {brief(g)} misclassified into {brief(h)} "
                    f"by the confusion matrix, got {land[g][h]}",
                )


def _confusion(y: list[int], pred: list[int], c: int) -> list[list[int]]:
    cm = [[0] * c for _ in range(c)]
    for t, p in zip(y, pred, strict=True):
        cm[t][p] += 1
    return cm


def per_sample_rule(ps: Mapping[str, Any], ctx: Context) -> Iterator[Problem]:
    """Labels, predictions and robust flags agree with the outcomes' confusion matrices."""
    root, c = ctx["root"], ctx["C"]
    attacks, adv = root["attacks"], ps.get("adv_pred") or {}
    for name in adv:
        if name not in attacks:
            yield ("adv_pred", name), f"is no attack of this report (attacks: {_names(attacks)})"
    y = ps.get("y")
    if y is None or c is None:
        return
    outcomes: list[tuple[Path, Any, tuple[str, ...]]] = [
        (("clean_pred",), ps.get("clean_pred"), ("clean",))
    ]
    outcomes += [(("adv_pred", k), p, ("attacks", k)) for k, p in adv.items()]
    for where, pred, at in outcomes:
        if pred is None:
            continue
        got, want = _confusion(y, pred, c), _get(root, at)["confusion"]
        if got != want:
            t, p = next((t, p) for t in range(c) for p in range(c) if got[t][p] != want[t][p])
            yield (
                where,
                f"does not match {format_path((*at, 'confusion'))}: {got[t][p]} samples of class "
                f"{t} predicted as {p}, the matrix says {want[t][p]}",
            )
    yield from _robust(ps, y, c, root)


def _get(root: Mapping[str, Any], at: tuple[str, ...]) -> Mapping[str, Any]:
    out: Any = root
    for key in at:
        out = out[key]
    return out


def _robust(
    ps: Mapping[str, Any], y: list[int], c: int, root: Mapping[str, Any]
) -> Iterator[Problem]:
    """``robust``: correct clean and under every attack of ``adv_pred`` and ``extra_pred``; its
    count per class is the worst case's ``correct``."""
    robust, clean = ps.get("robust"), ps.get("clean_pred")
    if robust is None:
        return
    if clean is not None:
        preds = [*(ps.get("adv_pred") or {}).values(), *(ps.get("extra_pred") or {}).values()]
        for i, t in enumerate(y):
            want = clean[i] == t and all(p[i] == t for p in preds)
            if robust[i] != want:
                yield (
                    ("robust", i),
                    f"must be {json.dumps(want)} (correct clean and under every attack of "
                    f"adv_pred and extra_pred), got {json.dumps(robust[i])}",
                )
    worst = root["worst_case"]
    if worst is None:
        return
    counts = [0] * c
    for t, r in zip(y, robust, strict=True):
        counts[t] += r
    for k, st in enumerate(worst["summary"]["per_class"]):
        if counts[k] != st["correct"]:
            yield (
                ("robust",),
                f"flags {counts[k]} samples of class {k} robust, "
                f"worst_case.summary.per_class[{k}].correct is {st['correct']}",
            )
