"""The training configuration: what a run computes (:class:`TrainConfig`, stored in every
checkpoint) and how it runs (:class:`RunOptions`), each option declared once with its help.

Defaults follow docs/METHODS.md §4 (common: SGD momentum 0.9, lr 0.1, 80 epochs) and each
method's row of :data:`ltrobust.train.registry.METHODS` (batch size, weight decay, inner-attack
steps, the class of its hyper-parameters); :mod:`ltrobust.train.resolve` applies them. This
module is torch-free.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ltrobust.errors import ConfigError
from ltrobust.settings import (
    PRECISIONS,
    TRAIN_AMP,
    amp_precision,
    batch_size_setting,
    data_dir_setting,
    device_setting,
    precision_setting,
    seed_setting,
    setting,
)
from ltrobust.train.method_options import options_type
from ltrobust.train.options import MethodOptions, flag
from ltrobust.train.schedule import (
    DEFAULT_LR_STEPS,
    RECIPE_LR_STEPS,
    check_peak_lr,
    parse_lr_steps,
)
from ltrobust.values import parse_number

AUGMENTS = ("none", "autoaugment", "randaugment")
#: SGD scales every weight by (1 - lr x weight decay) per step: above 1 the decay is no longer a
#: regulariser (the recipes use 2e-4 to 5e-4), and a huge one overflows float32 at step 1
MAX_WEIGHT_DECAY = 1.0
#: the methods whose rows set the CMO/AFR recipe (docs/METHODS.md §4.1)
_RECIPE = "ce, cmo, afr"
TRAIN = "Training"
RUN = "Run"


def _fraction(flag_name: str) -> Any:
    return lambda text: parse_number(text, name=flag_name)


@dataclass
class TrainConfig:
    """Everything that determines a training run's result (stored in checkpoints).

    ``options`` holds the method's hyper-parameters as its options class
    (:data:`~ltrobust.train.method_options.METHOD_OPTIONS`: e.g. ``loss``, ``la_tau``, ``beta``,
    ``tau_p``), already resolved (presets applied); not given, the class's defaults; a mapping
    (the stored form) is read by name. Run-time choices that do not change the
    result (device, output folder, progress) are :class:`RunOptions`.
    """

    method: str = setting(help="Training method:", panel=TRAIN)
    dataset: str = setting(
        help="cifar10-lt, cifar100-lt, fashion-mnist-lt or tensors:FILE.pt / folder:PATH.",
        panel=TRAIN,
    )
    arch: str = setting(
        help="Architecture (default: small_cnn for fashion-mnist-lt, else resnet18).", panel=TRAIN
    )
    epochs: int = setting(
        80,
        help="Epochs of the run (afr: both stages).",
        show="80; ce, cmo 200; afr 250",
        panel=TRAIN,
    )
    lr: float = setting(0.1, help="SGD learning rate.", panel=TRAIN)
    warmup_epochs: int = setting(
        0,
        help="Linear lr warm-up: epoch t <= W trains at lr x t/W (LDAM-DRW, CMO).",
        show=f"0; {_RECIPE} 5",
        panel=TRAIN,
    )
    lr_steps: str | None = setting(
        None,
        help="lr x FACTOR after epoch EPOCH: EPOCH:FACTOR,... where EPOCH may be P% of the "
        "epochs (afr: of stage 1), e.g. 160:0.01,180:0.0001 (CMO, AFR).",
        parse=parse_lr_steps,
        show=f"{DEFAULT_LR_STEPS}; {_RECIPE} {RECIPE_LR_STEPS}",
        panel=TRAIN,
    )
    momentum: float = setting(0.9, help="SGD momentum.", panel=TRAIN)
    weight_decay: float = setting(5e-4, help="Weight decay.", show="method's", panel=TRAIN)
    batch_size: int = batch_size_setting(128, panel=TRAIN, show="method's")
    eps: float = setting(
        8 / 255,
        help="L-inf budget of the inner attack, e.g. 8/255.",
        parse=_fraction("--eps"),
        show="dataset's",
        panel=TRAIN,
    )
    attack_step: float = setting(
        2 / 255,
        help="Inner attack step size.",
        parse=_fraction("--attack-step"),
        show="dataset's",
        panel=TRAIN,
    )
    attack_steps: int = setting(10, help="Inner attack steps.", show="method's", panel=TRAIN)
    seed: int = seed_setting(panel=TRAIN)
    precision: str = precision_setting(panel=TRAIN, aliases=TRAIN_AMP)
    imbalance_ratio: float | None = setting(
        None, help="n_max / n_min of the training profile.", show="dataset's", panel=TRAIN
    )
    n_max: int | None = setting(
        None, help="Training images of the head class.", show="dataset's", panel=TRAIN
    )
    crop_padding: int = setting(
        0, help="Random-crop padding (0 for custom data).", show="dataset's", panel=TRAIN
    )
    hflip: bool = setting(False, help="Random horizontal flips.", show="dataset's", panel=TRAIN)
    augment: str = setting(
        "none",
        help="Policy after crop and flip: autoaugment (torchvision, CIFAR-10 policy) or "
        "randaugment (--randaugment-n ops of magnitude --randaugment-m). afr: stage 1 only.",
        choices=AUGMENTS,
        panel=TRAIN,
    )
    randaugment_n: int = setting(2, help="RandAugment: operations per image N.", panel=TRAIN)
    randaugment_m: int = setting(9, help="RandAugment: magnitude M (0-30).", panel=TRAIN)
    cutout: int = setting(
        0,
        help="Cutout: zero one SIZE x SIZE square per image after the policy (CMO, AFR: 16); "
        "0 = none. afr: stage 1 only.",
        panel=TRAIN,
    )
    test_dataset: str | None = setting(
        None, help="Monitoring test set for custom training data (tensors:FILE.pt).", panel=TRAIN
    )
    monitor_n: int = setting(1000, help="Test images monitored each epoch, 0 = none.", panel=TRAIN)
    monitor_attack: str = setting("pgd20", help="Monitoring attack, pgdN.", panel=TRAIN)
    options: MethodOptions = field(default_factory=MethodOptions)

    def __post_init__(self) -> None:
        """Make ``options`` the method's options class (ConfigError: an unknown method, an
        unknown option name, an invalid value, another method's options class)."""
        kind = options_type(self.method)
        if isinstance(self.options, Mapping):
            self.options = kind.from_dict(self.options, self.method)
        elif type(self.options) is MethodOptions:
            self.options = kind()
        elif type(self.options) is not kind:
            raise ConfigError(
                f"--method {self.method} takes {kind.__name__}, not {type(self.options).__name__}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-like), as stored in checkpoints (``options`` flat, by name)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output (an older one's ``amp``/``amp_dtype`` read as
        ``precision``); unknown or missing keys raise ConfigError."""
        data = _legacy_precision(data)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"stored training config has unknown keys: {', '.join(unknown)}")
        missing = sorted({"method", "dataset", "arch"} - set(data))
        if missing:
            raise ConfigError(f"stored training config is incomplete: missing {', '.join(missing)}")
        try:
            return cls(**{**data, "options": dict(data.get("options") or {})})
        except TypeError as exc:
            raise ConfigError(f"stored training config is incomplete: {exc}") from None

    @property
    def amp(self) -> bool:
        """Whether the steps run under autocast (``precision`` is not fp32)."""
        return self.precision != "fp32"

    @property
    def amp_dtype(self) -> str:
        """The autocast dtype's name for :mod:`ltrobust.runtime.precision` (auto, fp16, bf16)."""
        return "auto" if self.precision == "fp32" else self.precision

    def flat(self) -> dict[str, Any]:
        """Common keys and method options in one dict (options under their own names)."""
        out = {k: v for k, v in self.to_dict().items() if k != "options"}
        out.update(self.options.to_dict())
        return out

    def validate(self) -> None:
        """Raise :class:`ConfigError` with a one-line message for an invalid value."""
        from ltrobust.models.registry import get_builder

        get_builder(self.arch)  # unknown architecture: ConfigError listing the valid ones
        for key in ("epochs", "batch_size", "attack_steps"):
            _positive_int(getattr(self, key), key)
        _positive_float(self.attack_step, "attack_step")
        if not 0 < self.eps <= 1:
            raise ConfigError(f"--eps must be in (0, 1] for [0, 1] pixels, got {self.eps:g}")
        self._check_optimizer()
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"unknown --precision {self.precision!r}; valid: {', '.join(PRECISIONS)}"
            )
        if min(self.crop_padding, self.monitor_n, self.warmup_epochs, self.cutout) < 0:
            raise ConfigError(
                "--crop-padding, --monitor-n, --warmup-epochs and --cutout must be >= 0"
            )
        if self.augment not in AUGMENTS:
            raise ConfigError(f"unknown --augment {self.augment!r}; valid: {', '.join(AUGMENTS)}")
        if self.randaugment_n < 1 or not 0 <= self.randaugment_m <= 30:
            raise ConfigError("--randaugment-n must be >= 1 and --randaugment-m in 0..30")
        if self.lr_steps is not None:
            self.lr_steps = parse_lr_steps(self.lr_steps)
        check_peak_lr(self.lr, self.lr_steps)
        if not re.fullmatch(r"pgd[1-9]\d{0,4}", self.monitor_attack):
            raise ConfigError(f"--monitor-attack must be pgdN, got {self.monitor_attack!r}")

    def _check_optimizer(self) -> None:
        """SGD's momentum in [0, 1) (1 or more never forgets a gradient) and weight decay in
        [0, :data:`MAX_WEIGHT_DECAY`]; the lr is checked with its steps (``check_peak_lr``)."""
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise ConfigError(f"--momentum must be in [0, 1), got {self.momentum:g}")
        wd = self.weight_decay
        if not (math.isfinite(wd) and 0 <= wd <= MAX_WEIGHT_DECAY):
            raise ConfigError(f"--weight-decay must be in [0, {MAX_WEIGHT_DECAY:g}], got {wd:g}")


