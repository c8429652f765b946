"""Every paper protocol on every bundled Fashion-MNIST-LT checkpoint, as trained and with its
logits multiplied by 1000 (docs/PROTOCOLS.md, "Evidence"). Writes one report per model to
``--out`` and prints the Markdown tables of docs/PROTOCOLS.md §13. A report already in ``--out``
is read back, not re-run; every table is recomputed from its per-sample records with the current
protocol table (headlines) and the current gap (b of n credited, exact 95% interval).

    .venv/bin/python benchmarks/protocols_evidence.py --n 100 --out benchmarks/results/protocols
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import ltrobust
from ltrobust.audit.diagnostics import LogitScale
from ltrobust.audit.protocols import PROTOCOLS as PROTOCOL_TABLE
from ltrobust.models import load_model
from ltrobust.report import AuditReport
from ltrobust.report.document_protocols import (
    gap_text,
    group_text,
    headline_label,
    headline_metric,
)
from ltrobust.report.protocol_scores import gap_scores, scores
from ltrobust.report.significance import mcnemar_exact

PROTOCOLS = ["robal", "at-bsl", "reat", "robustlt", "mcat", "taet", "robustbench", "strict"]
CHECKPOINTS = sorted(Path("checkpoints").glob("small_cnn-*-fmnist-lt.pt"))
#: a protocol's test set: each sample's label, each row's correctness flags, strict's flags
Records = tuple[list[int], dict[str, list[bool]], list[bool]]


def run(path: Path, scale: float, n: int, out: Path) -> dict:
    name = f"{path.stem.removeprefix('small_cnn-')}-x{scale:g}"
    saved = out / f"{name}.json"
    if saved.is_file():  # a finished model is read back, so an interrupted run can continue
        timed = out / "seconds.json"
        known = json.loads(timed.read_text()) if timed.is_file() else []
        seconds = next((r["seconds"] for r in known if r["model"] == name), None)
        return {"name": name, "seconds": seconds, "report": AuditReport.load(str(saved))}
    loaded = load_model(str(path))
    model = loaded.model if scale == 1 else LogitScale(loaded.model, scale).eval()
    t0 = time.perf_counter()
    report = ltrobust.audit(
        model,
        "fashion-mnist-lt",
        protocols=PROTOCOLS,
        class_counts=loaded.class_counts,
        n=n,
        sweep=False,
        device="cpu",
        command=f"benchmarks/protocols_evidence.py {path.name} x{scale:g} --n {n}",
    )
    report.save(str(saved))
    return {"name": name, "seconds": time.perf_counter() - t0, "report": report}


def _records(report: AuditReport, sec: dict[str, Any]) -> Records:
    """A protocol's test set from the per-sample records (as ltrobust.report.validate_protocols
    reads it): each sample's label, each row's correctness flags (``clean``: the clean
    prediction) and strict's."""
    ps = report.per_sample
    pick = sec["positions"] if "positions" in sec else range(len(ps["y"]))
    ys = [ps["y"][i] for i in pick]
    flags = {}
    for label, row in sec["rows"].items():
        pred = ps["clean_pred"] if label == "clean" else ps["adv_pred"][row["attack"]]
        flags[label] = [pred[i] == t for i, t in zip(pick, ys, strict=True)]
    return ys, flags, [bool(ps["robust"][i]) for i in pick]


def current(report: AuditReport) -> dict[str, dict[str, Any]]:
    """Each protocol section as the audit writes it now, recomputed from the saved per-sample
    records without re-running an attack: the headline row, its metric and the groups the paper
    publishes from the protocol table (the reports here predate them), the published numbers of
    that headline and the gap per scope as b of n credited with its exact 95% interval (the
    reports here hold McNemar's p)."""
    classes, groups = report.dataset["num_classes"], report.dataset["groups"]
    out = {}
    for name, sec in (report.protocols or {}).items():
        settings = PROTOCOL_TABLE.lookup(name)[0].settings
        ys, flags, strict = _records(report, sec)
        head = settings["headline"]
        ok = strict if head == "worst case" else flags[head]
        published = scores(ok, ys, classes, groups)
        out[name] = {
            **sec,
            "headline": head,
            "headline_metric": settings["headline_metric"],
            "groups_published": list(settings["groups_published"]),
            "published": {k: published[k] for k in ("overall", "balanced", "groups")},
            "gap": gap_scores(ok, strict, ys, classes, groups),
        }
    return out


def _bold(text: str, on: bool) -> str:
    return f"**{text}**" if on and text != "—" else text


