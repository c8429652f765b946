"""Per-epoch records written beside the checkpoints: ``history.json``, ``history.csv`` and
``adv_counts.json`` (the C x C counts of (true class, predicted class) of the training
adversarial examples of every epoch, REAT Fig. 1/5). Every file is rewritten atomically."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import torch

from ltrobust.fileio import atomic_write_text


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """All keys of ``rows`` in order of first appearance."""
    out: list[str] = []
    for row in rows:
        out.extend(k for k in row if k not in out)
    return out


def history_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text (header = :func:`columns`, empty cells for missing/None)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def write_history(out_dir: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``history.json`` (a list of rows; non-finite numbers as null) and ``history.csv``."""
    clean = [{k: _json_value(v) for k, v in row.items()} for row in rows]
    atomic_write_text(out_dir / "history.json", json.dumps(clean, indent=1) + "\n")
    atomic_write_text(out_dir / "history.csv", history_csv(rows))


def write_adv_counts(out_dir: Path, counts: list[torch.Tensor], class_names: list[str]) -> None:
    """Write ``adv_counts.json``: ``{"class_names", "rows": "true class", "columns":
    "predicted class", "epochs": [{"epoch": e, "counts": C x C}]}``."""
    payload = {
        "class_names": class_names,
        "rows": "true class",
        "columns": "predicted class (training forward on the adversarial example)",
        "epochs": [{"epoch": i + 1, "counts": m.tolist()} for i, m in enumerate(counts)],
    }
    atomic_write_text(out_dir / "adv_counts.json", json.dumps(payload) + "\n")
