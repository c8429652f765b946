"""``--config run.toml`` and ``--print-config``: a command's options kept in a TOML file.

The keys are the option names, as on the command line without ``--`` (``class-counts`` or
``class_counts``) or as the config field (``diagnose``, ``load.arch``); a table ``[load]``
holds the options of that nested config. Values take the command line's text (``eps =
"8/255"``) or TOML's own types (``eps = 0.03``, ``attacks = ["fgsm", "pgd20"]``, ``class_counts
= [5000, 2997, ...]``). The command line overrides the file; an unknown key is refused with the
nearest valid one. :func:`to_toml` writes every option of a config (the ``--print-config``
output), which read back gives the same config.
"""

from __future__ import annotations

import difflib
import importlib
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from ltrobust.cli.options import Option, OptionSet, construct, flag_option
from ltrobust.errors import ConfigError

#: options whose TOML value may be a list or table of counts instead of a counts file
COUNTS = "class_counts"


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML file ``path`` as a dict; a missing or malformed file is one ConfigError line."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--config {file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {file}: cannot read ({type(exc).__name__})") from None
    try:  # Python 3.11's tomllib (the package supports 3.10, where --config is refused)
        tomllib = importlib.import_module("tomllib")
    except ImportError:
        raise ConfigError("--config needs Python 3.11 or later (tomllib)") from None
    try:
        table: dict[str, Any] = tomllib.loads(text)
        return table
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {file}: not valid TOML ({exc})") from None


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"load": {"arch": x}}`` -> ``{"load.arch": x}``; a class-counts table stays whole."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and _norm(key) != COUNTS:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _norm(key: str) -> str:
    return key.strip().replace("-", "_")


def _names(option: Option) -> set[str]:
    """Every key that names ``option``: its flags without ``--``, its field and field path."""
    names = {_norm(f[2:]) for f in option.flags}
    return names | {".".join(option.path), option.path[-1]}


def _index(options: Sequence[Option]) -> dict[str, Option]:
    out: dict[str, Option] = {}
    for o in options:
        for name in _names(o):
            out.setdefault(name, o)
    return out


