"""``split:ROOT`` datasets: the published split files of ImageNet-LT and iNaturalist.

A split file lists one image per line as ``relative/path label`` (the label a decimal
integer, the path relative to the dataset root, split from the label at the last run of
whitespace so that a path may hold spaces). :func:`read_split_file` reads one without opening
any image; :func:`open_split_dataset` reads a training and a test split, takes the training
class counts from the training split (they define the class groups, shot groups by default)
and keeps the paths as one numpy byte array, so that DataLoader workers share them without
copying (:mod:`ltrobust.data.stream`). docs/METHODS.md §1.8 has the rules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltrobust.data.profile import class_groups, stratified_subsample, validate_class_counts
from ltrobust.data.specs import SplitPreset
from ltrobust.errors import DataError
from ltrobust.readlog import note_read

PathLike = str | os.PathLike[str]
#: the class groups of split datasets unless asked otherwise (ImageNet-LT's convention)
DEFAULT_GROUP_MODE = "shot"
_SHOWN = 60


@dataclass
class SplitEntries:
    """The lines of one split file.

    Attributes:
        file: the split file.
        paths: the relative paths as UTF-8 bytes (numpy ``S`` array), in file order.
        labels: int64 ``(N,)`` labels.
    """

    file: Path
    paths: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def path(self, position: int) -> str:
        """The relative path on line ``position`` (0-based, blank lines not counted)."""
        return bytes(self.paths[position]).decode("utf-8", "surrogateescape")


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")


def _clean_path(raw: str) -> str | None:
    """``raw`` with ``.`` parts and doubled slashes removed, or None when it leaves the root
    (absolute, a drive or a ``..`` part)."""
    if raw.startswith(("/", "\\")) or (len(raw) > 1 and raw[1] == ":"):
        return None
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _parse_line(line: str, where: str, num_classes: int | None) -> tuple[str, int]:
    """``(clean relative path, label)`` of one non-blank line; DataError naming ``where``."""
    fields = line.rsplit(None, 1)
    if len(fields) != 2:
        raise DataError(f"{where}: expected 'relative/path label', got {_shown(line)}")
    raw, token = fields
    if not token.lstrip("-").isdigit() or not token.isascii() or token.count("-") > 1:
        raise DataError(f"{where}: the label {_shown(token)} is not an integer")
    label = int(token)
    if label < 0:
        raise DataError(f"{where}: the label {label} is negative")
    if num_classes is not None and label >= num_classes:
        raise DataError(f"{where}: the label {label} is outside 0..{num_classes - 1}")
    path = _clean_path(raw.strip())
    if path is None:
        raise DataError(f"{where}: the path {_shown(raw)} leaves the dataset root")
    return path, label


def read_split_file(file: PathLike, num_classes: int | None = None) -> SplitEntries:
    """Read a split file: ``relative/path label`` per line (blank lines skipped).

    Args:
        file: the split file (UTF-8; a byte-order mark and CRLF line ends are accepted).
        num_classes: when given, every label must lie in ``0..num_classes-1``.

    Raises:
        DataError: a missing or unreadable file, or (naming ``FILE:LINE``) a malformed line,
            a label that is no integer, negative or out of range, a path outside the root
            (absolute or with ``..``), a path listed twice; or a file without entries.
    """
    path = Path(file).expanduser()
    if not path.is_file():
        raise DataError(f"split file not found: {path}")
    note_read(path)
    seen: dict[str, int] = {}
    labels: list[int] = []
    try:
        with open(path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                rel, label = _parse_line(line.strip(), f"{path}:{number}", num_classes)
                first = seen.setdefault(rel, number)
                if first != number:
                    raise DataError(
                        f"{path}:{number}: {_shown(rel)} is listed twice (first on line {first})"
                    )
                labels.append(label)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the split file ({type(exc).__name__})") from None
    if not labels:
        raise DataError(f"{path}: no 'relative/path label' lines")
    encoded = [p.encode("utf-8", "surrogateescape") for p in seen]
    return SplitEntries(path, np.array(encoded, dtype=bytes), np.asarray(labels, np.int64))


def _folder_names(entries: SplitEntries, num_classes: int, level: int) -> list[str] | None:
    """Each class's folder ``level`` steps above its images, when every class has exactly
    one and they differ; else None."""
    names: list[set[bytes]] = [set() for _ in range(num_classes)]
    for rel, label in zip(entries.paths.tolist(), entries.labels.tolist(), strict=True):
        parts = rel.split(b"/")
        names[label].add(parts[-1 - level] if len(parts) > level else b"")
    found = [next(iter(n)).decode("utf-8", "replace") if len(n) == 1 else "" for n in names]
    return found if all(found) and len(set(found)) == num_classes else None


def _class_names(entries: SplitEntries, num_classes: int) -> list[str]:
    """The class names: the folder holding each class's images (ImageNet's ``nXXXXXXXX``),
    else the one above it (Tiny-ImageNet's ``<wnid>/images``), else the labels as text."""
    for level in (1, 2):
        names = _folder_names(entries, num_classes, level)
        if names is not None:
            return names
    return [str(c) for c in range(num_classes)]


@dataclass
class SplitData:
    """A split-file dataset: its root, both splits, and the profile taken from the training
    split.

    Attributes:
        root: the dataset root the split files' paths are relative to.
        train, test: the two splits.
        num_classes: ``C`` (the preset's, else the largest training label + 1).
        class_counts: training images per class (every class has at least one).
        class_names: the classes' folder names, or the labels as text.
        preset: the preset, or None for ``split:ROOT``.
    """

    root: Path
    train: SplitEntries
    test: SplitEntries
    num_classes: int
    class_counts: list[int]
    class_names: list[str]
    preset: SplitPreset | None = None

    @property
    def imbalance_ratio(self) -> float:
        """``max / min`` of the training counts."""
        return max(self.class_counts) / min(self.class_counts)

    def groups(self, mode: str = DEFAULT_GROUP_MODE) -> dict[str, list[int]]:
        """The class groups of the training counts (:func:`class_groups`; ``shot`` by
        default: many > 100, medium 20..100, few < 20 training images)."""
        return class_groups(self.class_counts, mode)

    def test_positions(self, n: int | None = None, seed: int = 0) -> np.ndarray:
        """Positions (ascending) of the evaluated test images: all of them, or ``n`` chosen
        class-stratified from the labels alone (:func:`stratified_subsample` with ``seed``;
        docs/METHODS.md §1.3); no image is opened."""
        labels = self.test.labels
        if n is None:
            return np.arange(len(labels), dtype=np.int64)
        return stratified_subsample(labels, n, self.num_classes, seed)


def _resolve(root: Path, split: PathLike | None, default: str | None, which: str) -> Path:
    """The split file: ``split`` as given (relative to the working folder), else the preset's
    file name inside ``root``."""
    if split is not None:
        return Path(split).expanduser()
    if default is None:
        raise DataError(f"split:{root} needs a {which} split file (relative/path label lines)")
    return root / default


def open_split_dataset(
    root: PathLike,
    train_split: PathLike | None = None,
    test_split: PathLike | None = None,
    preset: SplitPreset | None = None,
) -> SplitData:
    """Read a split-file dataset without opening any image.

    Args:
        root: the folder the split files' paths are relative to.
        train_split, test_split: the split files; default: the preset's file names in ``root``.
        preset: fixes ``C`` (labels must lie in ``0..C-1``) and the default files.

    Raises:
        DataError: a missing root or split file, any defect :func:`read_split_file` names, a
            class without training images, or a test label with no training class.
    """
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"dataset root not found: {folder}")
    fixed = preset.num_classes if preset is not None else None
    train_file = _resolve(folder, train_split, preset.train_split if preset else None, "training")
    test_file = _resolve(folder, test_split, preset.test_split if preset else None, "test")
    train = read_split_file(train_file, fixed)
    num_classes = fixed if fixed is not None else int(train.labels.max()) + 1
    sizes = np.bincount(train.labels, minlength=num_classes).tolist()
    empty = [c for c, size in enumerate(sizes) if size == 0]
    if empty:
        listed = ", ".join(str(c) for c in empty[:5]) + (", ..." if len(empty) > 5 else "")
        raise DataError(
            f"{train.file}: {len(empty)} of {num_classes} classes have no training image "
            f"(labels {listed}); the training counts define the class groups"
        )
    test = read_split_file(test_file, num_classes)
    counts = validate_class_counts(sizes, num_classes, what=f"{train.file}: class counts")
    names = _class_names(train, num_classes)
    return SplitData(folder, train, test, num_classes, counts, names, preset)
