"""Images decoded as they stream: a torch ``Dataset`` over image files and its ``DataLoader``.

:class:`ImageFiles` holds a root, the relative paths (one numpy byte array, shared by forked
DataLoader workers without the copy-on-read growth of a list of Python strings), the labels
and the positions to read; an image is opened and decoded only in ``__getitem__``
(``PIL.Image.open(...).convert("RGB")``, then :class:`Preprocess`). Host memory therefore
holds the file list and the batches in flight, not the data set. :func:`make_loader` builds
the ``DataLoader`` (fixed order, ``workers`` processes, pinned memory on CUDA, persistent
workers) and :func:`batches` turns a worker's failure into one line naming the file.
docs/METHODS.md §1.8 has the rules.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ltrobust.data.profile import check_positive_int
from ltrobust.data.specs import SplitPreset
from ltrobust.data.splits import SplitData, SplitEntries
from ltrobust.errors import ConfigError, DataError

#: the most worker processes :func:`default_workers` proposes
MAX_DEFAULT_WORKERS = 8
_WORKER_PREFIX = "ltrobust.errors.DataError: "


@dataclass(frozen=True)
class Preprocess:
    """How a decoded RGB image becomes a float32 ``(3, H, W)`` tensor in [0, 1].

    ``resize``: the shorter side is resized to this (torchvision's ``Resize(resize)`` on a PIL
    image: PIL's bilinear filter), or None; ``crop``: a centre crop of this side afterwards
    (``CenterCrop(crop)``), or None; the same pixels as torchvision's, computed with PIL alone
    (importing torchvision costs a process a second and 180 MB). Neither: the image as
    decoded (sizes must then agree, which :func:`ltrobust.data.preflight.check_images`
    verifies from the headers).
    """

    resize: int | None = None
    crop: int | None = None

    def __post_init__(self) -> None:
        for name in ("resize", "crop"):
            value = getattr(self, name)
            if value is not None:
                check_positive_int(value, name)
        if self.resize is not None and self.crop is not None and self.crop > self.resize:
            raise ConfigError(f"crop {self.crop} is larger than resize {self.resize}")

    @property
    def output_side(self) -> int | None:
        """The side of every output image when it is fixed (``crop``), else None."""
        return self.crop

    def __call__(self, image: Any) -> torch.Tensor:
        """``image`` (a PIL RGB image) resized, cropped, as float32 ``(3, H, W)`` in [0, 1]."""
        if self.resize is not None:
            image = _resize_shorter(image, self.resize)
        if self.crop is not None:
            image = _centre_crop(image, self.crop)
        pixels = np.asarray(image, dtype=np.uint8).reshape(image.size[1], image.size[0], -1)
        # numpy, not torch: no intra-op threads competing with the model's in the main process
        scaled = np.divide(pixels.transpose(2, 0, 1), np.float32(255.0), dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(scaled))

    @classmethod
    def of(cls, preset: SplitPreset) -> Preprocess:
        """The preset's preprocessing."""
        return cls(preset.resize, preset.crop)


def _resize_shorter(image: Any, side: int) -> Any:
    """torchvision's ``resize(image, side)`` on a PIL image: the shorter side becomes
    ``side``, the longer ``int(side * long / short)``; PIL's bilinear filter (antialiased)."""
    from PIL import Image

    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    other = int(side * long / short)
    size = (side, other) if w <= h else (other, side)
    return image if size == (w, h) else image.resize(size, Image.Resampling.BILINEAR)


def _centre_crop(image: Any, side: int) -> Any:
    """torchvision's ``center_crop(image, side)`` on a PIL image: zero padding first where
    the image is smaller (the odd pixel after it), then the box at the rounded centre."""
    from PIL import Image

    w, h = image.size
    if side > w or side > h:
        left, top = max(0, (side - w) // 2), max(0, (side - h) // 2)
        padded = Image.new(image.mode, (max(w, side), max(h, side)))
        padded.paste(image, (left, top))
        image, (w, h) = padded, padded.size
    left, top = int(round((w - side) / 2.0)), int(round((h - side) / 2.0))
    return image.crop((left, top, left + side, top + side))


def decode_image(path: str, preprocess: Preprocess) -> torch.Tensor:
    """The image at ``path`` as float32 ``(3, H, W)`` in [0, 1].

    Raises:
        DataError: the file cannot be opened or decoded (naming it).
    """
    from PIL import Image

    try:
        with open(path, "rb") as handle, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # palette with transparency
            image = Image.open(handle).convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    return preprocess(image)


class ImageFiles(Dataset[tuple[torch.Tensor, int, int]]):
    """Image files decoded one at a time: item ``i`` is ``(image, label, position)`` for
    ``position = positions[i]``, ``image`` float32 ``(3, H, W)`` in [0, 1].

    Attributes:
        root: the folder the paths are relative to (a string: cheap to send to workers).
        paths: relative paths as UTF-8 bytes, numpy ``S`` array (all of the split).
        labels: int64 labels of all of the split.
        positions: int64 positions read, in order.
        preprocess: the :class:`Preprocess` applied after decoding.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        paths: np.ndarray,
        labels: np.ndarray,
        preprocess: Preprocess,
        positions: np.ndarray | Sequence[int] | None = None,
    ) -> None:
        self.root = os.fspath(root)
        self.paths = paths
        self.labels = np.asarray(labels, dtype=np.int64)
        self.preprocess = preprocess
        chosen = np.arange(len(paths)) if positions is None else np.asarray(positions)
        self.positions = chosen.astype(np.int64, copy=False)
        if self.positions.size and (self.positions.min() < 0 or self.positions.max() >= len(paths)):
            raise ValueError(f"positions outside 0..{len(paths) - 1}")

    @classmethod
    def of_split(
        cls,
        entries: SplitEntries,
        root: str | os.PathLike[str],
        preprocess: Preprocess,
        positions: np.ndarray | Sequence[int] | None = None,
    ) -> ImageFiles:
        """The images of one split file."""
        return cls(root, entries.paths, entries.labels, preprocess, positions)

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def file(self, i: int) -> str:
        """The full path of item ``i``."""
        rel = bytes(self.paths[int(self.positions[i])]).decode("utf-8", "surrogateescape")
        return os.path.join(self.root, rel)

    def files(self) -> list[str]:
        """The full paths of every item, in order."""
        return [self.file(i) for i in range(len(self))]

    @property
    def targets(self) -> np.ndarray:
        """The labels of the items, in order."""
        return self.labels[self.positions]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        position = int(self.positions[i])
        return decode_image(self.file(i), self.preprocess), int(self.labels[position]), position

    def subset(self, items: np.ndarray | Sequence[int]) -> ImageFiles:
        """The items ``items`` (indices into this dataset), in that order."""
        picked = self.positions[np.asarray(items, dtype=np.int64)]
        return ImageFiles(self.root, self.paths, self.labels, self.preprocess, picked)

    def without(self, positions: Sequence[int]) -> ImageFiles:
        """This dataset without the items at ``positions`` (source positions)."""
        keep = ~np.isin(self.positions, np.asarray(list(positions), dtype=np.int64))
        return ImageFiles(self.root, self.paths, self.labels, self.preprocess, self.positions[keep])

    def shard(self, rank: int, world: int, batch_size: int | None = None) -> ImageFiles:
        """The part process ``rank`` of ``world`` reads: with ``batch_size``, the whole
        batches ``b`` with ``b % world == rank`` (the audit engine's rule, so that every
        process cuts the same batches); without, every ``world``-th item from ``rank``."""
        world = check_positive_int(world, "world")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world:
            raise ConfigError(f"rank must be in 0..{world - 1}, got {rank!r}")
        items = np.arange(len(self))
        if batch_size is None:
            return self.subset(items[rank::world])
        batch_size = check_positive_int(batch_size, "batch_size")
        return self.subset(items[(items // batch_size) % world == rank])

    def with_preprocess(self, preprocess: Preprocess) -> ImageFiles:
        """The same items with another :class:`Preprocess`."""
        return ImageFiles(self.root, self.paths, self.labels, preprocess, self.positions)


def split_test_images(
    data: SplitData, preprocess: Preprocess | None = None, n: int | None = None, seed: int = 0
) -> ImageFiles:
    """The evaluated test images of a split dataset: all, or ``n`` stratified by class
    (:meth:`SplitData.test_positions`); ``preprocess`` defaults to the preset's (none for
    ``split:ROOT`` without one)."""
    if preprocess is None:
        preprocess = Preprocess.of(data.preset) if data.preset is not None else Preprocess()
    positions = data.test_positions(n, seed)
    return ImageFiles.of_split(data.test, data.root, preprocess, positions)


def default_workers() -> int:
    """Worker processes by default: the CPUs this process may use, less one for the main
    process, at most :data:`MAX_DEFAULT_WORKERS` (0 on a single CPU)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(MAX_DEFAULT_WORKERS, cpus - 1))


