"""Split files of Tiny-ImageNet-LT, written from the official ``tiny-imagenet-200`` folder.

Tiny-ImageNet-LT has no published split files: the long-tailed robustness papers draw the
training subset from the 100,000 training images by the exponential profile of
docs/METHODS.md §1.1 (AT-BSL: ``n_max`` 500, imbalance ratio 10, numpy seed 0) and test on the
10,000 validation images. :func:`write_tiny_imagenet_lt_splits` does that once, offline, with
the selection rule of §1.2, and writes the two files the ``tiny-imagenet-lt`` preset reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ltrobust.data.profile import lt_counts, select_lt_indices
from ltrobust.data.specs import SPLIT_PRESETS
from ltrobust.errors import DataError

#: the profile of AT-BSL's Tiny-ImageNet-LT (``datasets/tiny_imagenet.py``)
TINY_N_MAX = 500
TINY_IR = 10.0
_IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def _wnids(root: Path) -> list[str]:
    """The 200 class ids, sorted (torchvision's ``ImageFolder`` order of ``train/``)."""
    file = root / "wnids.txt"
    if not file.is_file():
        raise DataError(f"{root}: no wnids.txt (expected the tiny-imagenet-200 folder)")
    names = sorted({line.strip() for line in file.read_text().splitlines() if line.strip()})
    if not names:
        raise DataError(f"{file}: no class ids")
    return names


def _train_files(root: Path, wnids: list[str]) -> tuple[list[str], np.ndarray]:
    """Relative paths of the training images (class by class, names sorted) and labels."""
    paths: list[str] = []
    labels: list[int] = []
    for label, wnid in enumerate(wnids):
        folder = root / "train" / wnid / "images"
        if not folder.is_dir():
            raise DataError(f"{folder}: missing (expected train/<wnid>/images/)")
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith(_IMAGE_SUFFIXES))
        paths.extend(f"train/{wnid}/images/{name}" for name in names)
        labels.extend([label] * len(names))
    return paths, np.asarray(labels, dtype=np.int64)


def _val_lines(root: Path, wnids: list[str]) -> list[str]:
    """``val/images/<file> <label>`` for each line of ``val/val_annotations.txt``."""
    file = root / "val" / "val_annotations.txt"
    if not file.is_file():
        raise DataError(f"{root}: no val/val_annotations.txt")
    index = {wnid: label for label, wnid in enumerate(wnids)}
    lines: list[str] = []
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise DataError(f"{file}:{number}: expected 'file<TAB>wnid...' with a known wnid")
        lines.append(f"val/images/{fields[0]} {index[fields[1]]}")
    return lines


def write_tiny_imagenet_lt_splits(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    n_max: int = TINY_N_MAX,
    imbalance_ratio: float = TINY_IR,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``tiny_imagenet_lt_train.txt`` and ``tiny_imagenet_lt_test.txt`` for the
    ``tiny-imagenet-lt`` preset.

    Training: ``lt_counts(n_max, imbalance_ratio, 200)`` images per class chosen by
    :func:`select_lt_indices` with ``seed`` from the training images (classes = the sorted
    ids of ``wnids.txt``, images sorted by name), in that order. Test: every validation image
    with its class from ``val/val_annotations.txt``.

    Args:
        root: the ``tiny-imagenet-200`` folder (``wnids.txt``, ``train/``, ``val/``).
        out: where the files go (default ``root``); their paths are relative to ``root``.

    Returns:
        The training and the test split file.

    Raises:
        DataError: a missing part of the folder, an unknown class id, too few images.
    """
    folder = Path(root).expanduser()
    wnids = _wnids(folder)
    paths, labels = _train_files(folder, wnids)
    picked = select_lt_indices(labels, lt_counts(n_max, imbalance_ratio, len(wnids)), seed)
    preset = SPLIT_PRESETS["tiny-imagenet-lt"]
    target = Path(out).expanduser() if out is not None else folder
    target.mkdir(parents=True, exist_ok=True)
    train_file, test_file = target / preset.train_split, target / preset.test_split
    train_lines = [f"{paths[int(i)]} {int(labels[int(i)])}" for i in picked]
    train_file.write_text("\n".join(train_lines) + "\n", encoding="utf-8")
    test_file.write_text("\n".join(_val_lines(folder, wnids)) + "\n", encoding="utf-8")
    return train_file, test_file
