"""How ``--help`` reads: flags show no metavar (typer would write ``<bool>`` beside
``--quiet`` or ``--help``), for every command and the ``ltrobust`` group itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


def plain_flags(params: Sequence[Any]) -> None:
    """Give every flag among ``params`` that has no metavar an empty one."""
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", "") is None:
            param.metavar = ""


class PlainFlagsCommand(TyperCommand):
    """A typer command whose flags (``--help`` included) show no metavar."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = list(super().get_params(ctx))
        plain_flags(params)
        return params


class PlainFlagsGroup(TyperGroup):
    """A typer group whose own flags (``--help``, ``--version``) show no metavar."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = list(super().get_params(ctx))
        plain_flags(params)
        return params


def use_plain_flags(app: typer.Typer) -> None:
    """Build every plain command of ``app`` registered so far as a :class:`PlainFlagsCommand`
    (a command given its own class keeps it)."""
    for info in app.registered_commands:
        if info.cls is None or info.cls is TyperCommand:
            info.cls = PlainFlagsCommand
