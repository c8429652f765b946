"""The ``ltrobust`` command: one Typer app, one module per command."""

from __future__ import annotations

import typer

from ltrobust import __version__
from ltrobust.cli.attacks import attacks_command
from ltrobust.cli.audit import audit_command
from ltrobust.cli.bench import bench_command
from ltrobust.cli.compare import compare_command
from ltrobust.cli.datasets import datasets_command
from ltrobust.cli.gate import gate_command
from ltrobust.cli.report import report_command
from ltrobust.cli.sweep import sweep_command
from ltrobust.cli.train import train_command

app = typer.Typer(
    name="ltrobust",
    help="Is this model's adversarial robustness real, and for which classes? "
    "Audits image classifiers trained on long-tailed data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("audit")(audit_command)
app.command("datasets")(datasets_command)
app.command("attacks")(attacks_command)
app.command("train")(train_command)
app.command("report")(report_command)
app.command("compare")(compare_command)
app.command("gate")(gate_command)
app.command("sweep")(sweep_command)
app.command("bench")(bench_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ltrobust {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """ltrobust: per-class adversarial robustness audits for long-tailed data."""


def main() -> None:
    app()
