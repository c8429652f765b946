"""Options declared once: a config field carries its help text and how to read it from text.

A configuration is a dataclass whose fields are made with :func:`setting`; the metadata
(:class:`Setting`) says how the option is offered to users: its help, its CLI spellings, the
parser of its text form, its closed set of choices. The CLI builds its options from it
(:mod:`ltrobust.cli.options`) and the Python API takes the same dataclass, so an option is
declared in exactly one place. Options that are not dataclass fields (a training method's
hyper-parameters) are :class:`Param` objects in the method registry.

This module is torch-free: the CLI reads the declarations without loading any model code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import MISSING, dataclass
from typing import Any

#: the metadata key under which a field's :class:`Setting` is stored
KEY = "ltrobust"


@dataclass(frozen=True)
class Setting:
    """How one option is offered to users.

    Attributes:
        help: one sentence for ``--help``.
        flags: CLI spellings (default ``--field-name``; booleans get ``--x/--no-x``).
        parse: turns the CLI text into the value (e.g. ``"8/255"`` -> float); it raises
            :class:`ltrobust.errors.ConfigError` on bad text.
        choices: the closed set of valid values (strings).
        panel: the ``--help`` section.
        show: the default as ``--help`` shows it, when the value itself reads badly.
        cli: offered on the command line (False: Python API only).
        nested: the field holds a dataclass whose own fields are the options.
        prefix: CLI prefix of a nested dataclass's options (``train`` -> ``--train-arch``).
    """

    help: str = ""
    flags: tuple[str, ...] = ()
    parse: Callable[[str], Any] | None = None
    choices: tuple[str, ...] = ()
    panel: str | None = None
    show: str | None = None
    cli: bool = True
    nested: bool = False
    prefix: str = ""


@dataclass(frozen=True)
class Param:
    """An option that is not a dataclass field: its name, default and :class:`Setting`."""

    name: str
    default: Any
    setting: Setting


def setting(
    default: Any = MISSING,
    *,
    help: str = "",
    factory: Callable[[], Any] | None = None,
    **kwargs: Any,
) -> Any:
    """A dataclass field with a :class:`Setting`: ``eps: float | None = setting(None, help=...)``.

    ``factory`` gives a mutable default (a list, a nested dataclass); ``kwargs`` are the other
    :class:`Setting` attributes.
    """
    meta = {KEY: Setting(help=help, **kwargs)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def setting_of(f: dataclasses.Field[Any]) -> Setting | None:
    """The :class:`Setting` of a dataclass field, or None for a plain field."""
    value = f.metadata.get(KEY)
    return value if isinstance(value, Setting) else None


def field_default(f: dataclasses.Field[Any]) -> Any:
    """The default value of a dataclass field (calling its factory)."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def params_of(cls: type) -> Iterator[tuple[dataclasses.Field[Any], Setting]]:
    """Every field of the dataclass ``cls`` that carries a :class:`Setting`, in order."""
    for f in dataclasses.fields(cls):
        spec = setting_of(f)
        if spec is not None:
            yield f, spec
