"""Replaying the papers' protocols on the audit's samples (docs/PROTOCOLS.md).

:func:`plan_attacks` merges every requested protocol's attacks into the audit's list, running
an attack once however many protocols use it with identical settings. After the audit,
:func:`protocol_sections` scores each protocol's rows as that paper does (an attack's accuracy
is the share of samples classified correctly after it, clean errors included; no worst case
across attacks), on its test set, and puts beside its headline number the ``strict`` one on the
same samples: the gap per group and an exact McNemar test on the paired per-sample outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch

from ltrobust.attacks.base import Attack
from ltrobust.attacks.registry import build_attack
from ltrobust.attacks.threat import ThreatModel
from ltrobust.audit.config import AuditConfig
from ltrobust.audit.protocols import PROTOCOLS, ProtocolSpec, protocol_attacks
from ltrobust.audit.session import DataInfo
from ltrobust.data.profile import lt_counts
from ltrobust.errors import ConfigError
from ltrobust.report.protocol_scores import (
    extra_scores,
    first_of_each_class,
    gap_scores,
    scores,
)
from ltrobust.report.sections import Gaps, ProtocolRow, ProtocolSection, Scores

#: (protocol, row label) -> the attack that runs for it
RowMap = dict[tuple[str, str], str]
#: the presets the papers evaluate on, and their L-inf budget there
PAPER_DATASETS = ("cifar10-lt", "cifar100-lt")
PAPER_EPS = 8 / 255


def _key(settings: Mapping[str, Any]) -> str:
    return repr(sorted((k, v) for k, v in settings.items() if k != "name"))


def budget_note(dataset: str, eps: float) -> str:
    """The budget the papers' protocols run at on ``dataset``, as their rows say it.

    On the datasets the papers evaluated (:data:`PAPER_DATASETS`) a replay runs at the paper's
    budget only: another ``eps`` is refused (ConfigError). Elsewhere no paper has a budget;
    the CIFAR budget and steps keep their ratio to the dataset's ``eps``, and the note says so.
    """
    if dataset in PAPER_DATASETS:
        if not math.isclose(eps, PAPER_EPS, rel_tol=1e-9):
            raise ConfigError(
                f"--protocol: the papers evaluate {dataset} at eps 8/255 (RoBal: 0.031); "
                f"--eps {eps:.6g} would replay them at a budget they never used: drop --eps "
                "or --protocol"
            )
        return f"the paper's: eps 8/255 on {dataset} (RoBal's rows 0.031)"
    return (
        f"scaled: no paper evaluated {dataset}; the papers' CIFAR budget (8/255) and steps "
        f"keep their ratio to eps {eps:.6g}"
    )


def plan_attacks(
    config: AuditConfig,
    threat: ThreatModel,
    step: float,
    dataset: str | None = None,
    build: Callable[[str], Attack] | None = None,
) -> tuple[list[str], RowMap]:
    """The audit's attacks (``config.attacks`` when ``strict`` is asked for) followed by every
    protocol attack not already in the list with identical settings, and which attack serves
    each protocol row. With ``dataset``, a paper protocol at a budget its paper never used on
    that dataset is refused (:func:`budget_note`). ``build`` makes the attack of a name (the
    audit's plan passes one that builds each name once; default: a fresh one per call)."""
    if dataset is not None and [p for p in config.protocols if p != "strict"]:
        budget_note(dataset, threat.eps)
    make = build or (lambda name: build_attack(name, threat, step, seed=config.seed))
    planned = list(config.attacks) if "strict" in config.protocols else []
    seen = {_key(make(a).settings()): a for a in planned}
    rows: RowMap = {}
    for protocol, label, attack in protocol_attacks(config.protocols):
        key = _key(make(attack).settings())
        if key not in seen:
            seen[key] = attack
            planned.append(attack)
        rows[(protocol, label)] = seen[key]
    _refuse_partial_rows(config, rows)
    return planned, rows


def _refuse_partial_rows(config: AuditConfig, rows: RowMap) -> None:
    """A ``--worst-only`` attack skips the samples already broken, which would keep their clean
    prediction and count as robust in a protocol row: refuse the combination."""
    for (protocol, label), attack in rows.items():
        if attack in config.worst_only:
            raise ConfigError(
                f"--worst-only {attack}: protocol {protocol} scores it on every sample (its "
                f"{label} row); drop {attack} from --worst-only or {protocol} from --protocol"
            )


def long_tailed_positions(y: Sequence[int], class_counts: Sequence[int]) -> list[int]:
    """Positions of a long-tailed test set drawn from the audited labels ``y``: the training
    profile's imbalance ratio applied with the largest per-class count as n_max, the first
    samples of each class in audit order (TAET's test set, made deterministic), in order.

    The k-th largest test count goes to the class with the k-th most training images (ties
    by class index), so a reversed or shuffled training profile keeps its head classes the
    head of the test set (TAET's code has class 0 as the head, as CIFAR-10-LT does)."""
    c = len(class_counts)
    present = [0] * c
    for t in y:
        if 0 <= t < c:
            present[t] += 1
    ratio = max(class_counts) / max(1, min(class_counts))
    by_rank = lt_counts(max(present), max(1.0, ratio), c) if c > 1 else [present[0]]
    ranked = sorted(range(c), key=lambda cls: (-class_counts[cls], cls))
    want = [0] * c
    for rank, cls in enumerate(ranked):
        want[cls] = by_rank[rank]
    return first_of_each_class(y, want)


def long_tailed_subset(y: torch.Tensor, class_counts: Sequence[int]) -> torch.Tensor:
    """Positions of a long-tailed test set drawn from the audited samples ``y`` (N): the
    training profile's imbalance ratio applied with the largest per-class count as n_max, the
    first samples of each class in audit order (TAET's test set, made deterministic)."""
    pick = long_tailed_positions(y.cpu().tolist(), class_counts)
    return torch.tensor(pick, dtype=torch.int64)


def _scores(ok: torch.Tensor, y: torch.Tensor, info: DataInfo) -> dict[str, Any]:
    """Overall, balanced (mean per-class) and per-group accuracy of correctness flags."""
    return scores(ok.tolist(), y.tolist(), info.num_classes, info.groups)


def _gap(
    row: torch.Tensor, strict: torch.Tensor, y: torch.Tensor, info: DataInfo
) -> dict[str, Any]:
    """Per scope: strict minus the row's accuracy, and the exact McNemar test on the pairs."""
    return gap_scores(row.tolist(), strict.tolist(), y.tolist(), info.num_classes, info.groups)


def _extra(
    spec: ProtocolSpec, ok: torch.Tensor, y: torch.Tensor, counts: Sequence[int]
) -> dict[str, Any]:
    """Metrics one protocol adds: MCAT's tail, RoBal's block sums (see
    :func:`ltrobust.report.protocol_scores.extra_scores`)."""
    return extra_scores(
        ok.tolist(), y.tolist(), counts, block_sums=spec.block_sums, tail_below=spec.tail_below
    )


def protocol_section(
    name: str,
    rows: RowMap,
    preds: Mapping[str, torch.Tensor],
    clean_pred: torch.Tensor,
    robust: torch.Tensor,
    y: torch.Tensor,
    info: DataInfo,
    counts: Sequence[int],
    eps: float | None = None,
) -> ProtocolSection:
    """What protocol ``name`` would publish on the audited samples, and its gap to strict;
    ``eps`` (the audit's budget) says in ``budget`` whether it is the paper's."""
    entry, _ = PROTOCOLS.lookup(name)
    spec = entry.settings
    pick = long_tailed_subset(y, counts) if spec.test_set == "long-tailed" else torch.arange(len(y))
    ys, strict = y[pick], robust[pick]
    table: dict[str, ProtocolRow] = {"clean": _row(None, _scores(clean_pred[pick] == ys, ys, info))}
    flags = {"clean": clean_pred[pick] == ys}
    for label, _attack in spec.rows:
        attack = rows[(name, label)]
        ok = preds[attack][pick] == ys
        flags[label] = ok
        table[label] = _row(attack, {**_scores(ok, ys, info), **_extra(spec, ok, ys, counts)})
    headline = spec.headline
    head_ok = strict if headline == "worst case" else flags[headline]
    published, gap = _scores(head_ok, ys, info), _gap(head_ok, strict, ys, info)
    return ProtocolSection(
        description=entry.description,
        leaves_out=spec.leaves_out,
        source=spec.source,
        verified=spec.verified,
        test_set=spec.test_set,
        budget=budget_note(info.name, eps) if eps is not None and name != "strict" else None,
        n=len(ys),
        positions=[int(i) for i in pick.tolist()] if len(pick) < len(y) else None,
        rows=table if name != "strict" else {},
        headline=headline,
        headline_metric=spec.headline_metric,
        groups_published=list(spec.groups_published),
        published=_published(published),
        strict=_published(_scores(strict, ys, info)),
        gap=Gaps(overall=gap["overall"], groups=gap["groups"]),
        deviations=list(spec.deviations),
    )


def _row(attack: str | None, numbers: Mapping[str, Any]) -> ProtocolRow:
    """A row of a protocol's table: its attack (None: clean), then its numbers."""
    return cast(ProtocolRow, {"attack": attack, **numbers})


def _published(numbers: Mapping[str, Any]) -> Scores:
    return {
        "overall": numbers["overall"],
        "balanced": numbers["balanced"],
        "groups": numbers["groups"],
    }


def protocol_sections(
    config: AuditConfig,
    rows: RowMap,
    preds: Mapping[str, torch.Tensor],
    clean_pred: torch.Tensor,
    robust: torch.Tensor,
    y: torch.Tensor,
    info: DataInfo,
    counts: Sequence[int],
    eps: float | None = None,
) -> dict[str, ProtocolSection]:
    """Every requested protocol's section, in the order given."""
    y = y.cpu()
    return {
        name: protocol_section(name, rows, preds, clean_pred, robust, y, info, counts, eps)
        for name in config.protocols
    }
