"""Generated split-file datasets for the tests of ltrobust.data.splits / stream / preflight."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


def jpeg_bytes(side: int = 16, seed: int = 0, size: tuple[int, int] | None = None) -> bytes:
    """A random RGB JPEG of ``side`` x ``side`` (or ``size`` = (width, height))."""
    w, h = size or (side, side)
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_lines(file: Path, lines: Sequence[str]) -> Path:
    file.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return file


def make_split_dataset(
    root: Path,
    train_counts: Sequence[int],
    test_per_class: int,
    *,
    side: int = 16,
    images: bool = True,
    train_images: bool = True,
    train_name: str = "train.txt",
    test_name: str = "test.txt",
) -> tuple[Path, Path]:
    """An ImageNet-LT-like tree ``root/train/cNNNN/...`` and ``root/val/cNNNN/...`` with its two
    split files; ``images=False`` writes only the split files, ``train_images=False`` only the
    test images."""
    train: list[str] = []
    test: list[str] = []
    for label, count in enumerate(train_counts):
        train += [f"train/c{label:04d}/c{label:04d}_{i}.JPEG {label}" for i in range(count)]
        test += [
            f"val/c{label:04d}/val_{label:04d}_{i}.JPEG {label}" for i in range(test_per_class)
        ]
    root.mkdir(parents=True, exist_ok=True)
    if images:
        data = jpeg_bytes(side)
        for line in (train if train_images else []) + test:
            path = root / line.rsplit(" ", 1)[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return write_lines(root / train_name, train), write_lines(root / test_name, test)
