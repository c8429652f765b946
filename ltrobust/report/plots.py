"""Report plots as PNG bytes, drawn with matplotlib's Agg canvas from the JSON report alone.

Figures are built with :class:`matplotlib.figure.Figure` (not pyplot), so no global backend or
state is touched and nothing needs a display. Each function returns ``None`` when the report
has nothing to draw (no sweep in the diagnostics, no zero-gradient ratios, ...). Names from the
report (classes, groups, attacks) go through :func:`ltrobust.report.text.plot_text`: control
characters visible, no mathtext.
"""

from __future__ import annotations

import io
from typing import Any

from ltrobust.report.findings import Scoped, SweepRow, ZeroGrad
from ltrobust.report.schema import AuditReport, Outcome
from ltrobust.report.text import plot_text

CLEAN, WORST, PGD, INV = "#4C72B0", "#C44E52", "#DD8452", "#55A868"
GROUP_SHADES = ("#f2f2f2", "#ffffff")


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _pct(v: float | None) -> float:
    return float("nan") if v is None else 100 * v


def class_order(report: AuditReport) -> list[int]:
    """Classes by training count, largest first (ties by index)."""
    counts = report.dataset.get("class_counts") or []
    n = len(report.clean.summary.per_class)
    return sorted(range(n), key=lambda c: (-(counts[c] if c < len(counts) else 0), c))


def _errors(o: Outcome, order: list[int]) -> list[list[float]]:
    lo, hi = [], []
    for c in order:
        s = o.summary.per_class[c]
        if s.recall is None or s.ci_low is None or s.ci_high is None:
            lo.append(0.0)
            hi.append(0.0)
        else:
            lo.append(max(0.0, 100 * (s.recall - s.ci_low)))
            hi.append(max(0.0, 100 * (s.ci_high - s.recall)))
    return [lo, hi]


