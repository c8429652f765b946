"""Cost of a multi-protocol audit against single-protocol audits, in one run
(docs/PROTOCOLS.md, "Speed"): ``--protocol robal,at-bsl,strict`` against the three audits
``--protocol robal``, ``--protocol at-bsl`` and ``--protocol strict``, same model, samples and
settings. Shared work is done once, so the multi-protocol audit must cost no more than the sum
of its distinct attacks (plus one clean pass).

    .venv/bin/python benchmarks/protocols_speed.py --n 100
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import ltrobust

MODEL = "checkpoints/small_cnn-reat-fmnist-lt.pt"
STRICT = ["fgsm", "pgd20", "cw20"]


def audit(protocols: list[str], n: int) -> tuple[float, dict[str, float], float]:
    t0 = time.perf_counter()
    report = ltrobust.audit(
        MODEL, "fashion-mnist-lt", STRICT, protocols=protocols, n=n, diagnose=False, device="cpu"
    )
    wall = time.perf_counter() - t0
    return wall, {a: o.seconds for a, o in report.attacks.items()}, report.clean.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs: dict[str, dict[str, Any]] = {}
    for protocols in (["robal"], ["at-bsl"], ["strict"], ["robal", "at-bsl", "strict"]):
        wall, attacks, clean = audit(protocols, args.n)
        runs[",".join(protocols)] = {"wall_s": wall, "attacks_s": attacks, "clean_s": clean}
        print(
            f"--protocol {','.join(protocols)}: {wall:.1f} s wall, {len(attacks)} attacks",
            flush=True,
        )
    singles = sum(runs[p]["wall_s"] for p in ("robal", "at-bsl", "strict"))
    multi = runs["robal,at-bsl,strict"]
    distinct = sum(multi["attacks_s"].values()) + multi["clean_s"]
    out = {
        "n": args.n,
        "runs": runs,
        "sum_of_singles_s": singles,
        "multi_s": multi["wall_s"],
        "multi_vs_singles": multi["wall_s"] / singles,
        "distinct_attacks_and_clean_s": distinct,
        "multi_vs_distinct": multi["wall_s"] / distinct,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