def table(results: list[dict]) -> str:
    """Every protocol of every audit, as the terminal prints it: the headline (row · metric),
    its number in bold, groups the paper does not publish in parentheses, the gap to strict."""
    groups = list(results[0]["report"].dataset["groups"])
    head = ["model", "protocol", "headline", "overall", *groups, "balanced"]
    head.append("gap to strict (overall)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        for name, sec in current(r["report"]).items():
            pub, metric = sec["published"], headline_metric(sec)
            cells = [r["name"], name, headline_label(sec)]
            cells.append(_bold(_pct(pub["overall"]), metric == "overall"))
            cells += [group_text(sec, g, pub["groups"].get(g)) for g in groups]
            cells.append(_bold(_pct(pub["balanced"]), metric == "balanced"))
            cells.append(gap_text(sec["gap"]["overall"]))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def credited(part: dict[str, Any]) -> str:
    """``9/100 credited [4.2–16.4%]``: b of n and the exact 95% interval of b/n."""
    lo, hi = part["interval"] or (None, None)
    return f"{part['b']}/{part['n']} credited [{_pct(lo)}–{_pct(hi)}%]"


def row_table(results: list[dict], protocol: str = "reat", label: str = "PGD-20") -> str:
    """One protocol row (REAT's PGD-20, not its headline) against strict per scope: the row's
    and strict's accuracy, and the images the row credits as robust that strict breaks."""
    groups = list(results[0]["report"].dataset["groups"])
    head = ["model", "overall", *groups]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        report = r["report"]
        classes, by_group = report.dataset["num_classes"], report.dataset["groups"]
        ys, flags, strict = _records(report, report.protocols[protocol])
        accs = [scores(ok, ys, classes, by_group) for ok in (flags[label], strict)]
        gap = gap_scores(flags[label], strict, ys, classes, by_group)
        cells = [r["name"]]
        for scope in ["overall", *groups]:
            row_acc, strict_acc = (a[scope] if scope == "overall" else a["groups"][scope]
                                   for a in accs)  # fmt: skip
            part = gap[scope] if scope == "overall" else gap["groups"][scope]
            cells.append(f"{_pct(row_acc)} / {_pct(strict_acc)} · {credited(part)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: two attacks' rows on the same samples, independent measurements: (attack, against)
PAIRS = [("ta-aa", "aa"), ("robal-aa", "aa")]


def pair_table(results: list[dict]) -> str:
    """Two attacks on the same samples (torchattacks' and RoBal's AutoAttack against fra31's
    standard one): accuracies, b (right only under the first) / c (only under the second) and
    the exact McNemar p, a paired test between two independent measurements."""
    head = ["model", *(f"{a} / {b}: acc, b/c, p" for a, b in PAIRS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        ps = r["report"].per_sample
        cells = [r["name"]]
        for first, second in PAIRS:
            oks = [[p == t for p, t in zip(ps["adv_pred"][a], ps["y"], strict=True)]
                   for a in (first, second)]  # fmt: skip
            b = sum(x and not z for x, z in zip(*oks, strict=True))
            c = sum(z and not x for x, z in zip(*oks, strict=True))
            n = len(ps["y"])
            accs = " / ".join(_pct(sum(ok) / n) for ok in oks)
            cells.append(f"{accs}, {b}/{c}, p={mcnemar_exact(b, c):.2g}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: attacks compared across the logit scale: CE-based, CW (margin), DLR-based AutoAttacks
SCALE_ATTACKS = ["pgd20", "ta-pgd20", "cw20", "robal-aa", "ta-aa", "aa"]


def scale_table(results: list[dict]) -> str:
    """Per checkpoint and attack: accuracy as trained and with logits x1000 (same samples)."""
    by = {r["name"]: r["report"] for r in results}
    head = ["checkpoint", *(f"{a} x1 / x1000" for a in SCALE_ATTACKS), "strict x1 / x1000"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in sorted(n.removesuffix("-x1") for n in by if n.endswith("-x1")):
        pair = [by.get(f"{name}-x1"), by.get(f"{name}-x1000")]
        cells = [name]
        for attack in SCALE_ATTACKS:
            accs = [r.attacks[attack].summary.accuracy if r and attack in r.attacks else None
                    for r in pair]  # fmt: skip
            cells.append(" / ".join(_pct(a) for a in accs))
        worst = [r.worst_case.summary.accuracy if r and r.worst_case else None for r in pair]
        cells.append(" / ".join(_pct(a) for a in worst))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/protocols"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for path in CHECKPOINTS:
        for scale in (1.0, 1000.0):
            res = run(path, scale, args.n, args.out)
            print(f"{res['name']}: {res['seconds']} s", flush=True)
            results.append(res)
    summary = [{"model": r["name"], "seconds": r["seconds"]} for r in results]
    (args.out / "seconds.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(table(results))
    print()
    print(scale_table(results))
    print()
    print(row_table(results))
    print()
    print(pair_table(results))


if __name__ == "__main__":
    main()