def file_values(
    table: Mapping[str, Any], options: Sequence[Option], where: str = "--config"
) -> dict[str, Any]:
    """The options of a ``--config`` file's ``table`` as raw command-line values, by
    parameter name."""
    index = _index(options)
    out: dict[str, Any] = {}
    for key, value in _flatten(table).items():
        option = index.get(_norm(key))
        if option is None:
            near = difflib.get_close_matches(_norm(key), sorted(index), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
        raw = _raw(option, value, f"{where}: {key}")
        if raw is not None:
            out[option.param] = raw
    return out


def _raw(option: Option, value: Any, where: str) -> Any:
    """A TOML value as the command line would give it (text for parsed options)."""
    if option.kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a {option.metavar().lower()}, got {value!r}")
    if option.path[-1] == COUNTS and isinstance(value, (list, dict)):
        return _Counts(value)
    if option.kind is int:
        if not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else None
    if isinstance(value, (dict, list)) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{where}: expected a value, got {type(value).__name__}")
    return value if option.kind is float else str(value)


class _Counts:
    """Class counts written in the file itself (a list or a table), already typed."""

    def __init__(self, value: list[Any] | dict[str, Any]) -> None:
        self.value = value


def merged_values(
    table: Mapping[str, Any], cli: Mapping[str, Any], options: OptionSet, where: str = "--config"
) -> Any:
    """``options``' config from a ``--config`` file's ``table`` with the command line ``cli``
    (raw values by parameter, None = not given) taking precedence."""
    raw = file_values(table, options.options, where)
    given = options.given({k: v for k, v in raw.items() if not isinstance(v, _Counts)})
    for o in options.options:
        if isinstance(raw.get(o.param), _Counts):
            given[o.path[-1]] = _check_counts(raw[o.param].value, where)
    _merge(given, options.given(cli))
    assert options.cls is not None
    return construct(options.cls, given)


def _check_counts(value: list[Any] | dict[str, Any], where: str) -> list[int] | dict[str, int]:
    counts = list(value.values()) if isinstance(value, dict) else value
    if not counts or not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        raise ConfigError(f"{where}: class_counts must hold positive integers")
    return dict(value) if isinstance(value, dict) else list(value)


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> None:
    """``top`` into ``base``, nested dicts merged key by key."""
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def to_toml(config: Any, options: Sequence[Option]) -> str:
    """Every option of ``config`` as TOML (keys: the option names); unset ones commented."""
    lines = []
    for o in options:
        if o.alias is not None:  # a deprecated spelling: the option itself is written
            continue
        value: Any = config
        for name in o.path:
            value = getattr(value, name)
        key = _norm(o.flags[0][2:])
        if value is None or value == [] or value == ():
            lines.append(f"# {key} =")
        else:
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """A scalar, a list or a flat table as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"cannot write {value} in TOML")
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return (
            "{" + ", ".join(f"{_quote(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    return _quote(str(value))


def _quote(text: str) -> str:
    """A TOML basic string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    for ch, esc in (("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r")):
        escaped = escaped.replace(ch, esc)
    escaped = "".join(c if ord(c) >= 0x20 and c != "\x7f" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


CONFIG_FILE = flag_option(
    "config_file",
    Path | None,
    None,
    "--config",
    help="Read the options from this TOML file (keys: the option names, e.g. attacks, eps, "
    "class-counts); the command line overrides it.",
    metavar="FILE.toml",
    rich_help_panel="Output",
)
PRINT_CONFIG = flag_option(
    "print_config",
    bool,
    False,
    "--print-config",
    help="Print every option (--config file, command line, defaults) as TOML and exit.",
    rich_help_panel="Output",
)


def configured(
    options: OptionSet,
    values: Mapping[str, Any],
    path: Path | None,
    print_config: bool,
    **fixed: Any,
) -> tuple[Any, dict[str, Any]]:
    """The validated config of ``options`` from the ``--config`` file and the command line, and
    the command's ``fixed`` values (``model``, ``out``; the file's where the command line gave
    None). With ``print_config`` the merged options are printed as TOML and the command exits 0.
    """
    names = {k: k for k in fixed} | {k.replace("_", "-"): k for k in fixed}
    table = read_toml(path) if path is not None else {}
    extra = {names[k]: table.pop(k) for k in list(table) if k in names}
    config = merged_values(table, values, options, f"--config {path}")
    config.validate()
    merged = {k: v if v is not None else extra.get(k) for k, v in fixed.items()}
    if print_config:
        head = [f"{k} = {toml_value(str(v))}" for k, v in merged.items() if v is not None]
        title = "# ltrobust options: use with --config FILE; the command line overrides them"
        sys.stdout.write("\n".join([title, *head, to_toml(config, options.options)]))
        raise typer.Exit(0)
    return config, merged


def with_file(
    path: Path | None, sets: Mapping[str, tuple[OptionSet, Mapping[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """The raw command-line values of several option sets (name -> (set, values)), with the
    ``--config`` file's where the command line gave None (for commands such as ``train`` that
    read the raw values themselves). Counts must be given as a file there."""
    out = {name: dict(values) for name, (_, values) in sets.items()}
    if path is None:
        return out
    every = [o for option_set, _ in sets.values() for o in option_set.options]
    raw = file_values(read_toml(path), every, f"--config {path}")
    for name, (option_set, _) in sets.items():
        for o in option_set.options:
            value = raw.get(o.param)
            if isinstance(value, _Counts):
                raise ConfigError(f"--config {path}: {o.path[-1]}: give a counts file")
            if value is not None and out[name].get(o.param) is None:
                out[name][o.param] = value
    return out
