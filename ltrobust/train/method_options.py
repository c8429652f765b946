"""Each training method's options class (docs/METHODS.md §4), built from the shared groups of
:mod:`ltrobust.train.options`, and :data:`METHOD_OPTIONS`, the class of every method by name,
with which a stored configuration is read back. This module is torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ltrobust.errors import ConfigError
from ltrobust.train.options import (
    AFR_PRESETS,
    PRESETS,
    SPLIT_RULES,
    TAIL_FORMS,
    LossOptions,
    MethodOptions,
    MixOptions,
    PresetOption,
    flag,
    hyper,
    is_count,
    number_parser,
    with_default,
)
from ltrobust.train.schedule import check_peak_lr, parse_lr_steps

_BETA_HELP = "Weight of the KL term."


@dataclass(frozen=True)
class TradesOptions(MethodOptions):
    """``trades``: the weight of its KL term."""

    beta: float = hyper(6.0, _BETA_HELP)

    def check(self) -> None:
        super().check()
        if self.beta < 0:
            raise ConfigError(f"--beta must be >= 0, got {self.beta}")


def _robal(key: str, help: str, **kwargs: Any) -> Any:
    """A RoBal option whose default is the ``cifar10-N`` preset's value."""
    return hyper(PRESETS["cifar10-N"][key], help, show="preset", **kwargs)


@dataclass(frozen=True)
class RobalOptions(PresetOption):
    """``robal``: its head, margins, biases and KL weight; the values not given come from the
    preset (by default the dataset's ``N`` preset)."""

    head_scale: float = hyper(10.0, "Cosine scale s.")
    m0: float = _robal("m0", "Uniform margin m0.")
    tau_m: float = _robal("tau_m", "Class-aware margin tau_m.")
    tau_b: float = _robal("tau_b", "Training bias tau_b.")
    beta: float = _robal("beta", _BETA_HELP)
    head_gamma: float = _robal(
        "head_gamma", "Gamma of the weight norms, e.g. 1/32.", parse=number_parser("--head-gamma")
    )
    tau_p: float = _robal("tau_p", "Inference bias tau_p (stored in the checkpoint).")

    def check(self) -> None:
        super().check()
        if self.head_scale <= 0 or self.head_gamma < 0:
            raise ConfigError("--head-scale must be > 0 and --head-gamma >= 0")
        if self.beta < 0:
            raise ConfigError(f"--beta must be >= 0, got {self.beta}")

    @classmethod
    def resolve(cls, given: Mapping[str, Any], dataset: str) -> RobalOptions:
        preset = given.get("preset")
        if preset is not None:
            preset = find_preset(preset)
            if preset_dataset(preset) != dataset:
                raise ConfigError(
                    f"RoBal preset {preset} is for {preset_dataset(preset)}, not {dataset}; "
                    "give the hyper-parameters as options instead"
                )
            base = PRESETS[preset]
        else:
            base = PRESETS["cifar100-N" if dataset == "cifar100-lt" else "cifar10-N"]
        return cls.from_dict({**base, **given, "preset": preset})


def preset_dataset(preset: str) -> str:
    """The dataset a RoBal preset was tuned for: ``cifar10-R`` -> ``cifar10-lt``."""
    return preset.split("-", 1)[0] + "-lt"


def find_preset(name: object) -> str:
    """The canonical RoBal preset name (case-insensitive match) or ConfigError listing them."""
    for key in PRESETS:
        if isinstance(name, str) and key.lower() == name.strip().lower():
            return key
    raise ConfigError(f"unknown RoBal preset {name!r}; valid: {', '.join(PRESETS)}")


@dataclass(frozen=True)
class ReatOptions(LossOptions):
    """``reat``: the outer loss (default Balanced Softmax) and the form of TAIL."""

    loss: str = with_default(LossOptions, "loss", "bsl")
    tail_form: str = hyper(
        "official", "TAIL as the official code or the paper.", choices=TAIL_FORMS
    )

    def check(self) -> None:
        super().check()
        if self.tail_form not in TAIL_FORMS:
            raise ConfigError(
                f"unknown --tail-form {self.tail_form!r}; valid: {', '.join(TAIL_FORMS)}"
            )


@dataclass(frozen=True)
class CmoOptions(MixOptions, LossOptions):
    """``cmo``: the outer loss and CMO's mixing."""


