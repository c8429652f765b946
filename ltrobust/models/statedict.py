"""Helpers to interpret foreign state_dicts: find them, clean their keys, compare them.

Public checkpoints nest their weights under a key (``state_dict``, ``model``, ``net``, ...),
prefix them (``module.`` from DataParallel, ``model.``/``net.`` from wrappers) and sometimes
store input normalisation beside them (``normalize.mean``, ``mu``, ``std``). These helpers undo
that so the weights load into a registered architecture with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

CONTAINER_KEYS: tuple[str, ...] = ("state_dict", "model_state_dict", "model", "net", "state")
"""Keys under which checkpoints nest their state_dict, tried in this order."""

PREFIXES: tuple[str, ...] = ("module.", "model.", "net.")
"""Key prefixes stripped when every key carries one and stripping does not hurt the match."""

_MEAN_NAMES = ("mean", "mu")
_STD_NAMES = ("std", "sigma")
_MAX_NORM_VALUES = 4

StateDict = dict[str, torch.Tensor]


def is_tensor_dict(obj: object) -> bool:
    """True for a non-empty mapping from strings to tensors."""
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def find_state_dict(obj: Mapping[str, Any]) -> tuple[StateDict | None, str | None]:
    """The state_dict inside a loaded checkpoint dict and the key it sat under.

    Tries :data:`CONTAINER_KEYS` in order (the first that is a dict of tensors wins), then the
    dict itself. Returns ``(None, None)`` when there is none.
    """
    for key in CONTAINER_KEYS:
        if is_tensor_dict(obj.get(key)):
            return dict(obj[key]), key
    if is_tensor_dict(obj):
        return dict(obj), None
    return None, None


def split_normalization(
    sd: StateDict,
) -> tuple[StateDict, list[float] | None, list[float] | None, list[str]]:
    """Remove input-normalisation entries from ``sd``.

    A key whose last dotted part is ``mean``/``mu`` or ``std``/``sigma`` and whose tensor has at
    most 4 values is taken as normalisation (BatchNorm's ``running_mean`` is not). Returns
    ``(rest, mean, std, removed_keys)``; unless both a mean and a std are found nothing is
    removed and ``mean``/``std`` are None.
    """
    means: list[list[float]] = []
    stds: list[list[float]] = []
    removed: list[str] = []
    for key, value in sd.items():
        last = key.rsplit(".", 1)[-1]
        if last in _MEAN_NAMES + _STD_NAMES and value.numel() <= _MAX_NORM_VALUES:
            (means if last in _MEAN_NAMES else stds).append(value.flatten().tolist())
            removed.append(key)
    if not (means and stds):
        return sd, None, None, []
    rest = {k: v for k, v in sd.items() if k not in removed}
    return rest, [float(v) for v in means[0]], [float(v) for v in stds[0]], removed


def strip_prefixes(sd: StateDict, expected: set[str]) -> tuple[StateDict, list[str]]:
    """Strip :data:`PREFIXES` carried by every key, as long as the overlap with ``expected``
    does not shrink. Returns the new dict and the prefixes stripped, in order."""
    stripped: list[str] = []
    changed = True
    while changed and sd:
        changed = False
        score = len(expected.intersection(sd))
        for prefix in PREFIXES:
            if all(k.startswith(prefix) for k in sd):
                candidate = {k[len(prefix) :]: v for k, v in sd.items()}
                if len(expected.intersection(candidate)) >= score:
                    sd, changed = candidate, True
                    stripped.append(prefix)
                    break
    return sd, stripped


_WRAPPERS = ("module.", "model.")


def strip_wrappers(sd: StateDict) -> tuple[StateDict, list[str]]:
    """Remove ``module.`` (DataParallel) and ``model.`` carried by every key, repeatedly."""
    stripped: list[str] = []
    while sd:
        prefix = next((p for p in _WRAPPERS if all(k.startswith(p) for k in sd)), None)
        if prefix is None:
            break
        sd = {k[len(prefix) :]: v for k, v in sd.items()}
        stripped.append(prefix)
    return sd, stripped


def drop_prefixed(sd: StateDict, prefixes: tuple[str, ...]) -> tuple[StateDict, int]:
    """``sd`` without keys starting with any of ``prefixes``, and how many were dropped."""
    if not prefixes:
        return sd, 0
    kept = {k: v for k, v in sd.items() if not k.startswith(prefixes)}
    return kept, len(sd) - len(kept)


def _first(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def describe_mismatch(sd: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> str:
    """One line naming the first few missing/unexpected keys and shape clashes ("" if none).

    Missing ``num_batches_tracked`` buffers are ignored, as ``load_state_dict`` fills them in.
    """
    missing = [k for k in target if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in target]
    shapes = [
        f"{k} {tuple(sd[k].shape)} in the file vs {tuple(target[k].shape)} in the model"
        for k in target
        if k in sd and sd[k].shape != target[k].shape
    ]
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} key(s): {_first(missing)}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} key(s): {_first(unexpected)}")
    if shapes:
        parts.append(f"shape mismatch: {_first(shapes, 2)}")
    return "; ".join(parts)


def scalar_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level str/int/float/bool entries of a checkpoint dict (epoch, accuracy, ...)."""
    return {
        k: v
        for k, v in obj.items()
        if isinstance(k, str) and isinstance(v, (str, int, float, bool))
    }
