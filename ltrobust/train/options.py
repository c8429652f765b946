"""The training methods' hyper-parameters as frozen dataclasses (docs/METHODS.md §4): the base
class, the groups several methods share, the presets and the names the options choose from.

Each option is a field declared once with :func:`hyper` (:func:`ltrobust.settings.setting` in
the hyper-parameters' ``--help`` panel: help, parser, choices), from which the CLI builds
``ltrobust train``'s options and ``--help``. Values are checked when the object is made
(:meth:`MethodOptions.check`), so a bad value, or a name the method does not take, is refused
when the run is configured, never at epoch N. The shared groups are classes the methods'
options inherit: :class:`LossOptions` (the outer loss of ``at``, ``reat``, ``ce``, ``cmo`` and
``afr``; all of ``at``'s and ``ce``'s options), :class:`MixOptions` (CMO's mixing, also AFR's
stage 1) and :class:`PresetOption` (``--preset`` of ``robal`` and ``afr``); each method's own
class is in :mod:`ltrobust.train.method_options`. A run stores its options flat, one key per
field (:meth:`MethodOptions.to_dict`). This module is torch-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ltrobust.errors import ConfigError
from ltrobust.settings import setting
from ltrobust.values import parse_number

#: the ``--help`` panel of the method options
HYPER = "Method hyper-parameters"
LOSS_NAMES = ("ce", "bsl", "la", "ldam", "cb", "focal")
TAIL_FORMS = ("official", "paper")
SPLIT_RULES = ("text", "eq2")
_KEYS = ("m0", "tau_m", "tau_b", "beta", "head_gamma", "tau_p")
#: RoBal's presets from its official configs (s = 10; docs/METHODS.md §4)
PRESETS: dict[str, dict[str, float]] = {
    "cifar10-N": dict(zip(_KEYS, (0.1, 0.0, 1.2, 6.0, 1 / 32, 0.1), strict=True)),
    "cifar10-R": dict(zip(_KEYS, (0.1, 0.3, 1.5, 6.0, 1 / 32, 0.0), strict=True)),
    "cifar100-N": dict(zip(_KEYS, (0.2, 0.0, 0.0, 3.0, 1 / 32, 1.5), strict=True)),
    "cifar100-R": dict(zip(_KEYS, (0.3, 0.0, 0.0, 6.0, 1 / 16, 1.7), strict=True)),
}
#: AFR's paper values (§4.1 of the paper; docs/METHODS.md §4.7): the dataset the preset belongs
#: to, the common options and the method options it sets
AFR_PRESETS: dict[str, dict[str, Any]] = {
    "afr-cifar100": {
        "dataset": "cifar100-lt",
        "common": {
            "arch": "resnet32",
            "imbalance_ratio": 100.0,
            "batch_size": 128,
            "lr": 0.1,
            "momentum": 0.9,
            "weight_decay": 2e-4,
            "epochs": 250,
            "warmup_epochs": 5,
            "lr_steps": "160:0.01,180:0.0001",
            "augment": "autoaugment",
            "cutout": 16,
        },
        "options": {
            "loss": "bsl",
            "stage2_epochs": 50,
            "regen_every": 10,
            "afr_steps": 3,
            "afr_step": 1 / 255,
            "afr_lambda": 0.8,
            "afr_share": 0.5,
            "afr_mix": 0.25,
            "mix_beta": 1.0,
        },
    },
}

Opts = TypeVar("Opts", bound="MethodOptions")


def flag(key: str) -> str:
    """The CLI spelling of a config key: ``tau_p`` -> ``--tau-p``."""
    return "--" + key.replace("_", "-")


def hyper(default: Any, help: str, **kwargs: Any) -> Any:
    """A method option: a field whose help goes to the hyper-parameters' ``--help`` panel
    (``kwargs``: the other :class:`~ltrobust.settings.Setting` attributes)."""
    return setting(default, help=help, panel=HYPER, **kwargs)


def number_parser(flag_name: str) -> Callable[[str], float]:
    """The parser of a real-valued option written as a fraction (``1/255``)."""
    return lambda text: parse_number(text, name=flag_name)


def with_default(cls: type, name: str, default: Any) -> Any:
    """The option ``name`` of ``cls`` (its help, parser and choices) with another default."""
    (found,) = (f for f in dataclasses.fields(cls) if f.name == name)
    return dataclasses.field(default=default, metadata=found.metadata)


def is_count(value: object, low: int) -> bool:
    """Whether ``value`` is an integer (not a bool) of at least ``low``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


