"""Options declared once: a config field carries its help text and how to read it from text.

A configuration is a dataclass whose fields are made with :func:`setting`; the metadata
(:class:`Setting`) says how the option is offered to users: its help, its CLI spellings, the
parser of its text form, its closed set of choices. The CLI builds its options from it
(:mod:`ltrobust.cli.options`) and the Python API takes the same dataclass, so an option is
declared in exactly one place; a training method's hyper-parameters are the fields of its
options dataclass (:mod:`ltrobust.train.method_options`).

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
        aliases: deprecated spellings still accepted (:class:`Alias`).
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
    aliases: tuple[Alias, ...] = ()


@dataclass(frozen=True)
class Alias:
    """A deprecated spelling of an option, still accepted (hidden from ``--help``, with a
    one-line note on stderr).

    Attributes:
        flag: its CLI spelling (a ``bool`` alias also takes ``--no-...``).
        kind: ``bool`` for a switch, ``str`` for text.
        choices: its closed set of values (text aliases).
        to: the option's value from the alias's value and the option's value so far (None: not
            given yet); None leaves the option unset. Aliases apply in their declared order.
    """

    flag: str
    kind: type = str
    choices: tuple[str, ...] = ()
    to: Callable[[Any, Any], Any] = lambda value, current: value


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


# -- the options audit, train and bench share, declared once ------------------------------------

#: every value of ``--precision``: float32, bfloat16 or float16 autocast, or auto (float16 with a
#: gradient scaler on CUDA, bfloat16 elsewhere)
PRECISIONS = ("fp32", "bf16", "fp16", "auto")


def device_setting(panel: str | None = None) -> Any:
    """``--device``."""
    return setting(
        "auto", help="auto, cpu, cuda or cuda:N (under torchrun: cuda:LOCAL_RANK).", panel=panel
    )


def data_dir_setting(panel: str | None = None) -> Any:
    """``--data-dir``."""
    return setting(None, help="Where the dataset files are.", panel=panel)


def seed_setting(panel: str | None = None) -> Any:
    """``--seed``."""
    return setting(
        0,
        help="Seed of every random draw: weights, data order and subsets, augmentation, "
        "random starts.",
        panel=panel,
    )


def batch_size_setting(
    default: int | None, panel: str | None = None, show: str | None = None
) -> Any:
    """``--batch-size`` (``show``: the default as ``--help`` shows it)."""
    return setting(
        default,
        help="Samples per batch (an audit's results do not depend on it, except AutoAttack's).",
        show=show,
        panel=panel,
    )


def precision_setting(
    default: str = "fp32",
    *,
    choices: tuple[str, ...] = PRECISIONS,
    panel: str | None = None,
    flags: tuple[str, ...] = (),
    aliases: tuple[Alias, ...] = (),
) -> Any:
    """``--precision``: one spelling wherever a command runs forward and backward passes."""
    return setting(
        default,
        help="fp32; bf16 or fp16: autocast in that dtype; auto: fp16 with a gradient scaler on "
        "CUDA, bf16 elsewhere. An audit iterates its attacks under it and re-checks every final "
        "adversarial example in float32 (AutoAttack always runs in float32).",
        choices=choices,
        flags=flags,
        panel=panel,
        aliases=aliases,
    )


def amp_precision(enabled: bool | None, dtype: str | None = None) -> str | None:
    """The precision of the old training spelling ``--amp`` (on or off) with ``--amp-dtype``
    (auto, fp16 or bf16); None when neither says."""
    if enabled is None:
        return None
    return (dtype or "auto") if enabled else "fp32"


def precision_of_amp(amp: str) -> str:
    """The precision of the old audit spelling ``--amp none|bf16``."""
    return "fp32" if amp == "none" else amp


def amp_of_precision(precision: str) -> str:
    """The old audit spelling of ``precision`` (``none`` or ``bf16``), as reports store it."""
    return "none" if precision == "fp32" else precision


#: the old audit spelling, ``--amp none|bf16``
AUDIT_AMP = Alias("--amp", str, ("none", "bf16"), lambda value, _: precision_of_amp(value))
#: the old training spellings, ``--amp/--no-amp`` and ``--amp-dtype auto|fp16|bf16``
TRAIN_AMP = (
    Alias("--amp", bool, (), lambda on, current: amp_precision(on, _dtype_of(current))),
    Alias(
        "--amp-dtype",
        str,
        ("auto", "fp16", "bf16"),
        lambda dtype, current: current if current in (None, "fp32") else dtype,
    ),
)


def _dtype_of(precision: str | None) -> str | None:
    return None if precision in (None, "fp32") else precision
