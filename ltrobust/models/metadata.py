"""Checks of every field read from an ltrobust checkpoint before it is trusted.

A checkpoint is data from outside: a field of the wrong type or range (``num_classes: "ten"``,
negative class counts, a logit adjustment of the wrong length) is refused with one line naming
the field, instead of a traceback or a wrong report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ltrobust.errors import ModelLoadError
from ltrobust.limits import MAX_INT
from ltrobust.models.arguments import BOUNDS


def _int(value: Any, low: int, high: int = MAX_INT) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(value: Any, length: int | None = None, *, positive: bool = False) -> bool:
    ok = isinstance(value, (list, tuple)) and all(_number(v) for v in value) and len(value) > 0
    ok = ok and (length is None or len(value) == length)
    return ok and (not positive or all(v > 0 for v in value))


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _fields(num_classes: int) -> dict[str, tuple[Callable[[Any], bool], str]]:
    c = num_classes
    return {
        "arch": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
        "num_classes": (
            lambda v: BOUNDS["num_classes"].problem(v) is None,
            BOUNDS["num_classes"].problem(0) or "",
        ),
        "model_args": (
            lambda v: isinstance(v, Mapping) and all(isinstance(k, str) for k in v),
            "a mapping of option names",
        ),
        "state_dict": (
            lambda v: (
                isinstance(v, Mapping)
                and all(isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items())
            ),
            "a mapping of parameter names to tensors",
        ),
        "dataset": (_optional(lambda v: isinstance(v, str)), "a dataset name"),
        "class_counts": (
            _optional(lambda v: isinstance(v, list) and len(v) == c and all(_int(n, 1) for n in v)),
            f"{c} positive integers up to 2**53 (training images per class)",
        ),
        "class_names": (
            _optional(
                lambda v: isinstance(v, list) and len(v) == c and all(isinstance(n, str) for n in v)
            ),
            f"{c} strings",
        ),
        "logit_adjustment": (_optional(lambda v: _numbers(v, c)), f"{c} finite numbers"),
        "method": (_optional(lambda v: isinstance(v, str)), "a method name"),
        "method_config": (_optional(lambda v: isinstance(v, Mapping)), "a mapping"),
        "history": (_optional(lambda v: isinstance(v, list)), "a list of epoch rows"),
        "extra": (_optional(lambda v: isinstance(v, Mapping)), "a mapping"),
    }


def _input_spec_problem(spec: Any) -> str | None:
    if not isinstance(spec, Mapping):
        return "input_spec must be a mapping"
    for key, arg in (("channels", "in_channels"), ("size", "input_size")):
        problem = None if spec.get(key) is None else BOUNDS[arg].problem(spec[key])
        if problem is not None:
            return f"input_spec.{key} must be {problem}, got {spec[key]!r}"
    mean, std = spec.get("mean"), spec.get("std")
    if (mean is None) != (std is None):
        return "input_spec needs both mean and std, or neither"
    if mean is not None and not (_numbers(mean) and _numbers(std, len(mean), positive=True)):
        return "input_spec.mean/std must be lists of finite numbers (std > 0) of one length"
    return None


def check_metadata(ckpt: Mapping[str, Any], path: Path) -> None:
    """Raise :class:`ModelLoadError` naming the first field of ``ckpt`` that is not what an
    ltrobust checkpoint holds."""
    num_classes = ckpt.get("num_classes")
    c = num_classes if isinstance(num_classes, int) and _int(num_classes, 1) else 0
    for name, (check, want) in _fields(c).items():
        if name in ckpt and not check(ckpt[name]):
            shown = repr(ckpt[name])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ModelLoadError(f"{path}: checkpoint field {name} must be {want}, got {shown}")
    problem = _input_spec_problem(ckpt.get("input_spec"))
    if problem is not None:
        raise ModelLoadError(f"{path}: checkpoint field {problem}")