def make_loader(
    dataset: Dataset[Any],
    batch_size: int,
    *,
    workers: int | None = None,
    device: torch.device | str | None = None,
    prefetch: int = 2,
) -> DataLoader[Any]:
    """A ``DataLoader`` reading ``dataset`` in its order (never shuffled).

    Args:
        batch_size: items per batch (the last may be smaller).
        workers: decoding processes (0: in this process); default :func:`default_workers`.
        device: where the batches go; pinned host memory when it is CUDA (default: when CUDA
            is available).
        prefetch: batches each worker prepares ahead.

    Raises:
        ConfigError: ``batch_size`` or ``prefetch`` below 1, or ``workers`` below 0.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    prefetch = check_positive_int(prefetch, "prefetch")
    if workers is None:
        workers = default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"workers must be an integer >= 0, got {workers!r}")
    if device is None:
        pin = torch.cuda.is_available()
    else:
        pin = torch.device(device).type == "cuda"
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=workers > 0,
        prefetch_factor=prefetch if workers > 0 else None,
        drop_last=False,
    )


def batches(loader: DataLoader[Any]) -> Iterator[Any]:
    """The loader's batches; a worker's :class:`DataError` (which the ``DataLoader`` re-raises
    with the worker's traceback in its message) comes out as its own one line."""
    try:
        yield from loader
    except DataError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        last = lines[-1] if lines else "cannot read image"
        raise DataError(last.removeprefix(_WORKER_PREFIX).removeprefix("DataError: ")) from None


def preset_preprocess(preset: SplitPreset | None, **override: int | None) -> Preprocess:
    """The preset's :class:`Preprocess` (none without a preset) with ``resize``/``crop``
    overridden where given."""
    base = Preprocess.of(preset) if preset is not None else Preprocess()
    given = {k: v for k, v in override.items() if v is not None}
    unknown = sorted(set(given) - {"resize", "crop"})
    if unknown:
        raise ConfigError(f"unknown preprocessing option(s): {', '.join(unknown)}")
    return replace(base, **given)
