"""Every paper protocol on every bundled Fashion-MNIST-LT checkpoint, as trained and with its
logits multiplied by 1000 (docs/PROTOCOLS.md, "Evidence"). Writes one report per model to
``--out`` and prints the Markdown tables of docs/PROTOCOLS.md.

    .venv/bin/python benchmarks/protocols_evidence.py --n 100 --out benchmarks/results/protocols
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import ltrobust
from ltrobust.audit.diagnostics import LogitScale
from ltrobust.models import load_model
from ltrobust.report import AuditReport

PROTOCOLS = ["robal", "at-bsl", "reat", "robustlt", "mcat", "taet", "robustbench", "strict"]
CHECKPOINTS = sorted(Path("checkpoints").glob("small_cnn-*-fmnist-lt.pt"))


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


def table(results: list[dict]) -> str:
    groups = list(results[0]["report"].dataset["groups"])
    head = ["model", "protocol", "headline", "overall", *groups, "balanced", "gap to strict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        for name, sec in r["report"].protocols.items():
            pub, gap = sec["published"], sec["gap"]["overall"]
            cells = [r["name"], name, sec["headline"], _pct(pub["overall"])]
            cells += [_pct(pub["groups"].get(g)) for g in groups] + [_pct(pub["balanced"])]
            delta = gap["gap"]
            cells.append("—" if delta is None else f"{100 * delta:+.1f} (p={gap['p']:.2g})")
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


if __name__ == "__main__":
    main()
