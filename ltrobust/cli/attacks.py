"""``ltrobust attacks``: every attack of the attack table with its settings (as ``datasets``
lists datasets)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ltrobust.attacks.registry import ATTACKS, DEFAULT_ATTACKS
from ltrobust.cli.common import guarded, stdout


def _settings(settings: dict[str, object]) -> str:
    text = []
    for key, value in settings.items():
        if key == "step_size" and value == "eps":
            text.append("one step of size eps")
        elif key == "steps" and value == "N":
            text.append("steps N")
        else:
            text.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(text)


def _json() -> str:
    """Every attack as JSON: name (``pgdN`` for a pattern), description, settings, the names a
    pattern stands for in lists, and which of its names the default set runs."""
    entries: list[dict[str, Any]] = []
    for entry in ATTACKS:
        names = entry.examples if entry.is_pattern else (entry.name,)
        entries.append(
            {
                "name": entry.label,
                "pattern": entry.is_pattern,
                "examples": list(entry.examples),
                "description": entry.description,
                "settings": entry.settings.summary(),
                "default": [n for n in names if n in DEFAULT_ATTACKS],
            }
        )
    return json.dumps({"attacks": entries, "default": list(DEFAULT_ATTACKS)}, indent=2, default=str)


def attacks_command(
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON: every attack with its settings and the names of it the default "
            "set runs.",
        ),
    ] = False,
) -> None:
    """List the attacks ltrobust runs, their settings and which run by default."""

    def run() -> None:
        if as_json:
            print(_json())
            return
        stdout.print(
            "[bold]attacks[/] (docs/METHODS.md §2; iterative attacks take the dataset's step "
            "unless said; L-inf, or L2 with --norm l2)",
            highlight=False,
            soft_wrap=True,
        )
        for entry in ATTACKS:
            names = entry.examples if entry.is_pattern else (entry.name,)
            default = [n for n in names if n in DEFAULT_ATTACKS]
            label = entry.label + (f" (e.g. {', '.join(names)})" if entry.is_pattern else "")
            tag = (
                ""
                if not default
                else "  [green]default[/]"
                if not entry.is_pattern
                else f"  [green]default: {', '.join(default)}[/]"
            )
            stdout.print(f"\n[bold]{label}[/]{tag}", highlight=False, soft_wrap=True)
            stdout.print(f"  {entry.description}", highlight=False, soft_wrap=True)
            stdout.print(
                f"  [dim]{_settings(entry.settings.summary())}[/]", highlight=False, soft_wrap=True
            )
        stdout.print(
            f"\ndefault list: {','.join(DEFAULT_ATTACKS)}; choose with --attacks NAME,NAME",
            highlight=False,
            soft_wrap=True,
        )

    guarded(run)
