"""The ``ltrobust`` command: one Typer app, one module per command."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Any

import typer

from ltrobust import __version__
from ltrobust.cli.attacks import attacks_command
from ltrobust.cli.audit import audit_command
from ltrobust.cli.bench import bench_command
from ltrobust.cli.common import fail, wide_when_piped
from ltrobust.cli.compare import compare_command
from ltrobust.cli.datasets import datasets_command
from ltrobust.cli.gate import gate_command
from ltrobust.cli.helpstyle import PlainFlagsGroup, use_plain_flags
from ltrobust.cli.inspect import inspect_command
from ltrobust.cli.report import report_command
from ltrobust.cli.schema import schema_command
from ltrobust.cli.sweep import sweep_command
from ltrobust.cli.train import train_command


class OneLineErrors(PlainFlagsGroup):
    """Usage errors (a bad value, an unknown option or command, a missing argument) as one line
    on stderr with a hint to ``--help``, exit code 2, instead of a box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(
                argv,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except typer.Abort:
            fail("aborted", code=130)
        except Exception as exc:  # noqa: BLE001 - click's usage errors carry these two members
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                raise
            message = str(exc.format_message()).strip()
            if not message:  # no arguments at all: the help was shown
                raise SystemExit(int(exc.exit_code)) from None
            command = next((a for a in argv if a in self.commands), None)
            where = f"ltrobust {command}" if command else "ltrobust"
            fail(f"{message} (see '{where} --help')", code=int(exc.exit_code))
        if isinstance(code, int) and code:
            raise SystemExit(code)
        return code


app = typer.Typer(
    name="ltrobust",
    cls=OneLineErrors,
    help="Is this model's adversarial robustness real, and for which classes? "
    "Audits image classifiers trained on long-tailed data.",
    no_args_is_help=True,
    add_completion=True,
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
app.command("inspect")(inspect_command)
app.command("schema")(schema_command)
use_plain_flags(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ltrobust {__version__}")
        raise typer.Exit()


class LogLines(logging.Formatter):
    """A log record as one line: ``ltrobust: info: message``."""

    def format(self, record: logging.LogRecord) -> str:
        return f"ltrobust: {record.levelname.lower()}: {' '.join(record.getMessage().split())}"


def configure_logging(verbose: bool) -> None:
    """With ``verbose``, the ``ltrobust`` logger's INFO lines (where the data came from, a
    download in progress, a resume that found nothing) go to stderr as ``ltrobust: info: ...``;
    otherwise only warnings show (Python's default)."""
    if not verbose:
        return
    root = logging.getLogger("ltrobust")
    if not any(getattr(h, "ltrobust_cli", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(LogLines())
        handler.ltrobust_cli = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    verbose: bool = typer.Option(
        False,
        "-v",
        "--verbose",
        help="Show INFO log lines on stderr (where the data came from, downloads); put it "
        "before the command: ltrobust -v audit ...",
    ),
) -> None:
    """ltrobust: per-class adversarial robustness audits for long-tailed data."""
    wide_when_piped()
    configure_logging(verbose)


def main() -> None:
    app()