@dataclass(frozen=True)
class AfrOptions(MixOptions, LossOptions, PresetOption):
    """``afr`` (docs/METHODS.md §4.7: every gap of the paper and its decision): the outer loss
    (default Balanced Softmax), CMO's mixing of stage 1 and stage 2's re-calibration."""

    loss: str = with_default(LossOptions, "loss", "bsl")
    init: str | None = hyper(
        None,
        "afr: stage 2 alone, from this stage-1 checkpoint (e.g. final.pt of --method cmo --loss "
        "bsl); --epochs then counts stage 2 only.",
    )
    stage2_epochs: int = hyper(50, "afr: epochs of stage 2 (the last of --epochs).")
    stage2_lr: float = hyper(
        0.01,
        "afr: lr of stage 2 (the paper gives none; we restart at a tenth of stage 1's lr).",
        parse=number_parser("--stage2-lr"),
    )
    stage2_lr_steps: str = hyper(
        "80%:0.1,90%:0.01",
        "afr: lr steps of stage 2, as --lr-steps (percentages of stage 2).",
        parse=parse_lr_steps,
    )
    regen_every: int = hyper(10, "afr: rebuild the re-calibrated set every N stage-2 epochs.")
    afr_lambda: float = hyper(
        0.8,
        "afr: cosine threshold lambda; a sample whose embedding has cosine < lambda with its "
        "class mean is minority (the text of §3.1; Eq. 2 prints the labels the other way).",
    )
    afr_split: str = hyper(
        "text",
        "afr: text = minority below the threshold (§3.1's text, Fig. 3); eq2 = Eq. 2 as printed.",
        choices=SPLIT_RULES,
    )
    afr_adapt_at: float = hyper(
        0.6,
        "afr: training accuracy from which a class below it uses its own accuracy as threshold "
        "(§3.3: 'between 60% and 70%').",
    )
    afr_share: float = hyper(
        0.5,
        "afr: share of each class's majority samples perturbed, exactly round(share x count); "
        "none in a class without minority samples.",
    )
    afr_mix: float = hyper(
        0.25,
        "afr: share of each stage-2 batch that gets a CutMix patch from the re-calibrated set.",
    )
    afr_steps: int = hyper(
        3,
        "afr: targeted PGD steps towards the class's minority (budget steps x step: the "
        "paper's eps 0.6 is out of reach).",
    )
    afr_step: float = hyper(
        1 / 255,
        "afr: PGD step size, e.g. 1/255 (from x itself, no random start).",
        parse=number_parser("--afr-step"),
        show="1/255",
    )
    afr_head_steps: int = hyper(
        100, "afr: Adam steps fitting the 2C-way majority/minority head on frozen features."
    )

    def check(self) -> None:
        super().check()
        for key, value, low, high in (
            ("afr_lambda", self.afr_lambda, -1.0, 1.0),
            ("afr_adapt_at", self.afr_adapt_at, 0.0, 1.0),
            ("afr_share", self.afr_share, 0.0, 1.0),
            ("afr_mix", self.afr_mix, 0.0, 1.0),
            ("afr_step", self.afr_step, 1e-12, 1.0),
        ):
            if not low <= value <= high:
                raise ConfigError(f"{flag(key)} must be in [{low:g}, {high:g}]")
        for key, count in (
            ("stage2_epochs", self.stage2_epochs),
            ("regen_every", self.regen_every),
            ("afr_steps", self.afr_steps),
        ):
            if not is_count(count, 1):
                raise ConfigError(f"{flag(key)} must be a positive integer")
        if not is_count(self.afr_head_steps, 0):
            raise ConfigError("--afr-head-steps must be >= 0")
        if self.afr_split not in SPLIT_RULES:
            raise ConfigError(
                f"unknown --afr-split {self.afr_split!r}; valid: {', '.join(SPLIT_RULES)}"
            )
        check_peak_lr(self.stage2_lr, self.stage2_lr_steps, "--stage2-lr", "--stage2-lr-steps")

    @classmethod
    def resolve(cls, given: Mapping[str, Any], dataset: str) -> AfrOptions:
        preset = given.get("preset")
        base: dict[str, Any] = {}
        if preset is not None:
            preset = find_afr_preset(preset, dataset)
            base = AFR_PRESETS[preset]["options"]
        return cls.from_dict({**base, **given, "preset": preset})


def find_afr_preset(name: object, dataset: str) -> str:
    """The canonical AFR preset name; ConfigError for an unknown one or another dataset's."""
    key = name.strip().lower() if isinstance(name, str) else ""
    if key not in AFR_PRESETS:
        raise ConfigError(f"unknown AFR preset {name!r}; valid: {', '.join(AFR_PRESETS)}")
    if AFR_PRESETS[key]["dataset"] != dataset:
        raise ConfigError(
            f"AFR preset {key} is for {AFR_PRESETS[key]['dataset']}, not {dataset}; give the "
            "values as options instead"
        )
    return key


#: each method's options class, by the method's name (its row of the method table names the
#: same class; a stored configuration is read back with it)
METHOD_OPTIONS: dict[str, type[MethodOptions]] = {
    "at": LossOptions,
    "trades": TradesOptions,
    "robal": RobalOptions,
    "reat": ReatOptions,
    "ce": LossOptions,
    "cmo": CmoOptions,
    "afr": AfrOptions,
}


def options_type(method: str) -> type[MethodOptions]:
    """The options class of ``method``; ConfigError listing the methods otherwise."""
    if method not in METHOD_OPTIONS:
        raise ConfigError(f"unknown training method {method!r}; valid: {', '.join(METHOD_OPTIONS)}")
    return METHOD_OPTIONS[method]
