"""``ltrobust sweep MODEL --dataset NAME --kappa -2:2:0.5``: the kappa logit-rescaling sweep alone.

Runs clean and PGD-20 at every kappa (logits x 10^-kappa) and APGD-DLR, which is invariant to
the scale, at the smallest, zero and largest kappa; prints the curve per group with the verdict
it supports, and writes report.json (the sweep is in ``diagnostics.sweep``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from ltrobust.cli.common import Norm, guarded, stdout, warn


def sweep_command(
    model: Annotated[
        str, typer.Argument(help="ltrobust checkpoint, TorchScript file or state_dict.")
    ],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset (default: the checkpoint's).")
    ] = None,
    kappa: Annotated[
        str, typer.Option(help="Grid START:STOP:STEP or a list; logits x 10^-kappa.")
    ] = "-2:2:0.5",
    norm: Annotated[Norm, typer.Option(help="Threat model norm.")] = Norm.linf,
    eps: Annotated[str | None, typer.Option(help="Budget, e.g. 8/255.")] = None,
    step: Annotated[str | None, typer.Option(help="Step size, e.g. 2/255.")] = None,
    n: Annotated[
        int | None, typer.Option(help="Class-stratified subset of N test samples.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 256,
    seed: Annotated[int, typer.Option(help="Seed of random starts and subsets.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    data_dir: Annotated[Path | None, typer.Option(help="Where the dataset files are.")] = None,
    class_counts: Annotated[Path | None, typer.Option(help="Training class counts file.")] = None,
    arch: Annotated[str | None, typer.Option(help="Architecture of a plain state_dict.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Report directory (default: reports/<model>-<dataset>-sweep)."),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Sweep the logit scale: PGD-20 that changes with kappa exposes gradient masking."""

    def run() -> None:
        from ltrobust.attacks import parse_number
        from ltrobust.audit import audit
        from ltrobust.audit.diagnostics import parse_kappas
        from ltrobust.cli.audit import default_out_dir
        from ltrobust.cli.progress import RichProgress
        from ltrobust.cli.verdict import print_verdict
        from ltrobust.data import load_class_counts

        kappas = parse_kappas(kappa)
        counts = load_class_counts(class_counts) if class_counts is not None else None
        with RichProgress(enabled=not quiet) as progress:
            report = audit(
                model,
                dataset,
                ["pgd20"],
                norm=norm.value,
                eps=parse_number(eps, name="--eps") if eps is not None else None,
                step=parse_number(step, name="--step") if step is not None else None,
                batch_size=batch_size,
                seed=seed,
                device=device,
                n=n,
                data_dir=str(data_dir) if data_dir else None,
                class_counts=counts,
                load_options={"arch": arch},
                progress=progress,
                kappas=kappas,
                command=shlex.join(["ltrobust", *sys.argv[1:]]),
            )
        for w in report.diagnostics.get("warnings", []):
            warn(w)
        print_verdict(report)
        target = (
            out
            if out is not None
            else Path(str(default_out_dir(model, report.dataset["name"])) + "-sweep")
        )
        report.save(str(target / "report.json"))
        stdout.print(f"report: {target / 'report.json'}")

    guarded(run)