SAVE_FORMATS = ("pt", "safetensors")


@dataclass
class RunOptions:
    """How to run (not part of the result's definition, so not compared on resume).

    ``save_format`` None: ``pt`` for a new run; a resumed run keeps the format it was started
    with (stored in ``last.pt``), so that it writes the files the first command asked for.
    """

    out: Path = setting(
        help="Output folder [checkpoints/<method>-<dataset>-<arch>; with --resume its folder].",
        panel=RUN,
    )
    device: str = device_setting(panel=RUN)
    data_dir: str | None = data_dir_setting(panel=RUN)
    resume: Path | None = setting(None, help="Continue the run of this last.pt exactly.", panel=RUN)
    stop_after: int | None = setting(
        None, help="Stop after this epoch (continue later with --resume).", panel=RUN
    )
    overwrite: bool = setting(False, help="Start afresh even if --out holds a run.", panel=RUN)
    save_format: str | None = setting(
        None,
        help="pt: final.pt; safetensors: also final.safetensors (the same checkpoint, ltrobust's "
        "metadata in its header; needs the safetensors package).",
        show="pt; with --resume the run's",
        choices=SAVE_FORMATS,
        panel=RUN,
    )
    command: str | None = None
    eval_batch_size: int = 256


def _legacy_precision(data: dict[str, Any]) -> dict[str, Any]:
    """A stored config with the old ``amp`` (bool) and ``amp_dtype`` keys as one with
    ``precision``."""
    if "amp" not in data and "amp_dtype" not in data:
        return data
    out = {k: v for k, v in data.items() if k not in ("amp", "amp_dtype")}
    out.setdefault("precision", amp_precision(bool(data.get("amp")), data.get("amp_dtype")))
    return out


def _positive_int(value: object, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{flag(key)} must be a positive integer, got {value!r}")


def _positive_float(value: float, key: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag(key)} must be a positive number, got {value}")
