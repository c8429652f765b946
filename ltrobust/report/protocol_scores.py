"""How a protocol row's numbers follow from per-sample outcomes (docs/PROTOCOLS.md), torch-free.

One set of formulas for both ends: the audit (:mod:`ltrobust.audit.protocol_run`) scores each
protocol with them, and every reader recomputes a report's ``protocols`` section with them
(:mod:`ltrobust.report.validate_protocols`). How many samples of each class a long-tailed test
set keeps follows the training profile
(:func:`ltrobust.audit.protocol_run.long_tailed_positions`); which ones is
:func:`first_of_each_class`. Inputs are plain lists: ``ok`` a correctness flag
per sample, ``y`` its label (a class index below ``num_classes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ltrobust.report.significance import clopper_pearson, mcnemar_exact


def first_of_each_class(y: Sequence[int], sizes: Sequence[int]) -> list[int]:
    """Positions, in order, of the first ``sizes[c]`` samples of each class ``c`` in audit order
    (all of a class's samples when it has fewer): how a long-tailed test set is drawn from the
    audited samples (TAET's, made deterministic)."""
    left = list(sizes)
    out = []
    for i, t in enumerate(y):
        if 0 <= t < len(left) and left[t] > 0:
            left[t] -= 1
            out.append(i)
    return out


def _tally(ok: Sequence[bool], y: Sequence[int], num_classes: int) -> tuple[list[int], list[int]]:
    """Per class: the samples, and those flagged correct (labels outside the classes skipped)."""
    n, k = [0] * num_classes, [0] * num_classes
    for t, o in zip(y, ok, strict=True):
        if 0 <= t < num_classes:
            n[t] += 1
            k[t] += bool(o)
    return n, k


def _share(k: int, n: int) -> float | None:
    return k / n if n else None


def scores(
    ok: Sequence[bool], y: Sequence[int], num_classes: int, groups: Mapping[str, Sequence[int]]
) -> dict[str, Any]:
    """Overall, balanced (mean per-class), per-group and per-class accuracy of the flags ``ok``;
    None where a scope has no samples."""
    n, k = _tally(ok, y, num_classes)
    per_class = [_share(k[c], n[c]) for c in range(num_classes)]
    present = [v for v in per_class if v is not None]
    out_groups = {}
    for g, classes in groups.items():
        members = {c for c in classes if 0 <= c < num_classes}
        out_groups[g] = _share(sum(k[c] for c in members), sum(n[c] for c in members))
    return {
        "overall": _share(sum(map(bool, ok)), len(ok)),
        "balanced": sum(present) / len(present) if present else None,
        "groups": out_groups,
        "per_class": per_class,
    }


def gap_scores(
    row: Sequence[bool],
    strict: Sequence[bool],
    y: Sequence[int],
    num_classes: int,
    groups: Mapping[str, Sequence[int]],
    *,
    legacy: bool = False,
) -> dict[str, Any]:
    """Per scope: strict minus the row's accuracy (``gap``), the samples the row credits as
    robust that strict breaks (``b``, of ``n``) with the exact 95% binomial interval of that
    share (``interval``), and the reverse count (``c``).

    Strict is the per-sample worst case over every attack, the row's own included, so ``c`` is
    0 by construction and ``gap = -b / n``: the interval is the gap's. A paired test of the two
    sides (McNemar's) would only relabel ``b`` (``p = 2^(1 - b)``), so none is reported;
    ``legacy`` gives the former ``{gap, b, c, p}`` of reports written before (0.2.0), which are
    still read and checked."""
    cells = [[0] * 5 for _ in range(num_classes + 1)]  # n, row, strict, b, c; last: all
    for t, r, s in zip(y, row, strict, strict=True):
        r, s = bool(r), bool(s)
        for cell in (cells[t], cells[-1]) if 0 <= t < num_classes else (cells[-1],):
            cell[0] += 1
            cell[1] += r
            cell[2] += s
            cell[3] += r and not s
            cell[4] += s and not r

    def one(members: list[int]) -> dict[str, Any]:
        n, r, s, b, c = (sum(cells[m][j] for m in members) for j in range(5))
        if legacy:
            p = mcnemar_exact(b, c) if n else None
            return {"gap": s / n - r / n if n else None, "b": b, "c": c, "p": p}
        lo, hi = clopper_pearson(b, n)
        interval = None if lo is None or hi is None else [lo, hi]
        gap = s / n - r / n if n else None
        return {"gap": gap, "b": b, "c": c, "n": n, "interval": interval}

    out_groups = {
        g: one(sorted({c for c in classes if 0 <= c < num_classes}))
        for g, classes in groups.items()
    }
    return {"overall": one([num_classes]), "groups": out_groups}


def extra_scores(
    ok: Sequence[bool],
    y: Sequence[int],
    counts: Sequence[int],
    *,
    block_sums: bool = False,
    tail_below: int | None = None,
) -> dict[str, Any]:
    """Metrics one protocol adds (``counts``: the training counts per class): MCAT's tail
    (classes with fewer training images than ``tail_below``), RoBal's sums of per-class recall
    over 10 blocks of classes when C >= 100."""
    out: dict[str, Any] = {}
    c = len(counts)
    n, k = _tally(ok, y, c)
    if block_sums and c >= 100 and c % 10 == 0:
        recall = [k[i] / n[i] if n[i] else 0.0 for i in range(c)]
        size = c // 10
        out["block_recall_sums"] = [sum(recall[i : i + size]) for i in range(0, c, size)]
    if tail_below is not None:
        tail = [i for i, m in enumerate(counts) if m < tail_below]
        out[f"tail_below_{tail_below}"] = _share(sum(k[i] for i in tail), sum(n[i] for i in tail))
    return out
