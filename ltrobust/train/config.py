"""The training configuration: one dataclass, resolved from explicit options and defaults.

Defaults follow METHODS.md §4 (common: SGD momentum 0.9, lr 0.1, 80 epochs) and each method's
class attributes (batch size, weight decay, inner-attack steps, hyper-parameters). The threat
model defaults to the dataset's (METHODS §1); custom data gets L-inf 8/255 with step 2/255.
A configuration is stored in every checkpoint; resuming compares it key by key.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ltrobust.data import get_spec, is_custom
from ltrobust.errors import ConfigError

#: eps and step for custom datasets (as the audit uses)
CUSTOM_EPS_STEP = (8 / 255, 2 / 255)
#: keys that are common to every method (the rest are method options)
COMMON_KEYS = (
    "arch",
    "epochs",
    "lr",
    "momentum",
    "weight_decay",
    "batch_size",
    "eps",
    "attack_step",
    "attack_steps",
    "seed",
    "amp",
    "amp_dtype",
    "imbalance_ratio",
    "n_max",
    "crop_padding",
    "hflip",
    "test_dataset",
    "monitor_n",
    "monitor_attack",
)
AMP_DTYPES = ("auto", "fp16", "bf16")


def flag(key: str) -> str:
    """The CLI spelling of a config key: ``tau_p`` -> ``--tau-p``."""
    return "--" + key.replace("_", "-")


@dataclass
class TrainConfig:
    """Everything that determines a training run's result (stored in checkpoints).

    ``options`` holds the method's hyper-parameters (e.g. ``loss``, ``la_tau``, ``beta``,
    ``tau_p``), already resolved (presets applied). Run-time choices that do not change the
    result's definition (device, output folder, progress) are not part of it.
    """

    method: str
    dataset: str
    arch: str
    epochs: int = 80
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    eps: float = 8 / 255
    attack_step: float = 2 / 255
    attack_steps: int = 10
    seed: int = 0
    amp: bool = False
    amp_dtype: str = "auto"
    imbalance_ratio: float | None = None
    n_max: int | None = None
    crop_padding: int = 0
    hflip: bool = False
    test_dataset: str | None = None
    monitor_n: int = 1000
    monitor_attack: str = "pgd20"
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-like), as stored in checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output; unknown or missing keys raise ConfigError."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"stored training config has unknown keys: {', '.join(unknown)}")
        try:
            return cls(**{**data, "options": dict(data.get("options") or {})})
        except TypeError as exc:
            raise ConfigError(f"stored training config is incomplete: {exc}") from None

    def flat(self) -> dict[str, Any]:
        """Common keys and method options in one dict (options under their own names)."""
        out = {k: v for k, v in self.to_dict().items() if k != "options"}
        out.update(self.options)
        return out

    def validate(self) -> None:
        """Raise :class:`ConfigError` with a one-line message for an invalid value."""
        from ltrobust.models.registry import get_builder

        get_builder(self.arch)  # unknown architecture: ConfigError listing the valid ones
        _positive_int(self.epochs, "epochs")
        _positive_int(self.batch_size, "batch_size")
        _positive_int(self.attack_steps, "attack_steps")
        for key in ("lr", "attack_step"):
            _positive_float(getattr(self, key), key)
        if not 0 < self.eps <= 1:
            raise ConfigError(f"--eps must be in (0, 1] for [0, 1] pixels, got {self.eps:g}")
        for key in ("momentum", "weight_decay"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{flag(key)} must be >= 0, got {value}")
        if self.amp_dtype not in AMP_DTYPES:
            raise ConfigError(f"unknown --amp-dtype {self.amp_dtype!r}; valid: auto, fp16, bf16")
        if self.crop_padding < 0 or self.monitor_n < 0:
            raise ConfigError("--crop-padding and --monitor-n must be >= 0")
        if not re.fullmatch(r"pgd[1-9]\d{0,4}", self.monitor_attack):
            raise ConfigError(f"--monitor-attack must be pgdN, got {self.monitor_attack!r}")


def _positive_int(value: object, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{flag(key)} must be a positive integer, got {value!r}")


def _positive_float(value: float, key: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag(key)} must be a positive number, got {value}")


def default_arch(dataset: str) -> str:
    """``small_cnn`` for Fashion-MNIST-LT, ``resnet18`` for everything else."""
    return "small_cnn" if dataset == "fashion-mnist-lt" else "resnet18"


def _dataset_defaults(dataset: str) -> dict[str, Any]:
    if is_custom(dataset):
        eps, step = CUSTOM_EPS_STEP
        return {"eps": eps, "attack_step": step, "crop_padding": 0, "hflip": False}
    spec = get_spec(dataset)  # ConfigError listing the valid names
    return {
        "eps": spec.eps_linf,
        "attack_step": spec.step_linf,
        "crop_padding": spec.crop_padding,
        "hflip": spec.hflip,
    }


def _split(method_cls: Any, given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split explicit values into common keys and method options; refuse foreign options."""
    common = {k: v for k, v in given.items() if k in COMMON_KEYS and v is not None}
    options = {k: v for k, v in given.items() if k not in COMMON_KEYS and v is not None}
    foreign = [k for k in options if k not in method_cls.option_defaults]
    if foreign:
        valid = ", ".join(flag(k) for k in method_cls.option_defaults) or "none"
        raise ConfigError(
            f"{', '.join(flag(k) for k in foreign)} does not apply to --method "
            f"{method_cls.name}; its options: {valid}"
        )
    return common, options


def resolve_config(method: str, dataset: str, given: dict[str, Any]) -> TrainConfig:
    """A validated :class:`TrainConfig` from explicit values (None = not given) and defaults.

    When ``eps`` is given but not ``attack_step``, the step keeps the default step/eps ratio.

    Raises:
        ConfigError: unknown method, dataset, option or preset; an option of another method;
            an invalid value.
    """
    from ltrobust.train.registry import get_method_class

    method_cls = get_method_class(method)
    defaults = _dataset_defaults(dataset)
    common, options = _split(method_cls, given)
    if "eps" in common and "attack_step" not in common:
        common["attack_step"] = common["eps"] * defaults["attack_step"] / defaults["eps"]
    values: dict[str, Any] = {
        "arch": default_arch(dataset),
        "batch_size": method_cls.batch_size,
        "weight_decay": method_cls.weight_decay,
        "attack_steps": method_cls.attack_steps,
        **defaults,
        **common,
    }
    config = TrainConfig(
        method=method,
        dataset=dataset,
        options=method_cls.resolve_options(options, dataset),
        **values,
    )
    config.validate()
    return config


def resume_differences(stored: TrainConfig, given: dict[str, Any]) -> list[str]:
    """``"--key given (checkpoint: stored)"`` for every explicit value that differs."""
    flat = stored.flat()
    diffs = []
    for key, value in given.items():
        if value is None:
            continue
        old = flat.get(key)
        same = old == value or (
            isinstance(old, float) and isinstance(value, (int, float)) and old == float(value)
        )
        if not same:
            diffs.append(f"{flag(key)} {value} (checkpoint: {old})")
    return diffs
