"""Readers of the real on-disk formats: CIFAR-10/100 python pickles and (Fashion-)MNIST idx.

Every reader returns ``(x, y)``: ``x`` uint8 of shape ``(N, C, H, W)`` and ``y`` int64 of shape
``(N,)``. Nothing assumes the official set sizes (any number of images per file is accepted);
shapes, magic numbers and label ranges are checked, and any defect raises a one-line
:class:`~ltrobust.errors.DataError` naming the file.

The CIFAR pickles are read with a restricted unpickler that only rebuilds numpy arrays, so a
tampered file cannot run code.
"""

from __future__ import annotations

import codecs
import gzip
import logging
import pickle
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ltrobust.data.specs import IDX_FILES, DatasetSpec
from ltrobust.errors import DataError
from ltrobust.readlog import note_read

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "test")
_CIFAR_ROW = 3 * 32 * 32
_IDX_UBYTE = 0x08


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals a CIFAR pickle may reference (numpy array reconstruction)."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = multiarray._reconstruct
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = numeric._frombuffer  # type: ignore[attr-defined]
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global except numpy's array reconstruction."""

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if _ArrayUnpickler._allowed is None:
            _ArrayUnpickler._allowed = _numpy_globals()
        obj = _ArrayUnpickler._allowed.get((module, name))
        if obj is None:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}")
        return obj


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"missing data file {path}")
    note_read(path)
    return path


def _unpickle_dict(path: Path) -> dict[bytes, Any]:
    """Load a CIFAR python pickle as a dict with bytes keys (str keys are encoded)."""
    try:
        with open(_require(path), "rb") as f:
            obj = _ArrayUnpickler(f, encoding="bytes").load()
    except DataError:
        raise
    except Exception as exc:  # pickle raises many types on corrupt input
        raise DataError(f"{path}: not a CIFAR python pickle ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {(k.encode() if isinstance(k, str) else k): v for k, v in obj.items()}


def read_cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR python batch: ``b"data"`` rows of 3072 uint8 (CHW order) and labels.

    Returns:
        ``x`` uint8 ``(N, 3, 32, 32)``, ``y`` int64 ``(N,)``.
    """
    batch = _unpickle_dict(path)
    if b"data" not in batch or label_key not in batch:
        raise DataError(f"{path}: missing key 'data' or '{label_key.decode()}'")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise DataError(f"{path}: 'data' must be a uint8 array")
    if data.ndim != 2 or data.shape[1] != _CIFAR_ROW:
        raise DataError(f"{path}: 'data' has shape {data.shape}, expected (N, {_CIFAR_ROW})")
    try:
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{path}: '{label_key.decode()}' is not a list of integers") from None
    if labels.shape != (data.shape[0],):
        raise DataError(f"{path}: {labels.size} labels for {data.shape[0]} images")
    return data.reshape(-1, 3, 32, 32), labels


def _check_meta(path: Path, key: bytes, num_classes: int) -> None:
    """If the optional meta file exists, check it lists ``num_classes`` names."""
    if not path.is_file():
        return
    names = _unpickle_dict(path).get(key)
    if not isinstance(names, (list, tuple)) or len(names) != num_classes:
        raise DataError(f"{path}: '{key.decode()}' must list {num_classes} class names")


def read_cifar10(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 python version: ``data_batch_1..5`` (train) or ``test_batch`` (test)."""
    folder = Path(folder)
    _check_meta(folder / "batches.meta", b"label_names", 10)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    parts = [read_cifar_batch(folder / name, b"labels") for name in names]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return x, _check_labels(y, 10, folder / names[0])


def read_cifar100(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-100 python version: ``train`` or ``test`` with ``b"fine_labels"``."""
    folder = Path(folder)
    _check_meta(folder / "meta", b"fine_label_names", 100)
    x, y = read_cifar_batch(folder / split, b"fine_labels")
    return x, _check_labels(y, 100, folder / split)


def _check_labels(y: np.ndarray, num_classes: int, path: Path) -> np.ndarray:
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(f"{path}: labels outside 0..{num_classes - 1}")
    return y


def _read_bytes(path: Path) -> bytes:
    """File content, gunzipped when the file starts with the gzip magic."""
    try:
        with open(_require(path), "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    return raw


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an idx file of unsigned bytes (``.gz`` or uncompressed) with ``ndim`` dimensions.

    Header: two zero bytes, type code ``0x08`` (ubyte), the number of dimensions, then each
    dimension as a big-endian uint32 (magic 2051 for 3-D images, 2049 for 1-D labels).
    """
    raw = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:4] != bytes([0, 0, _IDX_UBYTE, ndim]):
        raise DataError(f"{path}: bad idx magic number (expected a {ndim}-D ubyte idx file)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if len(raw) - header != int(np.prod(dims)):
        raise DataError(f"{path}: {len(raw) - header} data bytes, header says shape {dims}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def idx_file(folder: Path, base: str) -> Path | None:
    """``folder/base.gz`` or ``folder/base``, whichever exists (gzip first); None if neither."""
    for candidate in (folder / f"{base}.gz", folder / base):
        if candidate.is_file():
            return candidate
    return None


def read_idx_pair(folder: Path, split: str, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(Fashion-)MNIST idx images and labels of one split, as ``(N, 1, H, W)`` and ``(N,)``."""
    folder = Path(folder)
    paths = [idx_file(folder, base) or folder / f"{base}.gz" for base in IDX_FILES[split]]
    images = read_idx(paths[0], 3)
    labels = read_idx(paths[1], 1).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{paths[1]}: {labels.shape[0]} labels for {images.shape[0]} images")
    return images[:, None, :, :], _check_labels(labels, num_classes, paths[1])


def read_split(spec: DatasetSpec, folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read ``split`` (``"train"`` or ``"test"``) of preset ``spec`` from ``folder``.

    Returns:
        ``x`` uint8 ``(N, C, H, W)`` with ``(C, H, W) == spec.shape``, ``y`` int64 ``(N,)``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if spec.file_format == "cifar10":
        x, y = read_cifar10(folder, split)
    elif spec.file_format == "cifar100":
        x, y = read_cifar100(folder, split)
    elif spec.file_format == "idx":
        x, y = read_idx_pair(folder, split, spec.num_classes)
    else:
        raise ValueError(f"unknown file format {spec.file_format!r}")
    if tuple(x.shape[1:]) != spec.shape:
        raise DataError(f"{folder}: images of shape {tuple(x.shape[1:])}, expected {spec.shape}")
    logger.debug("read %s %s: %d images from %s", spec.name, split, len(y), folder)
    return x, y
