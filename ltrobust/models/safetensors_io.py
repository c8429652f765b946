"""safetensors files: a plain state_dict, or an ltrobust checkpoint with its metadata in the header.

A safetensors file holds named tensors and a string-to-string ``__metadata__`` map, and reading
it runs no code. ltrobust writes the bare network's state_dict as the tensors and every other
checkpoint field (:mod:`ltrobust.models.checkpoint`) as JSON under the metadata key
``ltrobust`` (with ``format: ltrobust-checkpoint``), so ``ltrobust audit model.safetensors``
needs no flag; tensors among the metadata (e.g. training counts) become nested lists. A file
without that key is a plain state_dict (``--arch``, or a paper format detected from its keys).
Needs the optional ``safetensors`` package (``pip install 'ltrobust[formats]'``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ltrobust.errors import ModelLoadError
from ltrobust.fileio import atomic_path

from .checkpoint import FORMAT_NAME, checkpoint_payload

#: the ``__metadata__`` key holding the checkpoint's fields as JSON
METADATA_KEY = "ltrobust"
#: the deepest nesting of lists and dicts the metadata may have (a checkpoint's is about 6:
#: history rows, method options); deeper data would only feed the checks below a recursion
MAX_DEPTH = 32


def _library(path: Path | None = None) -> Any:
    try:
        import safetensors.torch as st
    except ImportError:
        where = f"{path}: " if path is not None else ""
        raise ModelLoadError(
            f"{where}reading and writing safetensors needs the safetensors package: "
            "pip install 'ltrobust[formats]'"
        ) from None
    return st


def require_safetensors() -> None:
    """Raise :class:`ModelLoadError` (one line) when the safetensors package is missing."""
    _library()


def jsonable(value: Any) -> Any:
    """``value`` with tensors turned into (nested) lists, for a JSON header."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _depth(value: Any) -> int:
    """How deeply ``value``'s lists and dicts nest (without recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def read_safetensors(path: Path) -> dict[str, Any]:
    """The file as a dict: an ltrobust checkpoint when its header says so, else the tensors."""
    st = _library(path)
    try:
        tensors = st.load_file(str(path), device="cpu")
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as exc:  # the reader raises its own error types for corrupt files
        reason = " ".join(str(exc).split())[:160]
        raise ModelLoadError(f"cannot read safetensors file {path}: {reason}") from None
    text = metadata.get(METADATA_KEY)
    if text is None:
        return dict(tensors)
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path}: the ltrobust metadata is not JSON ({exc.msg})") from None
    except RecursionError:
        raise ModelLoadError(f"{path}: the ltrobust metadata is nested too deeply") from None
    if _depth(fields) > MAX_DEPTH:
        raise ModelLoadError(f"{path}: the ltrobust metadata is nested too deeply") from None
    if not isinstance(fields, dict) or fields.get("format") != FORMAT_NAME:
        raise ModelLoadError(f"{path}: the ltrobust metadata is not an ltrobust checkpoint")
    return {**fields, "state_dict": dict(tensors)}


def write_safetensors(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write a checkpoint payload (``save_checkpoint``'s fields) as one safetensors file."""
    st = _library()
    fields = {k: v for k, v in payload.items() if k != "state_dict"}
    tensors = {k: v.detach().cpu().contiguous() for k, v in payload["state_dict"].items()}
    metadata = {"format": FORMAT_NAME, METADATA_KEY: json.dumps(jsonable(fields))}
    with atomic_path(Path(path)) as tmp:
        st.save_file(tensors, str(tmp), metadata=metadata)


def save_safetensors_checkpoint(
    path: str | os.PathLike[str], model: nn.Module, **fields: Any
) -> None:
    """:func:`ltrobust.models.save_checkpoint` as a safetensors file (same ``fields``)."""
    write_safetensors(path, checkpoint_payload(model, **fields))
