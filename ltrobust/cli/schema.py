"""``ltrobust schema``: the JSON Schema of report.json, for readers that do not use ltrobust."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltrobust.cli.common import guarded


def schema_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the schema to this file (atomically) instead of printing it.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the JSON Schema (draft 2020-12) of report.json: every section, key, type and
    bound of the report this ltrobust writes and reads. ltrobust itself also checks what a
    schema cannot say (lengths, recomputed numbers) when it reads a report."""

    def run() -> None:
        from ltrobust.fileio import atomic_write_text, check_output_file
        from ltrobust.report.json_schema import schema_text

        text = schema_text()
        if out is None:
            typer.echo(text, nl=False)
            return
        atomic_write_text(check_output_file(out), text)

    guarded(run)
