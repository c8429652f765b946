"""From explicit options to a :class:`~ltrobust.train.config.TrainConfig`: the method's and the
dataset's defaults, the shared threat-model rule, and the comparison with a stored config.

The threat model defaults to the dataset's (:func:`ltrobust.data.specs.resolve_threat`).
Explicit values are given as a dict where None means "not given"; the method's options are
resolved by its options class (:mod:`ltrobust.train.method_options`: presets, checks). This
module is torch-free (the method's class is imported for its other defaults and checks).
"""

from __future__ import annotations

import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any

from ltrobust.data.specs import get_spec, is_custom, resolve_threat
from ltrobust.errors import ConfigError
from ltrobust.settings import amp_precision
from ltrobust.train.config import TrainConfig, flag
from ltrobust.train.registry import MethodSpec, get_method_class, method_spec


def default_arch(dataset: str) -> str:
    """``small_cnn`` for Fashion-MNIST-LT, ``resnet18`` for everything else."""
    return "small_cnn" if dataset == "fashion-mnist-lt" else "resnet18"


def _dataset_defaults(dataset: str) -> dict[str, Any]:
    eps, step = resolve_threat(dataset)
    if is_custom(dataset):
        return {"eps": eps, "attack_step": step, "crop_padding": 0, "hflip": False}
    spec = get_spec(dataset)  # ConfigError listing the valid names
    return {
        "eps": eps,
        "attack_step": step,
        "crop_padding": spec.crop_padding,
        "hflip": spec.hflip,
    }


#: keys that are common to every method (the rest are method options)
COMMON_KEYS = tuple(f.name for f in fields(TrainConfig) if f.name not in ("method", "options"))


def _split(
    method: str, spec: MethodSpec, given: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split explicit values into common keys and method options; refuse foreign options."""
    common = {k: v for k, v in given.items() if k in COMMON_KEYS and v is not None}
    options = {k: v for k, v in given.items() if k not in COMMON_KEYS and v is not None}
    own = spec.options.names()
    foreign = [k for k in options if k not in own]
    if foreign:
        valid = ", ".join(flag(k) for k in own) or "none"
        raise ConfigError(
            f"{', '.join(flag(k) for k in foreign)} does not apply to --method "
            f"{method}; its options: {valid}"
        )
    return common, options


def resolve_config(method: str, dataset: str, given: dict[str, Any]) -> TrainConfig:
    """A validated :class:`TrainConfig` from explicit values (None = not given) and defaults.

    When ``eps`` is given but not ``attack_step``, the step keeps the default step/eps ratio.

    Raises:
        ConfigError: unknown method, dataset, option or preset; an option of another method;
            an invalid value.
    """
    spec = method_spec(method)  # unknown method: ConfigError listing the valid ones
    defaults = _dataset_defaults(dataset)
    explicit = _legacy_amp({k: v for k, v in given.items() if k not in ("method", "dataset")})
    common, options = _split(method, spec, explicit)
    method_cls = get_method_class(method)
    _check_attack_options(method, method_cls.inner_attack, common)
    if "eps" in common and "attack_step" not in common:
        common["attack_step"] = resolve_threat(dataset, "linf", common["eps"])[1]
    resolved = spec.options.resolve(options, dataset)
    values: dict[str, Any] = {
        "arch": default_arch(dataset),
        **spec.defaults(),
        **defaults,
        **method_cls.common_defaults(resolved, dataset),
        **common,
    }
    config = TrainConfig(method=method, dataset=dataset, options=resolved, **values)
    config.validate()
    method_cls.check_config(config)
    return config


def _legacy_amp(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with the old ``amp`` (bool) and ``amp_dtype`` keys read as ``precision``
    (a DeprecationWarning says so); an explicit ``precision`` wins."""
    if "amp" not in given and "amp_dtype" not in given:
        return given
    warnings.warn(
        "train option amp/amp_dtype is deprecated; use precision", DeprecationWarning, stacklevel=3
    )
    out = {k: v for k, v in given.items() if k not in ("amp", "amp_dtype")}
    precision = amp_precision(given.get("amp"), given.get("amp_dtype"))
    if precision is not None:
        out.setdefault("precision", precision)
    return out


def _check_attack_options(method: str, inner_attack: bool, common: dict[str, Any]) -> None:
    """Refuse ``--attack-step(s)`` for a method without an inner attack."""
    stray = [flag(k) for k in ("attack_step", "attack_steps") if k in common]
    if stray and not inner_attack:
        raise ConfigError(
            f"{', '.join(stray)} does not apply to --method {method}: it makes no adversarial "
            "examples in its training steps (--eps is the monitor's budget)"
        )


def resume_config(path: Path, given: dict[str, Any]) -> TrainConfig:
    """The stored configuration of the ``last.pt`` at ``path``; ConfigError naming every
    explicit value in ``given`` (None = not given) that differs from it."""
    from ltrobust.train.checkpoint import read_resume

    stored = read_resume(path).config
    diffs = resume_differences(stored, given)
    if diffs:
        raise ConfigError(f"--resume: the configuration differs from {path}: {'; '.join(diffs)}")
    return stored


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
