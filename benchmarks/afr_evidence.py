"""AFR's claim on real data (docs/TRAINING.md, "AFR on Fashion-MNIST-LT"): clean recall per shot
group of CE, BS, BS+CMO and AFR at matched total epochs, several seeds, mean +- std, and the
audit of an AFR model (robust recall per group, the verdict).

Every run is ``ltrobust.train.train`` with one recipe: ResNet-32, batch 128, SGD lr 0.1, wd 2e-4,
5 warm-up epochs, lr x0.01 / x0.0001 after 80% / 90% (of stage 1 for AFR), crop 2, AutoAugment
and Cutout (AFR: stage 1 only), no monitoring. CE and BS train ``--epochs`` epochs, BS+CMO too,
AFR ``--epochs - --stage2-epochs`` of BS+CMO and ``--stage2-epochs`` of stage 2: the same number
of gradient steps. Each run is evaluated on the full balanced test set (1,000 images per class);
groups are the shot groups of its training counts (many > 100, medium 20-100, few < 20).

Runs are skipped when their ``eval.json`` exists and resumed from ``last.pt``, so several
processes can share the work (different ``--methods`` / ``--seeds``, one torch thread each) and a
last call with ``--aggregate`` only prints the tables. Writes under ``--out``: one folder per run
(checkpoints, history, ``eval.json``), ``results.json``, ``table.md`` and the audit report.

    .venv/bin/python benchmarks/afr_evidence.py --out benchmarks/results/afr-fmnist
    .venv/bin/python benchmarks/afr_evidence.py --smoke --out /tmp/afr-smoke     # minutes
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import ltrobust
from ltrobust.data import class_groups, load_eval_data
from ltrobust.metrics.recall import confusion_matrix, summarize
from ltrobust.models import load_model
from ltrobust.report import AuditReport
from ltrobust.train import RunOptions, resolve_config, train

#: label -> (method, method options)
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "CE": ("ce", {"loss": "ce"}),
    "BS": ("ce", {"loss": "bsl"}),
    "BS+CMO": ("cmo", {"loss": "bsl"}),
    "AFR": ("afr", {"loss": "bsl"}),
}
SCOPES = ("overall", "many", "medium", "few")  # overall = balanced: the test set is balanced
AUDIT_ATTACKS = "fgsm,pgd20,mim,cw20,adaptive,adaptive-auto,aa"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/afr-fmnist"))
    p.add_argument("--methods", default=",".join(METHODS), help="of CE, BS, BS+CMO, AFR")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=30, help="total epochs of every method")
    p.add_argument("--stage2-epochs", type=int, default=6, help="AFR's share of --epochs")
    p.add_argument("--regen-every", type=int, default=2)
    p.add_argument("--afr-lambda", type=float, default=0.8)
    p.add_argument("--cmo-skip", default="4,3", help="CMO's unmixed first,last epochs")
    p.add_argument("--n-max", type=int, default=1000)
    p.add_argument("--imbalance-ratio", type=float, default=100.0)
    p.add_argument("--arch", default="resnet32")
    p.add_argument("--augment", default="autoaugment")
    p.add_argument("--cutout", type=int, default=14, help="16 of 32 pixels, scaled to 28")
    p.add_argument("--audit-n", type=int, default=500, help="0 = no audit")
    p.add_argument("--audit-attacks", default=AUDIT_ATTACKS)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--aggregate", action="store_true", help="only read the runs, print tables")
    p.add_argument("--smoke", action="store_true", help="2 + 1 epochs, one seed, 300 images")
    args = p.parse_args()
    if args.smoke:
        args.epochs, args.stage2_epochs, args.regen_every, args.seeds = 3, 1, 1, "0"
        args.cmo_skip = "0,0"
        args.n_max, args.audit_n, args.audit_attacks = 300, 60, "fgsm,pgd20"
    return args


def run_config(label: str, seed: int, args: argparse.Namespace):  # noqa: ANN201
    method, options = METHODS[label]
    given: dict[str, Any] = {
        "arch": args.arch,
        "epochs": args.epochs,
        "seed": seed,
        "n_max": args.n_max,
        "imbalance_ratio": args.imbalance_ratio,
        "augment": args.augment,
        "cutout": args.cutout,
        "monitor_n": 0,
        **options,
    }
    if method in ("cmo", "afr"):
        first, last = (int(v) for v in args.cmo_skip.split(","))
        given.update(cmo_skip_first=first, cmo_skip_last=last)
    if method == "afr":
        given.update(
            stage2_epochs=args.stage2_epochs,
            regen_every=args.regen_every,
            afr_lambda=args.afr_lambda,
        )
    return resolve_config(method, "fashion-mnist-lt", given)


def evaluate(final: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Clean recall of ``final`` on the full balanced test set, per shot group."""
    loaded = load_model(str(final))
    counts = list(loaded.class_counts or [])
    data = load_eval_data("fashion-mnist-lt", data_dir=args.data_dir, class_counts=counts)
    model, preds = loaded.model.eval().to(args.device), []
    with torch.no_grad():
        for s in range(0, len(data.y), 500):
            preds.append(model(data.x[s : s + 500].to(args.device)).argmax(dim=1).cpu())
    cm = confusion_matrix(data.y, torch.cat(preds), data.num_classes)
    groups = class_groups(counts, "shot")
    summary = summarize(cm, groups, data.class_names)
    out = {"overall": summary.accuracy, "balanced": summary.balanced_accuracy}  # equal here
    out.update({g: stat.recall for g, stat in summary.groups.items()})
    out["per_class"] = [s.recall for s in summary.per_class]
    out["groups"], out["class_counts"] = groups, counts
    return out


