"""``ltrobust attacks``: every attack of the attack table with its settings (as ``datasets``
lists datasets)."""

from __future__ import annotations

from rich import box
from rich.table import Table

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


def attacks_command() -> None:
    """List the attacks ltrobust runs, their settings and which run by default."""

    def run() -> None:
        table = Table(
            title="attacks (docs/METHODS.md §2); iterative ones take the dataset's step unless "
            "said, L-inf or --norm l2",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for col in ("name", "what it is", "settings", "default"):
            table.add_column(col, overflow="fold")
        for entry in ATTACKS:
            names = entry.examples if entry.is_pattern else (entry.name,)
            default = ", ".join(n for n in names if n in DEFAULT_ATTACKS)
            label = entry.label + (f" ({', '.join(names)})" if entry.is_pattern else "")
            table.add_row(
                label,
                entry.description,
                _settings(dict(entry.settings)),
                ("yes: " + default if entry.is_pattern and default else "yes" if default else ""),
            )
        stdout.print(table)
        stdout.print(
            f"default list: {','.join(DEFAULT_ATTACKS)}; choose with --attacks NAME,NAME",
            highlight=False,
            soft_wrap=True,
        )

    guarded(run)
