"""Reading model files: what kind of file a path holds, and the safe ``torch.load``.

:func:`sniff` tells TorchScript archives, ``torch.export`` programs (``.pt2``), safetensors,
ONNX and ordinary ``torch.save`` files apart from their bytes; :func:`read_torch` reads the
last kind with ``weights_only=True`` and unpickles arbitrary objects only when allowed.
"""

from __future__ import annotations

import pickle
import re
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelLoadError

_GLOBAL_RE = re.compile(r"Unsupported (?:global: GLOBAL|class) ([\w.]+)")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_MAX_REASON = 160


def _clean(text: str) -> str:
    return " ".join(_ANSI_RE.sub("", text).split())


def short_reason(exc: BaseException) -> str:
    """A one-line, short description of why reading a file failed."""
    text = _ANSI_RE.sub("", str(exc))
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = first.split(". ", 1)[0].rstrip(".")
    if isinstance(exc, EOFError):
        return "the file ends early (truncated?)"
    reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"not a readable PyTorch file ({_clean(reason)[:_MAX_REASON]})"


def _is_pickled_object(exc: BaseException) -> bool:
    """Whether a weights-only failure names a real Python global (not a corrupted name)."""
    match = _GLOBAL_RE.search(_ANSI_RE.sub("", str(exc)))
    if match is None:
        return False
    module_name, _, attr = match.group(1).rpartition(".")
    module = sys.modules.get(module_name)
    if module_name.startswith("torch") and module is not None and not hasattr(module, attr):
        return False  # a cut-off torch name: the file is truncated, not a pickled object
    return True


def is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def is_safetensors(path: Path) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON object."""
    with path.open("rb") as fh:
        head = fh.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    size = int.from_bytes(head[:8], "little")
    return 2 <= size <= path.stat().st_size - 8


def read_torch(path: Path, unsafe_load: bool, map_location: Any) -> Any:
    """``torch.load`` with weights_only, falling back to full unpickling only if allowed."""
    if path.stat().st_size == 0:
        raise ModelLoadError(f"cannot read checkpoint {path}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # a pickle the safe reader rejects: a Python object, or one it cannot parse (a newer
        # pickle protocol, a cut-off file); full unpickling is only tried when allowed
        if not (unsafe_load or _is_pickled_object(exc)):
            raise ModelLoadError(f"cannot read checkpoint {path}: {short_reason(exc)}") from None
    except Exception as exc:  # torch.load raises many types for corrupt or foreign files
        raise ModelLoadError(f"cannot read checkpoint {path}: {short_reason(exc)}") from None
    if not unsafe_load:
        raise ModelLoadError(
            f"{path} holds a pickled Python object, which can run arbitrary code when loaded; "
            "re-run with --unsafe-load if you trust it, or save a state_dict"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # unpickling can fail in arbitrary ways (missing classes, ...)
        raise ModelLoadError(f"cannot unpickle {path}: {short_reason(exc)}") from None


def is_pt2(path: Path) -> bool:
    """A ``torch.export.save`` archive: a zip with an ``archive_format`` member saying pt2."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("archive_format")]
            return any(archive.read(n).strip() == b"pt2" for n in names)
    except (zipfile.BadZipFile, OSError, KeyError):
        return False


def is_onnx(path: Path) -> bool:
    """An ONNX model: the ``.onnx`` suffix, or a protobuf starting with ``ir_version``."""
    if path.suffix.lower() == ".onnx":
        return True
    with path.open("rb") as fh:
        first = fh.read(2)
    return len(first) == 2 and first[0] == 0x08 and first[1] < 0x80 and not zipfile.is_zipfile(path)


def sniff(path: Path) -> str:
    """``torchscript``, ``pt2``, ``safetensors``, ``onnx`` or ``torch`` (anything else)."""
    if is_torchscript(path):
        return "torchscript"
    if is_pt2(path):
        return "pt2"
    if is_safetensors(path):
        return "safetensors"
    if is_onnx(path):
        return "onnx"
    return "torch"