def one_run(label: str, seed: int, args: argparse.Namespace) -> dict[str, Any] | None:
    folder = args.out / f"{label.replace('+', '-').lower()}-seed{seed}"
    done = folder / "eval.json"
    if done.is_file():
        return dict(json.loads(done.read_text()))
    if args.aggregate:
        return None
    config = run_config(label, seed, args)
    resume = folder / "last.pt" if (folder / "last.pt").is_file() else None
    t0 = time.perf_counter()
    result = train(config, RunOptions(out=folder, device=args.device, data_dir=args.data_dir,
                                      resume=resume, command=f"afr_evidence {label} {seed}"))  # fmt: skip
    assert result.final_path is not None
    row = {"method": label, "seed": seed, **evaluate(result.final_path, args)}
    row["train_seconds"] = sum(r["seconds"] for r in result.history)
    row["wall_seconds"] = time.perf_counter() - t0
    done.write_text(json.dumps(row, indent=1) + "\n")
    print(f"{label} seed {seed}: " + ", ".join(f"{k} {_pct(row[k])}" for k in SCOPES), flush=True)
    return row


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def _mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    mean = 100 * statistics.fmean(values)
    std = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {std:.1f}"


def paired(a: list[float], b: list[float]) -> str:
    """Mean and std of the per-seed differences ``a - b`` in points, with the two-sided p of a
    paired t-test when there are three seeds (t with 2 df: p = 1 - |t| / sqrt(2 + t^2))."""
    d = [100 * (x - y) for x, y in zip(a, b, strict=True)]
    if len(d) < 2:
        return f"{d[0]:+.1f}" if d else "—"
    mean, sd = statistics.fmean(d), statistics.stdev(d)
    text = f"{mean:+.1f} ± {sd:.1f}"
    if len(d) == 3 and sd > 0:
        t = mean / (sd / math.sqrt(3))
        text += f" (p = {1 - abs(t) / math.sqrt(2 + t * t):.2f})"
    return text


def tables(rows: list[dict[str, Any]], labels: list[str]) -> str:
    head = "| method | seeds | " + " | ".join(SCOPES) + " |"
    lines = [head, "|" + "---|" * (len(SCOPES) + 2)]
    by = {m: sorted((r for r in rows if r["method"] == m), key=lambda r: r["seed"]) for m in labels}
    for m in labels:
        cells = [_mean_std([r[s] for r in by[m] if r[s] is not None]) for s in SCOPES]
        lines.append(f"| {m} | {len(by[m])} | " + " | ".join(cells) + " |")
    if "AFR" in by and by["AFR"]:
        lines += ["", "AFR minus each method, per seed (points, mean ± std, paired t-test):", ""]
        lines += [head.replace("method | seeds", "AFR minus | seeds"), lines[1]]
        for m in labels:
            if m == "AFR" or len(by[m]) != len(by["AFR"]):
                continue
            cells = [paired([r[s] for r in by["AFR"]], [r[s] for r in by[m]]) for s in SCOPES]
            lines.append(f"| {m} | {len(by[m])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def audit_afr(args: argparse.Namespace, seed: int) -> None:
    final = args.out / f"afr-seed{seed}" / "final.pt"
    if not final.is_file() or args.audit_n == 0:
        return
    saved = args.out / f"audit-afr-seed{seed}" / "report.json"
    if saved.is_file():
        report = AuditReport.from_dict(json.loads(saved.read_text()))
    elif args.aggregate:
        return
    else:
        report = ltrobust.audit(str(final), attacks=args.audit_attacks.split(","),
                                n=args.audit_n, device=args.device, data_dir=args.data_dir,
                                command=f"afr_evidence audit {final}")  # fmt: skip
        saved.parent.mkdir(parents=True, exist_ok=True)
        report.save(str(saved))
    n = report.config["n"]
    print(f"\naudit of {final} ({n} test images, eps {report.config['eps']:g}):")
    rows = [("clean", report.clean), *report.attacks.items()]
    if report.worst_case is not None:
        rows.append(("worst case", report.worst_case))
    for name, res in rows:
        groups = ", ".join(f"{g} {_pct(s.recall)}" for g, s in res.summary.groups.items())
        print(f"{name}: {_pct(res.summary.accuracy)}% ({groups})")
    verdict = report.verdict or {}
    for scope, v in [("overall", verdict.get("overall")), *verdict.get("groups", {}).items()]:
        if v:
            print(f"verdict {scope}: {v['verdict']}, believed {_pct(v['believed'])}% {v['flags']}")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    labels = [m.strip() for m in args.methods.split(",")]
    unknown = [m for m in labels if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown --methods {unknown}; valid: {', '.join(METHODS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [r for m in labels for s in seeds if (r := one_run(m, s, args)) is not None]
    table = tables(rows, labels)
    settings = {k: str(v) for k, v in vars(args).items()}
    (args.out / "results.json").write_text(
        json.dumps({"settings": settings, "runs": rows}, indent=1) + "\n"
    )
    (args.out / "table.md").write_text(table + "\n")
    print("\n" + table)
    if "AFR" in labels:
        audit_afr(args, seeds[0])


if __name__ == "__main__":
    main()
