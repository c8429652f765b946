"""``ltrobust sweep MODEL --dataset NAME --kappa -2:2:0.5``: the kappa logit-rescaling sweep alone.

Runs clean and PGD-20 at every kappa (logits x 10^-kappa) and APGD-DLR, which is invariant to
the scale, at the smallest, zero and largest kappa; prints the curve per group with the verdict
it supports, and writes report.json (the sweep is in ``diagnostics.sweep``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ltrobust.audit.config import AuditConfig
from ltrobust.cli.common import shown, stdout, warn
from ltrobust.cli.options import OptionSet, command, flag_option
from ltrobust.cli.progress import make_progress
from ltrobust.cli.shared import ARCHS, MODEL, QUIET, command_line, default_out_dir
from ltrobust.fileio import check_output_dir, write_all

OPTIONS = OptionSet(
    AuditConfig,
    only=(
        "dataset",
        "kappas",
        "norm",
        "eps",
        "step",
        "n",
        "batch_size",
        "seed",
        "device",
        "data_dir",
        "class_counts",
        "resize",
        "load",
    ),
    extra_help=ARCHS,
)
OUT = flag_option(
    "out",
    Path | None,
    None,
    "--out",
    help="Report directory (default: reports/<model>-<dataset>-sweep).",
)


def sweep_dir(model: str, dataset: str) -> Path:
    """The default report folder: ``reports/<model>-<dataset>-sweep``."""
    return Path(str(default_out_dir(model, dataset)) + "-sweep")


@command({"options": OPTIONS}, fixed=[MODEL, OUT, QUIET])
def sweep_command(model: str, out: Path | None, quiet: bool, options: dict[str, Any]) -> None:
    """Sweep the logit scale: PGD-20 that changes with kappa exposes gradient masking."""
    from ltrobust.audit import audit
    from ltrobust.audit.api import cli_wording
    from ltrobust.cli.verdict import print_verdict

    config = OPTIONS.build(options, attacks=["pgd20"])
    config.validate()
    if out is not None:
        check_output_dir(out)
    elif config.dataset is not None:
        check_output_dir(sweep_dir(model, config.dataset))
    with make_progress(enabled=not quiet, prefix="sweep") as progress, cli_wording():
        report = audit(model, config=config, progress=progress, command=command_line())
    target = out if out is not None else sweep_dir(model, report.dataset["name"])
    write_all([(target / "report.json", lambda: report.save(str(target / "report.json")))])
    for w in report.diagnostics.get("warnings", []):
        warn(w)
    print_verdict(report)
    stdout.print(f"report: {shown(target / 'report.json')}")
