"""ltrobust's own checkpoint format: a plain dict that ``torch.load(weights_only=True)`` reads.

Fields (format version 1):

=================  =========================================================================
``format``         ``"ltrobust-checkpoint"``
``format_version`` ``1``
``ltrobust_version`` the version that wrote the file
``arch``           registered architecture name
``model_args``     keyword arguments of ``create_model`` (num_classes, in_channels, input_size,
                   head settings, architecture options); never mean/std
``input_spec``     ``{"channels", "size", "mean", "std"}``; mean/std are lists or None
``num_classes``    number of logits
``state_dict``     weights of the bare network (no Normalize, no logit adjustment), on CPU
``dataset``, ``class_counts``, ``class_names``, ``method``, ``method_config``, ``history``,
``extra``          provenance; JSON-like values (and tensors)
``logit_adjustment`` per-class additive bias of the deployed logits (e.g. RoBal's
                   ``-tau_p * ln(pi)``) or None
=================  =========================================================================
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..fileio import atomic_torch_save
from ..readlog import sha256_of
from .registry import get_builder
from .wrappers import LogitAdjusted, NormalizedModel

FORMAT_NAME = "ltrobust-checkpoint"
FORMAT_VERSION = 1


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the bytes of the file at ``path``."""
    return sha256_of(path)


def to_plain(value: Any, where: str = "value") -> Any:
    """``value`` as JSON-like data (dict, list, str, int, float, bool, None) and CPU tensors.

    Tuples become lists, enums their value, paths strings and numpy scalars/arrays Python
    numbers/lists. Anything else raises ``TypeError`` naming ``where``.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return to_plain(value.value, where)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} must be a str or int")
            out[key] = to_plain(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [to_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{where}: a {type(value).__name__} cannot be stored in a checkpoint")


def unwrap_model(
    model: nn.Module,
) -> tuple[nn.Module, list[float] | None, list[float] | None, list[float] | None]:
    """Split ``[LogitAdjusted(] [NormalizedModel(] net`` into ``(net, mean, std, bias)``."""
    bias = mean = std = None
    if isinstance(model, LogitAdjusted):
        bias = model.bias.flatten().tolist()
        model = model.model
    if isinstance(model, NormalizedModel):
        mean = model.normalize.mean.flatten().tolist()
        std = model.normalize.std.flatten().tolist()
        model = model.net
    return model, mean, std, bias


def _close(a: Any, b: Any) -> bool:
    """Equal lengths and values equal up to float32 rounding (the wrappers' buffers)."""
    xs, ys = [float(v) for v in a], [float(v) for v in b]
    if len(xs) != len(ys):
        return False
    return all(math.isclose(x, y, rel_tol=1e-6) for x, y in zip(xs, ys, strict=True))


def _merge(given: Any, found: Any, label: str) -> Any:
    if given is None:
        return found
    if found is not None and not _close(given, found):
        raise ValueError(f"{label} {list(given)} disagrees with the model's {found}")
    return [float(v) for v in given]


def _check_length(values: list[Any] | None, num_classes: int, label: str) -> None:
    if values is not None and len(values) != num_classes:
        raise ValueError(f"{label} has {len(values)} entries, expected num_classes={num_classes}")


def _build_spec(
    input_spec: Mapping[str, Any], mean: list[float] | None, std: list[float] | None
) -> dict[str, Any]:
    missing = [k for k in ("channels", "size") if k not in input_spec]
    if missing:
        raise ValueError(f"input_spec lacks {', '.join(missing)}")
    spec_mean = _merge(input_spec.get("mean"), mean, "input_spec mean")
    spec_std = _merge(input_spec.get("std"), std, "input_spec std")
    if (spec_mean is None) != (spec_std is None):
        raise ValueError("input_spec needs both mean and std, or neither")
    return {
        "channels": int(input_spec["channels"]),
        "size": int(input_spec["size"]),
        "mean": spec_mean,
        "std": spec_std,
    }


def _build_model_args(
    model_args: Mapping[str, Any], num_classes: int, spec: dict[str, Any]
) -> dict[str, Any]:
    if "mean" in model_args or "std" in model_args:
        raise ValueError("model_args must not hold mean/std; put them in input_spec")
    args = dict(to_plain(dict(model_args), "model_args"))
    if args.setdefault("num_classes", num_classes) != num_classes:
        raise ValueError(
            f"model_args num_classes={args['num_classes']} but num_classes={num_classes}"
        )
    args.setdefault("in_channels", spec["channels"])
    args.setdefault("input_size", spec["size"])
    return args


def checkpoint_payload(
    model: nn.Module,
    *,
    arch: str,
    model_args: dict[str, Any],
    input_spec: dict[str, Any],
    num_classes: int,
    dataset: str | None = None,
    class_counts: list[int] | None = None,
    class_names: list[str] | None = None,
    method: str | None = None,
    method_config: dict[str, Any] | None = None,
    logit_adjustment: list[float] | None = None,
    history: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields of an ltrobust checkpoint of ``model`` (see module doc), state_dict on CPU.

    ``model`` may be the bare network or wrapped in :class:`NormalizedModel` and/or
    :class:`LogitAdjusted`; the wrappers' mean/std and bias fill ``input_spec`` and
    ``logit_adjustment`` when those are not given (and must agree when they are). ``model_args``
    gets ``num_classes``, ``in_channels`` and ``input_size`` filled in when absent, so that
    ``create_model(arch, **model_args)`` rebuilds the bare network.

    Raises:
        ConfigError: ``arch`` is not registered.
        ValueError: inconsistent arguments (lengths, num_classes, mean/std).
        TypeError: a metadata value that is not JSON-like or a tensor.
    """
    get_builder(arch)
    net, mean, std, bias = unwrap_model(model)
    spec = _build_spec(input_spec, mean, std)
    adjustment = _merge(logit_adjustment, bias, "logit_adjustment")
    for values, label in (
        (class_counts, "class_counts"),
        (class_names, "class_names"),
        (adjustment, "logit_adjustment"),
    ):
        _check_length(values, num_classes, label)
    payload: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "ltrobust_version": __version__,
        "arch": arch,
        "model_args": _build_model_args(model_args, num_classes, spec),
        "input_spec": spec,
        "num_classes": int(num_classes),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "dataset": dataset,
        "class_counts": to_plain(class_counts, "class_counts"),
        "class_names": to_plain(class_names, "class_names"),
        "method": method,
        "method_config": to_plain(method_config, "method_config"),
        "logit_adjustment": adjustment,
        "history": to_plain(history, "history"),
        "extra": to_plain(extra, "extra"),
    }
    return payload


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, **fields: Any) -> None:
    """Write ``model`` and its metadata atomically as an ltrobust checkpoint (``torch.save``).

    ``fields`` are the keyword arguments of :func:`checkpoint_payload` (``arch``,
    ``model_args``, ``input_spec``, ``num_classes`` and the optional provenance); its errors
    apply. :func:`ltrobust.models.safetensors_io.save_safetensors_checkpoint` writes the same
    checkpoint as a safetensors file.
    """
    atomic_torch_save(path, checkpoint_payload(model, **fields))
