"""The integrity rules of a report, run on its data once the schema has read it: sizes and class
indices against the data's own number of classes and samples, then every number that another
part of the report determines (:mod:`ltrobust.report.validate_rules`,
:mod:`ltrobust.report.validate_protocols`). The first problem is the answer, as one line naming
its JSON path. Plain functions over the report's JSON data; torch-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ltrobust.metrics.fields import brief, is_int
from ltrobust.report.jsonpath import Context, Path, Problem, format_path
from ltrobust.report.validate_protocols import protocols_rule
from ltrobust.report.validate_rules import (
    clean_summary_rule,
    outcome_rule,
    per_sample_rule,
    stat_rule,
    summary_rule,
)

SAMPLES = "one per test sample, clean.summary.n"
CLASSES = "one per class, dataset.num_classes or the length of clean.summary.per_class"
N_IS = "the number of test samples, clean.summary.n"


def _at(data: Any, *keys: str) -> Any:
    """``data[k0][k1]...`` or None where a step is not an object holding the key."""
    for k in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(k)
    return data


def context(data: Mapping[str, Any]) -> Context:
    """What sizes and cross-references are checked against, read from the data: the number
    of classes (``dataset.num_classes``, else the length of ``clean.summary.per_class``) and of
    samples (``clean.summary.n``), clean's per-class sample counts, the groups and class names."""
    per = data["clean"]["summary"]["per_class"]
    declared = _at(data, "dataset", "num_classes")
    c = declared if is_int(declared) else len(per)
    ctx: Context = {"root": data, "C": c, "n": data["clean"]["summary"]["n"]}
    if len(per) == c:
        ctx["class_n"] = [s["n"] for s in per]
    names = _at(data, "dataset", "class_names")
    if isinstance(names, list) and len(names) == c:
        ctx["names"] = names
    groups = _at(data, "dataset", "groups")
    if groups is None:
        groups = {g: st["classes"] for g, st in data["clean"]["summary"]["groups"].items()}
    ctx["groups"] = groups
    return ctx


def outcomes(data: Mapping[str, Any]) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """Every outcome with its path: clean, the attacks in order, the worst case."""
    yield ("clean",), data["clean"]
    for name, o in data["attacks"].items():
        yield ("attacks", name), o
    if data["worst_case"] is not None:
        yield ("worst_case",), data["worst_case"]


def _size(path: Path, values: list[Any], want: int, what: str) -> Iterator[Problem]:
    if len(values) != want:
        yield path, f"must have {want} entries ({what}), got {len(values)}"


def _classes(
    path: Path, values: Iterable[Any], c: int, *, unique: bool = False
) -> Iterator[Problem]:
    """Class indices below ``c`` (and, with ``unique``, none repeated)."""
    seen: set[int] = set()
    for i, v in enumerate(values):
        if v >= c:
            yield (*path, i), f"must be a class index in [0, {c - 1}], got {brief(v)}"
            return
        if unique and v in seen:
            yield (*path, i), f"repeats {brief(v)}: entries must be unique"
            return
        seen.add(v)


def _unique(path: Path, values: list[Any]) -> Iterator[Problem]:
    if len(set(values)) != len(values):
        seen: set[Any] = set()
        for i, v in enumerate(values):
            if v in seen:
                yield (*path, i), f"repeats {brief(v)}: entries must be unique"
                return
            seen.add(v)


def _samples(key: str, n: int) -> str:
    return f"must be {n} ({N_IS}), got {key}"


