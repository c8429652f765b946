"""What one ``ltrobust bench`` run does, each option declared once (torch-free).

:class:`BenchConfig` holds the architectures timed, the :class:`AttackBenchConfig` of the speed
comparison, the audit and memory runs, and the optional :class:`TrainBenchConfig` (options
prefixed ``--train-``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltrobust.attacks.registry import parse_attack_list
from ltrobust.audit.config import AUDIT_PRECISIONS
from ltrobust.errors import ConfigError
from ltrobust.settings import (
    Alias,
    amp_precision,
    batch_size_setting,
    data_dir_setting,
    device_setting,
    precision_of_amp,
    precision_setting,
    seed_setting,
    setting,
)
from ltrobust.values import parse_number

#: the precisions the attacks can be timed in: float32, and bfloat16 autocast as the audit's
#: ``--precision bf16``
PRECISIONS = ("fp32", "bf16")
#: the old spellings: ``--audit-amp none|bf16`` and ``--train-amp/--no-train-amp``
AUDIT_AMP = Alias("--audit-amp", str, ("none", "bf16"), lambda value, _: precision_of_amp(value))
TRAIN_AMP = Alias("--train-amp", bool, (), lambda on, _: amp_precision(on))
DEFAULT_AUDIT_MODEL = "checkpoints/small_cnn-reat-fmnist-lt.pt"
TIMING = "Attack timing"
AUDIT = "Audit and memory"
TRAIN = "Training epochs"


def parse_shape(text: str) -> tuple[int, int, int] | None:
    """``"3x32x32"`` -> (3, 32, 32); ``"auto"`` -> None (the architecture's default)."""
    if text.strip().lower() == "auto":
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--input-shape: cannot parse {text!r}; use CxHxW like 3x32x32") from None
    if len(shape) != 3 or min(shape) < 1 or shape[1] != shape[2]:
        raise ConfigError(f"--input-shape: need CxHxW with H = W > 0, got {text!r}")
    return (shape[0], shape[1], shape[2])


def parse_sizes(text: str) -> list[int]:
    """``"1000,10000"`` -> [1000, 10000]; ``""``, ``"0"`` or ``"none"`` -> [] (skip)."""
    if text.strip().lower() in ("", "0", "none"):
        return []
    sizes = []
    for part in text.split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise ConfigError(
                f"--memory-n: cannot parse {part!r}; use sizes like 1000,10000"
            ) from None
        if value < 1:
            raise ConfigError(f"--memory-n: sizes must be >= 1, got {value}")
        sizes.append(value)
    return sizes


def _names(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


def _precisions(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _fraction(flag_name: str) -> Any:
    return lambda text: parse_number(text, name=flag_name)


@dataclass
class AttackBenchConfig:
    """Settings of one speed comparison (the same for every architecture)."""

    batch_size: int = batch_size_setting(256, panel=TIMING)
    steps: int = setting(20, help="PGD steps k; the floor is k passes.", panel=TIMING)
    repeats: int = setting(5, help="Timed rounds per architecture.", panel=TIMING)
    warmup: int = setting(1, help="Untimed rounds first.", panel=TIMING)
    eps: float = setting(
        8 / 255, help="L-inf budget of the timed PGD.", parse=_fraction("--eps"), show="8/255",
        panel=TIMING,
    )  # fmt: skip
    step_size: float = setting(
        2 / 255, flags=("--step",), help="Step size of the timed PGD.", parse=_fraction("--step"),
        show="2/255", panel=TIMING,
    )  # fmt: skip
    seed: int = seed_setting(panel=TIMING)
    input_shape: tuple[int, int, int] | None = setting(
        None,
        help="CxHxW of the timed batch; auto: 1x28x28 for small_cnn, else 3x32x32.",
        parse=parse_shape,
        show="auto",
        panel=TIMING,
    )
    precisions: tuple[str, ...] = setting(
        ("fp32",),
        flags=("--precision",),
        help="Precisions of the timed attacks: fp32, bf16 or fp32,bf16.",
        parse=_precisions,
        show="fp32",
        panel=TIMING,
    )
    channels_last: bool = setting(
        False, help="Model and inputs in channels-last memory (timing and audit).", panel=TIMING
    )

    def validate(self) -> None:
        for label, value, low in (
            ("--batch-size", self.batch_size, 1),
            ("--steps", self.steps, 1),
            ("--repeats", self.repeats, 1),
            ("--warmup", self.warmup, 0),
        ):
            if value < low:
                raise ConfigError(f"{label} must be >= {low}, got {value}")
        if not 0 < self.eps <= 1 or not 0 < self.step_size <= 1:
            raise ConfigError(
                f"--eps and --step must be in (0, 1], got {self.eps}, {self.step_size}"
            )
        if self.input_shape is not None and (
            len(self.input_shape) != 3 or min(self.input_shape) < 1
        ):
            raise ConfigError(f"--input-shape must be CxHxW, got {self.input_shape}")
        bad = [p for p in self.precisions if p not in PRECISIONS]
        if bad or not self.precisions or len(set(self.precisions)) != len(self.precisions):
            raise ConfigError(
                f"--precision: give each of {', '.join(PRECISIONS)} at most once, "
                f"comma-separated; got {','.join(self.precisions) or 'nothing'}"
            )


@dataclass
class TrainBenchConfig:
    """One training-speed measurement. ``n_max=None`` takes the preset's head-class count."""

    arch: str = setting(
        "resnet18",
        help="Time training epochs of this architecture (e.g. resnet18; not given: skipped).",
        show="skipped",
        panel=TRAIN,
    )
    method: str = setting("at", help="Training method (ltrobust train --method).", panel=TRAIN)
    like: str = setting(
        "cifar10-lt", help="Synthetic training data shaped like this preset's LT set.", panel=TRAIN
    )
    steps: int = setting(
        10, help="Inner PGD steps of the training (methods with an inner attack).", panel=TRAIN
    )
    precision: str = precision_setting("auto", panel=TRAIN, aliases=(TRAIN_AMP,))
    epochs: int = setting(2, help="Epochs timed (the last one is the headline).", panel=TRAIN)
    n_max: int | None = setting(None, help="Head-class images.", show="the preset's", panel=TRAIN)
    batch_size: int | None = batch_size_setting(None, panel=TRAIN, show="the method's, 128 for at")
    #: the seed of the synthetic data and the run (``ltrobust bench`` passes its ``--seed``)
    seed: int = 0

    def validate(self) -> None:
        from ltrobust.data.specs import get_spec
        from ltrobust.models.registry import get_builder
        from ltrobust.train.registry import get_method_class

        get_builder(self.arch)
        get_method_class(self.method)
        get_spec(self.like)
        for label, value in (("--train-steps", self.steps), ("--train-epochs", self.epochs)):
            if value < 1:
                raise ConfigError(f"{label} must be >= 1, got {value}")
        for label, opt in (("--train-n-max", self.n_max), ("--train-batch-size", self.batch_size)):
            if opt is not None and opt < 1:
                raise ConfigError(f"{label} must be >= 1, got {opt}")
        class_counts_like(self.like, self.n_max)


def class_counts_like(like: str, n_max: int | None) -> list[int]:
    """The long-tailed training counts of preset ``like`` (its default imbalance ratio) with
    ``n_max`` images in the head class (default: the preset's)."""
    from ltrobust.data.profile import lt_counts
    from ltrobust.data.specs import get_spec

    spec = get_spec(like)
    counts = lt_counts(n_max or spec.n_max, spec.default_ir, spec.num_classes)
    if min(counts) < 1:
        raise ConfigError(
            f"--train-n-max {n_max} leaves a class of {like} (imbalance {spec.default_ir:g}) "
            f"without images; give at least {int(spec.default_ir)}"
        )
    return counts


@dataclass
class BenchConfig:
    """Everything one benchmark run does. ``threads=None`` keeps torch's current count."""

    archs: list[str] = setting(
        factory=lambda: ["small_cnn", "resnet18"],
        flags=("--arch",),
        help="Architectures to time, comma-separated ('' skips the timing).",
        parse=_names,
        show="small_cnn,resnet18",
        panel=TIMING,
    )
    attack: AttackBenchConfig = setting(factory=AttackBenchConfig, nested=True)
    threads: int | None = setting(
        None, help="torch intra-op threads (default: torch's current).", panel=TIMING
    )
    device: str = device_setting()
    audit_n: int = setting(
        1000, help="Samples of the full default audit (0 skips it).", panel=AUDIT
    )
    audit_model: str = setting(
        DEFAULT_AUDIT_MODEL, help="Model of the audit and memory runs.", panel=AUDIT
    )
    audit_dataset: str | None = setting(
        None, help="Dataset of the audit (default: the checkpoint's).", panel=AUDIT
    )
    audit_attacks: list[str] | None = setting(
        None,
        help="Attacks of the audit (default: the audit's default list).",
        parse=parse_attack_list,
        panel=AUDIT,
    )
    audit_precision: str = precision_setting(
        choices=AUDIT_PRECISIONS, panel=AUDIT, aliases=(AUDIT_AMP,)
    )
    #: also report the audit's time scaled linearly to this many samples (0: do not)
    audit_extrapolate: int = setting(
        10000, help="Also scale the audit's time to this many samples (0: don't).", panel=AUDIT
    )
    data_dir: str | None = data_dir_setting(panel=AUDIT)
    memory_sizes: list[int] = setting(
        factory=lambda: [1000, 10000],
        flags=("--memory-n",),
        help="Sizes n for peak memory, one fresh process each ('' skips).",
        parse=parse_sizes,
        show="1000,10000",
        panel=AUDIT,
    )
    memory_attack: str = "fgsm"
    train: TrainBenchConfig | None = setting(None, nested=True, prefix="train")

    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line) on any bad setting, before anything runs."""
        from ltrobust.models.registry import get_builder
        from ltrobust.runtime.dist import resolve_device

        if not self.archs and self.audit_n == 0 and not self.memory_sizes and not self.train:
            raise ConfigError(
                "nothing to run: give --arch, --audit-n > 0, --memory-n or --train-arch"
            )
        for arch in self.archs:
            get_builder(arch)
        self.attack.validate()
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}")
        if self.audit_n < 0:
            raise ConfigError(f"--audit-n must be >= 0 (0 skips the audit), got {self.audit_n}")
        if (self.audit_n or self.memory_sizes) and not Path(self.audit_model).is_file():
            raise ConfigError(f"--audit-model: no such file: {self.audit_model}")
        if self.audit_extrapolate < 0:
            raise ConfigError(f"--audit-extrapolate must be >= 0, got {self.audit_extrapolate}")
        if self.audit_precision not in AUDIT_PRECISIONS:
            valid = ", ".join(AUDIT_PRECISIONS)
            raise ConfigError(f"--audit-precision must be {valid}, got {self.audit_precision!r}")
        if self.train is not None:
            self.train.validate()
        resolve_device(self.device)
        if self.audit_attacks is not None:
            self.audit_attacks = parse_attack_list(",".join(self.audit_attacks))