def recall_bars(report: AuditReport) -> bytes:
    """Per-class recall, clean against the worst case, classes by training count, with Wilson
    95% intervals and the head/body/tail bands."""
    order = class_order(report)
    worst = report.worst_case
    bars = [(report.clean, "clean", CLEAN)] + ([(worst, "worst case", WORST)] if worst else [])
    fig = _figure(max(6.0, 0.55 * len(order) + 2), 3.8)
    ax = fig.add_subplot()
    width = 0.8 / len(bars)
    xs = list(range(len(order)))
    for j, (o, label, color) in enumerate(bars):
        pos = [x - 0.4 + width * (j + 0.5) for x in xs]
        vals = [_pct(o.summary.per_class[c].recall) for c in order]
        ax.bar(
            pos,
            vals,
            width,
            label=label,
            color=color,
            yerr=_errors(o, order),
            error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333333"},
        )
    _group_bands(ax, report, order)
    counts = report.dataset.get("class_counts") or []
    names = [plot_text(report.clean.summary.per_class[c].name) for c in order]
    labels = [
        f"{n}\n({counts[c]})" if c < len(counts) else n for n, c in zip(names, order, strict=True)
    ]
    ax.set_xticks(
        xs,
        labels,
        rotation=45 if len(order) > 8 else 0,
        ha="right" if len(order) > 8 else "center",
        fontsize=8,
    )
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.set_ylim(0, 112)
    ax.set_ylabel("recall (%)")
    ax.set_title("Per-class recall, classes by training count (in brackets)", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(fig)


def _group_bands(ax: Any, report: AuditReport, order: list[int]) -> None:
    pos = {c: i for i, c in enumerate(order)}
    for k, (g, classes) in enumerate(report.dataset.get("groups", {}).items()):
        xs = [pos[c] for c in classes if c in pos]
        if not xs:
            continue
        ax.axvspan(min(xs) - 0.5, max(xs) + 0.5, color=GROUP_SHADES[k % 2], zorder=0)
        ax.text(
            (min(xs) + max(xs)) / 2, 106, plot_text(g), ha="center", fontsize=8, color="#555555"
        )


def _share(part: Scoped | None, scope: str) -> float:
    """A finding's share (in %) over every sample or a group; NaN where not measured."""
    if part is None:
        return float("nan")
    return _pct(part.overall if scope == "overall" else part.groups.get(scope))


def _zero_series(row: SweepRow, kind: str, scope: str) -> float:
    zg = row.zero_grad
    return _share(zg.pixel if kind == "pixel" else zg.sample, scope) if zg else float("nan")


def sweep_plot(report: AuditReport) -> bytes | None:
    """Kappa sweep (logits x 10^-kappa): clean, PGD-20 and the scale-invariant attack, per
    scope (overall and each group), with PGD-20's zero-gradient ratios (RoBal Fig. 2)."""
    sweep = report.diagnostics.sweep
    if sweep is None or not sweep.rows:
        return None
    rows = sorted(sweep.rows, key=lambda r: r.kappa)
    scopes = ["overall", *report.dataset.get("groups", {})]
    fig = _figure(3.0 * len(scopes) + 0.5, 3.2)
    axes = fig.subplots(1, len(scopes), sharey=True, squeeze=False)[0]
    ks = [r.kappa for r in rows]
    for ax, scope in zip(axes, scopes, strict=True):
        ax.plot(ks, [_share(r.clean, scope) for r in rows], "-o", ms=3, color=CLEAN, label="clean")
        ax.plot(ks, [_share(r.pgd20, scope) for r in rows], "-o", ms=3, color=PGD, label="PGD-20")
        inv = [(r.kappa, _share(r.invariant, scope)) for r in rows if r.invariant]
        if inv:
            name = next((r.invariant_attack for r in rows if r.invariant), None)
            label = plot_text(name) if name else "invariant"
            ax.plot(*zip(*inv, strict=True), "s--", ms=5, color=INV, label=label)
        if any(r.zero_grad for r in rows):
            for kind, style, label in (
                ("pixel", ":", "zero gradients, pixels"),
                ("sample", "-.", "zero gradients, samples"),
            ):
                values = [_zero_series(r, kind, scope) for r in rows]
                ax.plot(ks, values, style, color="#777777", lw=1.2, label=label)
        ax.set_title(plot_text(scope), fontsize=10)
        ax.set_xlabel(r"$\kappa$ (logits $\times\, 10^{-\kappa}$)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("recall (%)")
    axes[0].set_ylim(-2, 102)
    axes[-1].legend(fontsize=8)
    return _png(fig)


ZG_KINDS = (
    ("clean", "clean input"),
    ("pgd_mean", "PGD-20 (mean over steps)"),
    ("sample_level", "whole sample, clean"),
    ("pgd_sample_level", "whole sample, PGD-20"),
)


def zero_grad_kinds(zg: ZeroGrad) -> list[tuple[str, str]]:
    """(key, label) of every ratio present."""
    return [(k, lab) for k, lab in ZG_KINDS if getattr(zg, k) is not None]


def zero_grad_plot(report: AuditReport) -> bytes | None:
    """Zero-gradient ratios (share of input-gradient entries exactly 0) per group."""
    zg = report.diagnostics.zero_grad
    if zg is None:
        return None
    scopes = ["overall", *report.dataset.get("groups", {})]
    kinds = zero_grad_kinds(zg)
    fig = _figure(max(5.0, 1.3 * len(scopes) + 2), 3.0)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(kinds))
    top = 1.0
    colors = (CLEAN, PGD, "#8172B3", WORST, INV, "#937860")
    for j, (key, label) in enumerate(kinds):
        vals = [_share(getattr(zg, key), s) for s in scopes]
        top = max([top, *[v for v in vals if v == v]])
        ax.bar(
            [i - 0.4 + width * (j + 0.5) for i in range(len(scopes))],
            vals,
            width,
            label=plot_text(label),
            color=colors[j % len(colors)],
        )
    ax.set_xticks(range(len(scopes)), [plot_text(s) for s in scopes])
    ax.set_ylabel("zero-gradient ratio (%)")
    ax.set_ylim(0, min(105.0, 1.3 * top))
    ax.legend(fontsize=8)
    ax.set_title("Zero gradients (gradient masking shows up as high ratios)", fontsize=10)
    return _png(fig)


def landing_plot(report: AuditReport) -> bytes | None:
    """Where misclassified samples of the worst case land: group x group counts, and the
    class-level confusion (row-normalised, counts annotated)."""
    o = report.worst_case or (next(iter(report.attacks.values()), None))
    if o is None:
        return None
    groups = list(report.dataset.get("groups", {}))
    land = [[o.summary.landing.get(g, {}).get(h, 0) for h in groups] for g in groups]
    cm = o.confusion
    fig = _figure(10.5, 4.6)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 1.6])
    label = "worst case" if o.name == "worst" else plot_text(o.name)
    _heat(ax1, land, groups, groups, f"{label}: misclassified, by group", normalise=False)
    order = class_order(report)
    names = [o.summary.per_class[c].name for c in order]
    sub = [[cm[r][c] for c in order] for r in order]
    _heat(
        ax2,
        sub,
        names,
        names,
        f"{label}: confusion (row %, classes by training count)",
        normalise=True,
    )
    return _png(fig)


def _heat(
    ax: Any, m: list[list[int]], rows: list[str], cols: list[str], title: str, normalise: bool
) -> None:
    shown = []
    for r in m:
        tot = sum(r)
        shown.append([100 * v / tot if normalise and tot else float(v) for v in r])
    im = ax.imshow(shown, cmap="Reds", vmin=0, vmax=100 if normalise else None, aspect="auto")
    ax.set_xticks(
        range(len(cols)), [plot_text(c) for c in cols], rotation=45, ha="right", fontsize=8
    )
    ax.set_yticks(range(len(rows)), [plot_text(r) for r in rows], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    if len(rows) <= 20:
        top = max((v for r in shown for v in r), default=0) or 1
        for i, r in enumerate(m):
            for j, v in enumerate(r):
                ax.text(
                    j,
                    i,
                    str(v),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if shown[i][j] > 0.6 * (100 if normalise else top) else "black",
                )
    ax.figure.colorbar(im, ax=ax, shrink=0.8)


def all_plots(report: AuditReport) -> dict[str, bytes]:
    """Every plot the report supports: ``{name: png}`` in display order."""
    out = {"recall": recall_bars(report)}
    for name, fn in (
        ("sweep", sweep_plot),
        ("zero_grad", zero_grad_plot),
        ("landing", landing_plot),
    ):
        png = fn(report)
        if png is not None:
            out[name] = png
    return out
