"""The preflight of streamed images: every selected file's header opened before the first
batch, so that a broken file stops the run at once, named, or is skipped and listed.

Opening a header (``PIL.Image.open``) reads the format and the size, not the pixels; a JPEG
or PNG cut short still opens, and fails only when decoded. So the preflight also reads the
file's last :data:`TAIL_BYTES`: a JPEG must hold its end-of-image marker ``FF D9`` there (the
entropy-coded data never contains it: a ``FF`` byte there is followed by ``00`` or a restart
marker ``D0``-``D7``), a PNG its ``IEND`` chunk. The tail, not the last two bytes, tolerates the
padding some writers append after the marker. A file damaged inside (flipped bits) passes and
fails when decoded, with its path (:func:`ltrobust.data.stream.decode_image`). docs/METHODS.md
§1.8 has the rules and the cost.
"""

from __future__ import annotations

import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from ltrobust.data.stream import ImageFiles, Preprocess
from ltrobust.errors import ConfigError, DataError

#: bytes at the end of a JPEG or PNG searched for its end marker
TAIL_BYTES = 1024
#: threads opening headers by default (the work waits on the disk)
DEFAULT_THREADS = 8
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND"
_ENDS = {"JPEG": (_JPEG_END, "JPEG"), "MPO": (_JPEG_END, "JPEG"), "PNG": (_PNG_END, "PNG")}


@dataclass(frozen=True)
class BadImage:
    """A selected file the preflight refused: its path, its position in the split, why."""

    path: str
    position: int
    reason: str


@dataclass
class Preflight:
    """What :func:`check_images` found.

    Attributes:
        images: the images to evaluate (without the skipped ones).
        skipped: the refused files, in order (empty unless ``skip_bad``).
        checked: files opened.
        seconds: wall time of the check.
    """

    images: ImageFiles
    skipped: list[BadImage] = field(default_factory=list)
    checked: int = 0
    seconds: float = 0.0


def _tail_problem(handle: BinaryIO, fmt: str) -> str | None:
    """Why the file behind ``handle`` is cut short (its format's end marker missing from the
    tail), or None."""
    end = _ENDS.get(fmt)
    if end is None:
        return None
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - TAIL_BYTES))
    if end[0] in handle.read(TAIL_BYTES):
        return None
    marker = "end-of-image marker" if end[1] == "JPEG" else "IEND chunk"
    return f"truncated {end[1]} (no {marker} at the end)"


def inspect_file(path: str) -> tuple[str | None, tuple[int, int]]:
    """``(problem or None, (width, height))`` of one image file, from its header and tail."""
    from PIL import Image

    try:
        with open(path, "rb") as handle, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning, palette notes
            with Image.open(handle) as image:
                fmt, size = str(image.format), (int(image.size[0]), int(image.size[1]))
            if size[0] < 1 or size[1] < 1:
                return f"empty {fmt} image ({size[0]}x{size[1]})", size
            return _tail_problem(handle, fmt), size
    except Image.UnidentifiedImageError:
        return "not an image PIL can read", (0, 0)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return f"cannot read the header ({type(exc).__name__}: {exc})", (0, 0)


def output_size(size: tuple[int, int], preprocess: Preprocess) -> tuple[int, int]:
    """``(width, height)`` of an image of ``size`` after ``preprocess`` (torchvision's rule
    for ``Resize(int)``: the shorter side becomes ``resize``, the longer one is scaled and
    truncated)."""
    if preprocess.crop is not None:
        return (preprocess.crop, preprocess.crop)
    if preprocess.resize is None:
        return size
    w, h = size
    short, long = (w, h) if w <= h else (h, w)
    scaled = int(preprocess.resize * long / short)
    return (preprocess.resize, scaled) if w <= h else (scaled, preprocess.resize)


def _check_shape(
    path: str, size: tuple[int, int], first: tuple[str, tuple[int, int]] | None, pre: Preprocess
) -> tuple[str, tuple[int, int]]:
    """The first file and its output size; DataError when ``path``'s output size differs
    (a batch must hold images of one size)."""
    out = output_size(size, pre)
    if first is None:
        return (path, out)
    if out != first[1]:
        raise DataError(
            f"{path}: {out[0]}x{out[1]} after preprocessing differs from {first[0]} "
            f"({first[1][0]}x{first[1][1]}); give a centre crop (crop=N) so that every "
            "image has one size"
        )
    return first


def check_images(
    images: ImageFiles, *, skip_bad: bool = False, threads: int = DEFAULT_THREADS
) -> Preflight:
    """Open every selected file's header and tail (:func:`inspect_file`), in order.

    Args:
        images: the selected images (on one process: all of them, so that every process
            agrees on what is skipped; or one rank's shard, whose skipped lists are then
            gathered).
        skip_bad: drop refused files and list them, instead of stopping at the first.
        threads: files opened at once.

    Raises:
        DataError: without ``skip_bad``, the first refused file, with its path; with or
            without it, images whose sizes after ``images.preprocess`` differ (naming two).
        ConfigError: ``threads`` below 1.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be a positive integer, got {threads!r}")
    start = time.perf_counter()
    paths = images.files()
    skipped: list[BadImage] = []
    first: tuple[str, tuple[int, int]] | None = None
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        for i, (problem, size) in enumerate(pool.map(inspect_file, paths)):
            if problem is None:
                first = _check_shape(paths[i], size, first, images.preprocess)
                continue
            if not skip_bad:
                raise DataError(
                    f"{paths[i]}: {problem}; stopped before the first batch "
                    "(--skip-bad-images skips unreadable images)"
                )
            skipped.append(BadImage(paths[i], int(images.positions[i]), problem))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if skipped and len(skipped) == len(paths):
        raise DataError(
            f"none of the {len(paths)} selected images can be read "
            f"({skipped[0].path}: {skipped[0].reason})"
        )
    kept = images.without([b.position for b in skipped]) if skipped else images
    return Preflight(kept, skipped, len(paths), time.perf_counter() - start)
