"""Typer options built from the declared settings of a config dataclass (:mod:`ltrobust.settings`).

Each command maps its options to one typed config object in one place: an :class:`OptionSet`
reads a config dataclass (or a list of :class:`Option`), offers one option per
declared field (nested dataclasses flattened), and turns the values a user gave back into the
config. Every option defaults to None on the command line, meaning "not given": the config's
own default applies, and ``--help`` shows it. Values are parsed and checked (``8/255``, finite
numbers, closed choices) with one-line errors. :func:`command` builds the Typer command.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from ltrobust.cli.common import guarded
from ltrobust.errors import ConfigError
from ltrobust.limits import MAX_INT
from ltrobust.settings import Alias, Setting, field_default, params_of
from ltrobust.values import parse_number

#: the longest list of choices shown as the metavar (``auto|thirds|shot`` would squeeze the
#: option names of its ``--help`` panel at 80 columns)
MAX_METAVAR = 12


@dataclass(frozen=True)
class Option:
    """One command-line option: where its value goes (``path`` of field names), its Python
    parameter name, the declared default and the :class:`Setting`."""

    path: tuple[str, ...]
    param: str
    default: Any
    kind: type
    setting: Setting
    #: set for a deprecated spelling of the option at ``path`` (hidden from ``--help``)
    alias: Alias | None = None

    @property
    def flags(self) -> tuple[str, ...]:
        return self.setting.flags or ("--" + self.path[-1].replace("_", "-"),)

    def parse(self, value: Any) -> Any:
        """The value a user gave (text for parsed options), parsed and checked."""
        spec = self.setting
        if spec.parse is not None:
            value = spec.parse(value)
        elif self.kind is float:
            value = parse_number(value, name=self.flags[0])
        elif self.kind is int and isinstance(value, int) and abs(value) > MAX_INT:
            raise ConfigError(f"{self.flags[0]} {value}: a report holds integers up to 2**53")
        if spec.choices and value not in spec.choices:
            choices = ", ".join(spec.choices)
            raise ConfigError(f"unknown {self.flags[0]} {value!r}; valid: {choices}")
        return value

    def metavar(self) -> str:
        """``linf|l2`` for a few short choices (``CHOICE`` for more, listed in the help, so that
        ``--help`` keeps every option name whole at 80 columns), else the kind of value."""
        if self.setting.choices:
            joined = "|".join(self.setting.choices)
            return joined if len(joined) <= MAX_METAVAR else "CHOICE"
        if self.kind is int:
            return "INT"
        if self.kind is float:
            return "NUMBER"
        return "PATH" if self.setting.parse is Path else "TEXT"

    def choices_help(self) -> str:
        """``One of: a, b, c.`` when the metavar does not list the choices and the help does not
        name them all; else nothing."""
        choices = self.setting.choices
        if not choices or self.metavar() != "CHOICE":
            return ""
        if all(c in self.setting.help for c in choices):
            return ""
        return "One of: " + ", ".join(choices) + "."

    def show(self) -> str | None:
        """The default as ``--help`` shows it."""
        if self.setting.show is not None:
            return self.setting.show
        if self.kind is bool:
            return self.flags[0][2:] if self.default else "no-" + self.flags[0][2:]
        if self.default is None or self.default is dataclasses.MISSING:
            return None
        return str(self.default)

    def parameter(self, extra_help: str = "") -> inspect.Parameter:
        """The Typer parameter (default None = not given)."""
        flags = self.flags
        if self.kind is bool:
            flags = tuple(f"{f}/--no-{f[2:]}" for f in flags[:1]) + flags[1:]
        text = " ".join(t for t in (self.setting.help, extra_help, self.choices_help()) if t)
        shown = self.show()
        info = typer.Option(
            *flags,
            help=escape(text + (f" [default: {shown}]" if shown is not None else "")),
            rich_help_panel=self.setting.panel,
            show_default=False,
            metavar=None if self.kind is bool else self.metavar(),
            hidden=self.alias is not None,
        )
        cli_type = bool if self.kind is bool else int if self.kind is int else str
        annotation = Annotated[cli_type | None, info]  # type: ignore[valid-type]
        return inspect.Parameter(
            self.param, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
        )


def _kind(hint: Any, default: Any, spec: Setting) -> type:
    """The scalar type of an option: bool, int, float, or str (text to parse)."""
    if spec.parse is not None or spec.choices:
        return str
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    base = args[0] if args[0] is not Any else type(default)
    if base in (bool, int, float, str):
        return base
    if base is Path or base is type(None):
        return str
    raise TypeError(f"option type {hint!r} needs a parser")


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass of a field's type hint (``T`` or ``T | None``), else None."""
    for t in (hint, *typing.get_args(hint)):
        if isinstance(t, type) and dataclasses.is_dataclass(t):
            return t
    return None