@dataclass(frozen=True)
class MethodOptions:
    """A method's hyper-parameters (the base: none), checked when made. Values are kept as given
    (an integer for a real-valued option too), so that a run stores what it was given."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise :class:`ConfigError` with one line for an invalid value (subclasses extend it,
        calling it first): a real-valued option must be a number."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "float" and not isinstance(value, (int, float)):
                raise ConfigError(f"{flag(f.name)} must be a number, got {value!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls: type[Opts], data: Mapping[str, Any], method: str | None = None) -> Opts:
        """The options named in ``data`` (the stored, flat form), the others at their defaults;
        a name the class does not have raises :class:`ConfigError` naming it (and ``method``)."""
        names = cls.names()
        unknown = [repr(k) for k in data if k not in names]
        if unknown:
            where = f"--method {method}" if method else cls.__name__
            raise ConfigError(
                f"unknown option {', '.join(unknown)} for {where}; valid: "
                f"{', '.join(names) or 'none'}"
            )
        return cls(**data)

    @classmethod
    def resolve(cls: type[Opts], given: Mapping[str, Any], dataset: str) -> Opts:
        """The options of a run on ``dataset``: the defaults overridden by ``given`` (subclasses
        with presets put the preset's values between them)."""
        return cls.from_dict(given)

    def to_dict(self) -> dict[str, Any]:
        """The stored form: one key per option, in order."""
        return dataclasses.asdict(self)

    def replace(self: Opts, **changes: Any) -> Opts:
        """A copy with ``changes`` (checked)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class LossOptions(MethodOptions):
    """The outer loss (docs/METHODS.md §4.2): all options of ``at`` and ``ce``; ``reat``,
    ``cmo`` and ``afr`` take them too."""

    loss: str = hyper(
        "ce",
        "Outer loss (at, reat: on the adversarial batch; ce, cmo, afr: on the clean, mixed "
        "batch; afr: both stages, the paper names none for stage 2).",
        choices=LOSS_NAMES,
    )
    la_tau: float = hyper(1.0, "la: tau of the logit adjustment.")
    ldam_max_m: float = hyper(0.5, "ldam: largest margin.")
    ldam_scale: float = hyper(1.0, "ldam: logit scale.")
    cb_beta: float = hyper(0.9999, "cb: beta of the effective number.")
    focal_gamma: float = hyper(2.0, "focal: gamma.")

    def check(self) -> None:
        super().check()
        if self.loss not in LOSS_NAMES:
            raise ConfigError(f"unknown loss {self.loss!r}; valid: {', '.join(LOSS_NAMES)}")
        if not 0.0 <= self.cb_beta < 1.0:
            raise ConfigError(f"--cb-beta must be in [0, 1), got {self.cb_beta}")
        if self.ldam_max_m < 0 or self.ldam_scale <= 0:
            raise ConfigError("--ldam-max-m must be >= 0 and --ldam-scale > 0")
        if self.focal_gamma < 0:
            raise ConfigError(f"--focal-gamma must be >= 0, got {self.focal_gamma}")


@dataclass(frozen=True)
class MixOptions(MethodOptions):
    """CMO's mixing (Park et al. 2022; official code values), also AFR's stage 1."""

    mix_prob: float = hyper(
        0.5, "CMO: probability that a batch gets class-balanced CutMix patches."
    )
    mix_beta: float = hyper(1.0, "CutMix: lam ~ Beta(a, a) (cmo, afr stages 1 and 2).")
    cmo_skip_first: int = hyper(
        4, "CMO: no mixing in the first N epochs (official code: start_data_aug 3, 0-based)."
    )
    cmo_skip_last: int = hyper(3, "CMO: no mixing in the last N epochs (of afr's stage 1).")

    def check(self) -> None:
        super().check()
        if not 0.0 <= self.mix_prob <= 1.0:
            raise ConfigError(f"--mix-prob must be in [0, 1], got {self.mix_prob}")
        if not self.mix_beta > 0:
            raise ConfigError(f"--mix-beta must be > 0, got {self.mix_beta}")
        for key, value in (
            ("cmo_skip_first", self.cmo_skip_first),
            ("cmo_skip_last", self.cmo_skip_last),
        ):
            if not is_count(value, 0):
                raise ConfigError(f"{flag(key)} must be an integer >= 0")


@dataclass(frozen=True)
class PresetOption(MethodOptions):
    """``--preset``: a paper's values (RoBal's official configs, AFR's paper)."""

    preset: str | None = hyper(
        None,
        f"The papers' values: robal {', '.join(PRESETS)} (official configs); afr "
        f"{', '.join(AFR_PRESETS)} (dataset, arch, schedule, augmentation and AFR's values).",
    )
