"""``ltrobust datasets``: every dataset with its counts, threat model and whether files exist."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from ltrobust.cli.common import guarded, shown, stdout

if TYPE_CHECKING:
    from ltrobust.data.specs import DatasetSpec

#: where dataset files are searched, in order
SEARCH_ORDER = (
    "--data-dir",
    "$LTROBUST_DATA",
    "~/.cache/ltrobust",
    "/usr/share/datasets/fashion-mnist",
)
#: the custom datasets: no preset profile, training counts from --class-counts
CUSTOM = ("folder:PATH", "tensors:FILE")


def _frac(value: float) -> str:
    f = Fraction(value).limit_denominator(1000)
    return (
        f"{f.numerator}/{f.denominator}"
        if abs(float(f) - value) < 1e-12 and f.denominator > 1
        else f"{value:g}"
    )


def _entry(spec: DatasetSpec, data_dir: Path | None) -> dict[str, Any]:
    """One dataset as JSON-ready data."""
    from ltrobust.data import dataset_status, lt_counts

    present, where = dataset_status(spec, str(data_dir) if data_dir else None)
    return {
        "name": spec.name,
        "description": spec.description,
        "num_classes": spec.num_classes,
        "shape": list(spec.shape),
        "imbalance_ratio": spec.default_ir,
        "train_counts": lt_counts(spec.n_max, spec.default_ir, spec.num_classes),
        "eps_linf": spec.eps_linf,
        "step_linf": spec.step_linf,
        "eps_l2": spec.eps_l2,
        "step_l2": spec.step_l2,
        "present": present,
        "folder": where,
        "files": list(spec.files),
    }


def _json(data_dir: Path | None) -> str:
    from ltrobust.data import list_datasets

    custom = [
        {
            "name": name,
            "class_counts": "--class-counts FILE",
            "eps_linf": 8 / 255,
            "step_linf": 2 / 255,
        }
        for name in CUSTOM
    ]
    data = {
        "datasets": [_entry(spec, data_dir) for spec in list_datasets()],
        "custom": custom,
        "search_order": list(SEARCH_ORDER),
    }
    return json.dumps(data, indent=2)


def datasets_command(
    data_dir: Annotated[Path | None, typer.Option(help="Also look here for dataset files.")] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON: every dataset with its classes, shape, profile, default budgets "
            "and whether (and where) its files are present.",
        ),
    ] = False,
) -> None:
    """List the datasets ltrobust knows, their long-tailed profiles and whether data is present."""

    def run() -> None:
        if as_json:
            print(_json(data_dir))
            return
        from ltrobust.data import dataset_status, list_datasets, lt_counts

        table = Table(
            title="datasets (training profile of docs/METHODS.md §1, seed-0 selection)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for col in ("name", "C", "shape", "IR", "train counts", "eps, step", "data"):
            table.add_column(col, no_wrap=True)
        notes = []
        for spec in list_datasets():
            counts = lt_counts(spec.n_max, spec.default_ir, spec.num_classes)
            present, where = dataset_status(spec, str(data_dir) if data_dir else None)
            table.add_row(
                spec.name,
                str(spec.num_classes),
                "x".join(map(str, spec.shape)),
                f"{spec.default_ir:g}",
                f"{counts[0]}…{counts[-1]} ({sum(counts):,})",
                f"{_frac(spec.eps_linf)}, {_frac(spec.step_linf)}",
                "[green]yes[/]" if present else "[red]no[/]",
            )
            notes.append(
                f"{spec.name}: "
                + (f"files in {shown(where)}" if present else f"needs {', '.join(spec.files)}")
            )
        table.add_row("folder:PATH", "", "any", "", "--class-counts FILE", "8/255, 2/255", "")
        table.add_row("tensors:FILE", "", "any", "", "--class-counts FILE", "8/255, 2/255", "")
        stdout.print(table)
        for line in notes:
            stdout.print(line, highlight=False, soft_wrap=True)
        stdout.print(
            "test sets are the balanced official ones (--test-imbalanced for LT); "
            "L2 defaults: eps 0.5 (CIFAR), 1.0 (Fashion-MNIST)",
            highlight=False,
        )
        stdout.print(
            "data search order: --data-dir, $LTROBUST_DATA, ~/.cache/ltrobust, "
            "/usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist)",
            highlight=False,
        )

    guarded(run)