def options_of(cls: type, prefix: tuple[str, ...] = (), flag_prefix: str = "") -> list[Option]:
    """Every CLI option of the dataclass ``cls``, nested dataclasses flattened."""
    hints = typing.get_type_hints(cls)
    out: list[Option] = []
    for f, spec in params_of(cls):
        if not spec.cli:
            continue
        path = (*prefix, f.name)
        nested = _dataclass_in(hints[f.name]) if spec.nested else None
        if nested is not None:
            sub = flag_prefix + (spec.prefix + "-" if spec.prefix else "")
            out.extend(options_of(nested, path, sub))
            continue
        if flag_prefix and not spec.flags:
            spec = dataclasses.replace(spec, flags=(f"--{flag_prefix}{f.name.replace('_', '-')}",))
        default = field_default(f)
        if Path in (hints[f.name], *typing.get_args(hints[f.name])) and spec.parse is None:
            spec = dataclasses.replace(spec, parse=Path)
        out.append(
            Option(path, "__".join(path), default, _kind(hints[f.name], default, spec), spec)
        )
        out.extend(_aliases(out[-1]))
    return out


def _aliases(option: Option) -> list[Option]:
    """The hidden options of ``option``'s deprecated spellings."""
    return [
        Option(
            option.path,
            f"{option.param}__{a.flag[2:].replace('-', '_')}",
            None,
            a.kind,
            Setting(
                help=f"Deprecated: use {option.flags[0]}.",
                flags=(a.flag,),
                choices=a.choices,
                panel=option.setting.panel,
            ),
            alias=a,
        )
        for a in option.setting.aliases
    ]


def deprecation_note(alias: Option, value: Any, target: Option, result: Any) -> None:
    """One line on stderr: the deprecated spelling a user gave and the one to use."""
    flag = alias.flags[0]
    given = flag if value is True else f"--no-{flag[2:]}" if value is False else f"{flag} {value}"
    use = f"{target.flags[0]} {result}" if result is not None else target.flags[0]
    print(f"ltrobust: note: {given} is deprecated; use {use}", file=sys.stderr)


class OptionSet:
    """The options of one config object of a command.

    Args:
        source: a config dataclass, or the options themselves.
        only / exclude: field names (top level) to offer or leave out.
        extra_help: text appended to an option's help, by field name.
    """

    def __init__(
        self,
        source: type | Sequence[Option],
        *,
        only: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        extra_help: Mapping[str, str] | None = None,
    ) -> None:
        self.cls = source if isinstance(source, type) else None
        found = options_of(source) if isinstance(source, type) else list(source)
        keep = set(only) if only is not None else None
        skip = set(exclude)
        self.options = [
            o for o in found if (keep is None or o.path[0] in keep) and o.path[0] not in skip
        ]
        self.extra_help = dict(extra_help or {})

    def parameters(self) -> list[inspect.Parameter]:
        return [o.parameter(self.extra_help.get(o.path[-1], "")) for o in self.options]

    def given(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The options a user gave, parsed, as a nested dict of field names."""
        out: dict[str, Any] = {}
        main = {o.path: o for o in self.options if o.alias is None}
        for o in self.options:
            raw = values.get(o.param)
            if raw is None:
                continue
            node = out
            for name in o.path[:-1]:
                node = node.setdefault(name, {})
            if o.alias is None:
                node[o.path[-1]] = o.parse(raw)
            elif values.get(main[o.path].param) is None:  # the current spelling wins
                value = o.alias.to(o.parse(raw), node.get(o.path[-1]))
                deprecation_note(o, raw, main[o.path], value)
                if value is not None:
                    node[o.path[-1]] = value
        return out

    def build(self, values: Mapping[str, Any], **fixed: Any) -> Any:
        """The config dataclass from the given values (defaults elsewhere) and ``fixed``."""
        assert self.cls is not None, "build needs a dataclass source"
        return construct(self.cls, {**self.given(values), **fixed})


def construct(cls: type, given: Mapping[str, Any]) -> Any:
    """``cls(**given)`` with nested dicts turned into their nested dataclasses."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in given:
            continue
        value = given[f.name]
        nested = _dataclass_in(hints[f.name])
        if isinstance(value, dict) and nested is not None:
            value = construct(nested, value)
        kwargs[f.name] = value
    return cls(**kwargs)


def command(
    sets: Mapping[str, OptionSet], *, fixed: Sequence[inspect.Parameter] = ()
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorator: a Typer command calling ``fn(**fixed arguments, **{name: raw values})``.

    The command's parameters are ``fixed`` (Typer arguments and hand-written options) followed
    by every option of ``sets``; ``fn`` receives, for each set, the dict of its raw values
    (pass it to :meth:`OptionSet.build` or :meth:`OptionSet.given`). Bad input anywhere becomes
    one line on stderr and exit code 2.
    """

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        own = [p.name for p in fixed]
        names = {name: [o.param for o in s.options] for name, s in sets.items()}

        def wrapper(**kwargs: Any) -> None:
            call = {k: kwargs[k] for k in own}
            call.update({name: {p: kwargs[p] for p in params} for name, params in names.items()})
            guarded(lambda: fn(**call))

        params = [*fixed, *(p for s in sets.values() for p in s.parameters())]
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
        wrapper.__module__ = fn.__module__
        return wrapper

    return decorate


def argument(name: str, kind: type, help: str, **kwargs: Any) -> inspect.Parameter:
    """A positional Typer argument for :func:`command`'s ``fixed``."""
    info = typer.Argument(help=help, **kwargs)
    return inspect.Parameter(
        name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[kind, info]
    )


def flag_option(
    name: str, kind: Any, default: Any, *decls: str, help: str, **kwargs: Any
) -> inspect.Parameter:
    """A hand-written Typer option (CLI-only settings: output folder, ``--quiet``)."""
    info = typer.Option(*decls, help=help, **kwargs)
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, info]
    )
