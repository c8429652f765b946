"""``ltrobust datasets``: every dataset with its counts, threat model and whether files exist."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from ltrobust.cli.common import guarded, shown, stdout


def _frac(value: float) -> str:
    f = Fraction(value).limit_denominator(1000)
    return (
        f"{f.numerator}/{f.denominator}"
        if abs(float(f) - value) < 1e-12 and f.denominator > 1
        else f"{value:g}"
    )


def datasets_command(
    data_dir: Annotated[Path | None, typer.Option(help="Also look here for dataset files.")] = None,
) -> None:
    """List the datasets ltrobust knows, their long-tailed profiles and whether data is present."""

    def run() -> None:
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