def _sections(data: Mapping[str, Any], ctx: Context) -> Iterator[Problem]:
    """Config, dataset and per-sample block against the number of classes and samples."""
    c, n = ctx["C"], ctx["n"]
    for part in ("config", "dataset"):
        got = data[part].get("n")
        if got is not None and got != n:
            yield (part, "n"), f"must be {n} ({N_IS}), got {brief(got)}"
    ds = data["dataset"]
    for key in ("class_names", "class_counts", "test_counts"):
        if key in ds:
            yield from _size(("dataset", key), ds[key], c, CLASSES)
    for g, members in (ds.get("groups") or {}).items():
        yield from _classes(("dataset", "groups", g), members, c, unique=True)
    ps = data["per_sample"]
    for key in ("index", "y", "clean_pred", "robust", "aa_broken_by"):
        if key in ps:
            yield from _size(("per_sample", key), ps[key], n, SAMPLES)
    if "index" in ps:
        yield from _unique(("per_sample", "index"), ps["index"])
    for key in ("y", "clean_pred"):
        yield from _classes(("per_sample", key), ps.get(key) or [], c)
    for block in ("adv_pred", "extra_pred"):
        for name, pred in (ps.get(block) or {}).items():
            yield from _size(("per_sample", block, name), pred, n, SAMPLES)
            yield from _classes(("per_sample", block, name), pred, c)
    targets = data["diagnostics"].get("aa_targets") or {}
    for key in ("tail_classes_targeted", "tail_classes_never_targeted"):
        yield from _classes(("diagnostics", "aa_targets", key), targets.get(key) or [], c)
    for name, sec in (data.get("protocols") or {}).items():
        yield from _unique(("protocols", name, "positions"), sec.get("positions") or [])


def _outcome_shape(at: Path, o: Mapping[str, Any], c: int, key: str | None) -> Iterator[Problem]:
    """An outcome's name, per-class list, confusion matrix and groups against ``c`` classes."""
    if key is not None and o["name"] != key:
        yield (*at, "name"), f"must be its key {brief(key)}, got {brief(o['name'])}"
    s = o["summary"]
    yield from _size((*at, "summary", "per_class"), s["per_class"], c, CLASSES)
    if s["worst_class"] is not None and s["worst_class"] >= c:
        bad = brief(s["worst_class"])
        yield (
            (*at, "summary", "worst_class"),
            f"must be a class index in [0, {c - 1}] or null, got {bad}",
        )
    yield from _classes((*at, "summary", "per_class"), [x["cls"] for x in s["per_class"]], c)
    for g, st in s["groups"].items():
        where = (*at, "summary", "groups", g)
        if st["name"] != g:
            yield (*where, "name"), f"must be its key {brief(g)}, got {brief(st['name'])}"
        yield from _classes((*where, "classes"), st["classes"], c, unique=True)
    cm = o["confusion"]
    yield from _size((*at, "confusion"), cm, c, CLASSES)
    for i, row in enumerate(cm):
        yield from _size((*at, "confusion", i), row, c, CLASSES)


def _under(path: Path, problems: Iterable[Problem]) -> Iterator[Problem]:
    for where, message in problems:
        yield (*path, *where), message


def _consistency(data: Mapping[str, Any], ctx: Context) -> Iterator[Problem]:
    """What each part says about another (:mod:`ltrobust.report.validate_rules`)."""
    for at, o in outcomes(data):
        s = o["summary"]
        for i, stat in enumerate(s["per_class"]):
            yield from _under((*at, "summary", "per_class", i), stat_rule(stat, ctx))
        for g, stat in s["groups"].items():
            yield from _under((*at, "summary", "groups", g), stat_rule(stat, ctx))
        rule = clean_summary_rule if at == ("clean",) else summary_rule
        yield from _under((*at, "summary"), rule(s, ctx))
        yield from _under(at, outcome_rule(o, ctx))
    yield from _under(("per_sample",), per_sample_rule(data["per_sample"], ctx))
    yield from protocols_rule(data, ctx)


def _problems(data: Mapping[str, Any]) -> Iterator[Problem]:
    ctx = context(data)
    if data["clean"]["name"] != "clean":
        yield ("clean", "name"), f'must be "clean", got {brief(data["clean"]["name"])}'
    yield from _sections(data, ctx)
    for at, o in outcomes(data):
        yield from _outcome_shape(at, o, ctx["C"], str(at[1]) if at[0] == "attacks" else None)
    yield from _consistency(data, ctx)


def check_rules(data: Mapping[str, Any]) -> str | None:
    """The first integrity problem of report data the schema has read, as ``path message``;
    None when there is none."""
    for path, message in _problems(data):
        return f"{format_path(path)} {message}"
    return None
