"""``folder:PATH`` datasets, read as torchvision's ``ImageFolder`` reads them, lazily.

:func:`list_image_folder` finds the classes and the image files without opening any image
(torchvision's ``find_classes`` and ``make_dataset`` rules); :meth:`FolderImages.decode`
then reads only the images asked for, so that a subset of a large folder decodes only its
own images. Every image is converted as torchvision's default loader converts it
(``img.convert("RGB")``), except that a set of images that are all grayscale (``L``) stays
1-channel; ``resize`` is torchvision's ``Resize((N, N))`` on the PIL image (bilinear,
antialiased). docs/METHODS.md §1.5 has the rules.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ltrobust.errors import DataError
from ltrobust.readlog import note_read

#: File suffixes read as images (matched case-insensitively), torchvision's IMG_EXTENSIONS.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
)  # fmt: skip


@dataclass
class FolderImages:
    """The image files of a folder dataset and their labels; nothing decoded yet.

    Attributes:
        root: the dataset folder.
        files: every image file, in torchvision's ``ImageFolder.samples`` order.
        labels: int64 ``(N,)`` class of each file.
        classes: the class names (sorted sub-folder names), in label order.
        resize: side of the square every image is resized to, or None (sizes must agree).
    """

    root: Path
    files: list[Path]
    labels: np.ndarray
    classes: list[str]
    resize: int | None = None

    def __len__(self) -> int:
        return len(self.files)

    def decode(self, positions: Sequence[int] | np.ndarray) -> torch.Tensor:
        """The images at ``positions`` as float32 ``(N, C, H, W)`` in [0,1]: 1 channel when
        every one of them is grayscale (``L``), else 3 (RGB).

        Raises:
            DataError: an unreadable image, or (without ``resize``) two sizes.
        """
        images = [_read_image(self.files[int(p)], self.resize) for p in positions]
        if not images:
            return torch.zeros((0, 3, self.resize or 1, self.resize or 1))
        _check_sizes(images, [self.files[int(p)] for p in positions])
        if any(img.shape[0] == 3 for img in images):
            images = [img.expand(3, -1, -1) for img in images]
        return torch.stack(images).to(torch.float32).div_(255.0)


def _check_sizes(images: list[torch.Tensor], files: list[Path]) -> None:
    first = images[0].shape[1:]
    for img, file in zip(images, files, strict=True):
        if img.shape[1:] != first:
            raise DataError(
                f"{file}: {img.shape[2]}x{img.shape[1]} differs from {files[0]} "
                f"({first[1]}x{first[0]}); all images must share one size "
                "(--resize N resizes them to N x N)"
            )


def find_classes(root: Path) -> list[str]:
    """The class names: every sub-folder of ``root`` (symlinks followed, hidden ones too),
    sorted by code point, as torchvision's ``find_classes``."""
    if not root.is_dir():
        raise DataError(f"folder dataset not found: {root}")
    try:
        with os.scandir(root) as entries:
            classes = sorted(entry.name for entry in entries if entry.is_dir())
    except OSError as exc:
        raise DataError(f"{root}: cannot list the folder ({type(exc).__name__})") from None
    if not classes:
        raise DataError(f"{root}: no class sub-folders (expected {root}/<class>/<image>)")
    return classes


def _class_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` in torchvision's ``make_dataset`` order: ``os.walk``
    (following symlinks) sorted by directory path, then the file names sorted."""
    out: list[Path] = []
    for dirpath, _, names in sorted(os.walk(folder, followlinks=True)):
        out.extend(Path(dirpath, n) for n in sorted(names) if n.lower().endswith(IMAGE_EXTENSIONS))
    return out


def list_image_folder(path: str | os.PathLike[str], resize: int | None = None) -> FolderImages:
    """List an ImageFolder tree ``path/<class>/**/<image>`` without decoding any image.

    Raises:
        DataError: the folder is missing, has no class sub-folders or no images, or a class
            folder holds no image (torchvision's ``ImageFolder`` refuses it too).
    """
    root = Path(path).expanduser()
    classes = find_classes(root)
    files: list[Path] = []
    labels: list[int] = []
    empty: list[str] = []
    for label, name in enumerate(classes):
        found = _class_files(root / name)
        if not found:
            empty.append(name)
        files.extend(found)
        labels.extend([label] * len(found))
    if not files:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)}) in the class folders")
    if empty:
        raise DataError(
            f"{root}: class folder{'s' if len(empty) > 1 else ''} without images: "
            f"{', '.join(repr(n) for n in empty)} (every sub-folder is a class, hidden ones too)"
        )
    return FolderImages(root, files, np.asarray(labels, dtype=np.int64), classes, resize)


def _read_image(path: Path, resize: int | None) -> torch.Tensor:
    """One image as a uint8 ``(C, H, W)`` tensor: ``L`` stays 1-channel, every other mode is
    converted to RGB; then resized to ``resize`` x ``resize`` when given."""
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as tvf

    note_read(path)
    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            # PIL warns that a palette image with transparency should go to RGBA; torchvision
            # converts it to RGB all the same
            warnings.simplefilter("ignore", UserWarning)
            opened = Image.open(fh)
            opened.load()
            img = opened if opened.mode == "L" else opened.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read image ({type(exc).__name__})") from None
    if resize is not None:
        img = tvf.resize(img, [resize, resize], InterpolationMode.BILINEAR, antialias=True)
    return tvf.pil_to_tensor(img)


def load_image_folder(
    path: str | os.PathLike[str], resize: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Read a whole ImageFolder tree ``path/<class>/**/<image>``.

    Returns:
        ``x`` float32 ``(N, C, H, W)`` in [0,1], ``y`` int64 ``(N,)``, the class names.

    Raises:
        DataError: see :func:`list_image_folder` and :meth:`FolderImages.decode`.
    """
    images = list_image_folder(path, resize)
    x = images.decode(np.arange(len(images)))
    return x, torch.from_numpy(images.labels), list(images.classes)
