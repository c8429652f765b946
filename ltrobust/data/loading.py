"""Evaluation and training sets as tensors: :class:`EvalData`, :func:`load_eval_data`,
:func:`load_train_data`.

Presets (``cifar10-lt``, ``cifar100-lt``, ``fashion-mnist-lt``) are read from the official
files (see :mod:`ltrobust.data.discovery`); custom data comes as ``folder:PATH`` or
``tensors:FILE.pt`` together with the training class counts, which define the class groups.
The samples are chosen from the labels alone; a folder's images are then decoded only for the
chosen samples (:class:`ltrobust.data.folder.FolderImages`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ltrobust.data.custom import (
    NamedCounts,
    check_tensors,
    load_class_counts,
    load_tensor_file,
    match_class_counts,
)
from ltrobust.data.discovery import ensure_dataset
from ltrobust.data.folder import FolderImages, list_image_folder
from ltrobust.data.profile import (
    check_imbalance_ratio,
    check_positive_int,
    lt_counts,
    select_lt_indices,
    stratified_subsample,
    validate_class_counts,
)
from ltrobust.data.readers import read_split
from ltrobust.data.specs import DatasetSpec, get_spec, is_custom
from ltrobust.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
CountsArg = Sequence[int] | Mapping[str, int] | PathLike | None


@dataclass
class EvalData:
    """A labelled image set ready for evaluation (or training, with ``split="train"``).

    Attributes:
        name: the dataset name as given (``"cifar10-lt"``, ``"folder:/path"``, ...).
        x: float32 ``(N, C, H, W)`` pixels in [0,1] (no normalisation).
        y: int64 ``(N,)`` labels in ``0..num_classes-1``.
        indices: int64 ``(N,)`` position of each sample in the source set (the official test
            set, the official training set, or the custom file/folder order).
        class_counts: TRAINING images per class (they define head/body/tail groups).
        class_names: one name per class, in label order.
        num_classes: number of classes ``C``.
        test_imbalanced: True when the long-tailed profile was applied to the test set.
        imbalance_ratio: imbalance ratio of the training profile (``max/min`` of the counts for
            custom data).
        source: the folder or file the data was read from.
        spec: the preset, or None for custom data.
        split: ``"test"`` for :func:`load_eval_data`, ``"train"`` for :func:`load_train_data`.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    indices: torch.Tensor
    class_counts: list[int]
    class_names: list[str]
    num_classes: int
    test_imbalanced: bool
    imbalance_ratio: float | None
    source: str
    spec: DatasetSpec | None
    split: str = "test"

    @property
    def test_counts(self) -> list[int]:
        """Samples per class in this set (length ``num_classes``)."""
        return torch.bincount(self.y, minlength=self.num_classes).tolist()

    @property
    def shape(self) -> tuple[int, int, int]:
        """Image shape ``(C, H, W)``."""
        c, h, w = self.x.shape[1:]
        return (int(c), int(h), int(w))

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class _Source:
    """A whole source set: ``x`` uint8 numpy (presets), float32 tensor (``tensors:``) or the
    listed, not yet decoded, images of a ``folder:``."""

    x: np.ndarray | torch.Tensor | FolderImages
    y: np.ndarray
    class_names: list[str]
    spec: DatasetSpec | None
    where: str


def _check_resize(dataset: str, resize: int | None) -> int | None:
    if resize is None:
        return None
    if not dataset.startswith("folder:"):
        raise ConfigError(f"--resize applies to folder: datasets only, not {dataset}")
    return check_positive_int(resize, "--resize")


def _read_source(
    dataset: str, split: str, data_dir: PathLike | None, download: bool, resize: int | None
) -> _Source:
    """Read the whole ``split`` of a preset, or the whole custom set (which has one split); a
    folder is only listed (:func:`_take` decodes its images)."""
    kind, _, where = dataset.partition(":")
    if kind in ("folder", "tensors") and not where.strip():
        example = "folder:./images" if kind == "folder" else "tensors:test.pt"
        raise ConfigError(f"--dataset {kind}: needs a path, e.g. {example}")
    if dataset.startswith("folder:"):
        images = list_image_folder(dataset[len("folder:") :], resize)
        return _Source(images, images.labels, list(images.classes), None, where)
    if dataset.startswith("tensors:"):
        x, y, names = load_tensor_file(dataset[len("tensors:") :])
        return _Source(x, y.numpy(), list(names or []), None, dataset[len("tensors:") :])
    spec = get_spec(dataset)
    folder = ensure_dataset(spec, data_dir, download=download)
    x_u8, y_np = read_split(spec, folder, split)
    return _Source(x_u8, y_np, list(spec.class_names), spec, str(folder))


def _take(x: np.ndarray | torch.Tensor | FolderImages, positions: np.ndarray) -> torch.Tensor:
    """Rows ``positions`` of ``x`` as a new float32 tensor in [0,1] (a folder decodes only
    those images)."""
    if isinstance(x, FolderImages):
        return x.decode(positions)
    if isinstance(x, torch.Tensor):
        return x[torch.from_numpy(positions)].to(torch.float32)
    return torch.from_numpy(x[positions]).to(torch.float32).div_(255.0)


def _check_labels(dataset: str, y: np.ndarray, num_classes: int) -> None:
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(f"{dataset}: labels outside 0..{num_classes - 1}")


def _explicit_counts(class_counts: CountsArg) -> list[int] | NamedCounts | None:
    """Explicit training counts (a sequence, counts by class name, or a counts file), each a
    positive integer."""
    if class_counts is None:
        return None
    if isinstance(class_counts, (str, os.PathLike)):
        return load_class_counts(class_counts)
    if isinstance(class_counts, Mapping):
        names = [str(k) for k in class_counts]
        return dict(zip(names, validate_class_counts(list(class_counts.values())), strict=True))
    return validate_class_counts(class_counts, what="class counts")


def _profile(
    dataset: str,
    src: _Source,
    explicit: list[int] | NamedCounts | None,
    imbalance_ratio: float | None,
) -> tuple[int, list[int], float]:
    """``(num_classes, training counts, imbalance ratio)`` for a loaded source set.

    ``C`` comes from the preset, else the custom class names, else the explicit counts.
    Without explicit counts (presets only) the counts are ``lt_counts(n_max, IR, C)``; the
    ratio is ``imbalance_ratio``, else the preset default, else ``max/min`` of the counts.
    """
    if isinstance(explicit, dict):
        names = list(src.spec.class_names) if src.spec is not None else src.class_names
        explicit = match_class_counts(explicit, names, f"--class-counts for {dataset}")
    if src.spec is not None:
        num_classes = src.spec.num_classes
    else:
        assert explicit is not None
        num_classes = len(src.class_names) or len(explicit)
        _check_labels(dataset, src.y, num_classes)
    if explicit is not None:
        counts = validate_class_counts(explicit, num_classes, what="class counts")
        ratio = imbalance_ratio if imbalance_ratio is not None else max(counts) / min(counts)
        return num_classes, counts, ratio
    assert src.spec is not None
    ratio = imbalance_ratio if imbalance_ratio is not None else src.spec.default_ir
    return num_classes, lt_counts(src.spec.n_max, ratio, num_classes), ratio


def _lt_test_positions(y: np.ndarray, num_classes: int, ratio: float, seed: int) -> np.ndarray:
    """Long-tailed test subset: the training profile with n_max = the smallest class size."""
    n_max = int(np.bincount(y, minlength=num_classes)[:num_classes].min())
    if n_max < 1:
        raise DataError("a long-tailed test set needs test images of every class")
    return np.sort(select_lt_indices(y, lt_counts(n_max, ratio, num_classes), seed))


def load_eval_data(
    dataset: str,
    *,
    data_dir: PathLike | None = None,
    imbalance_ratio: float | None = None,
    test_imbalanced: bool = False,
    class_counts: CountsArg = None,
    n: int | None = None,
    seed: int = 0,
    download: bool = True,
    resize: int | None = None,
) -> EvalData:
    """Load an evaluation set.

    Presets: the balanced official test set; ``test_imbalanced`` applies the training profile
    (same IR, ``n_max`` = test images per class, :func:`select_lt_indices` with ``seed``).
    ``class_counts`` (a list or a counts file) defaults to ``lt_counts(spec.n_max, IR, C)``
    with IR = ``imbalance_ratio`` or the preset's default. Custom data (``folder:PATH``,
    ``tensors:FILE.pt``) requires ``class_counts``. ``n`` keeps ``n`` samples with the class
    proportions of the set (:func:`stratified_subsample` with ``seed``); ``n`` above the set
    size keeps all. Indices are sorted ascending. The samples are chosen from the labels, so a
    folder decodes only the images kept; ``resize`` (folders only) resizes each to
    ``resize`` x ``resize`` (:mod:`ltrobust.data.folder`).

    Raises:
        ConfigError: unknown dataset name, ``n < 1``, an imbalance ratio below 1, or
            ``resize`` below 1 or given for data that is no folder.
        DataError: missing or corrupt files, counts of the wrong length, bad labels.
    """
    if n is not None:
        n = check_positive_int(n, "n")
    resize = _check_resize(dataset, resize)
    if imbalance_ratio is not None:
        imbalance_ratio = check_imbalance_ratio(imbalance_ratio)
    if is_custom(dataset) and class_counts is None:
        raise DataError(
            f"{dataset} needs the training class counts: "
            "pass --class-counts counts.json (a JSON list) or a CSV"
        )
    explicit = _explicit_counts(class_counts)
    src = _read_source(dataset, "test", data_dir, download, resize)
    num_classes, counts, ratio = _profile(dataset, src, explicit, imbalance_ratio)
    positions = np.arange(len(src.y), dtype=np.int64)
    if test_imbalanced:
        positions = _lt_test_positions(src.y, num_classes, ratio, seed)
    if n is not None:
        positions = positions[stratified_subsample(src.y[positions], n, num_classes, seed)]
    names = src.class_names or [str(c) for c in range(num_classes)]
    logger.info("%s: %d test images from %s", dataset, len(positions), src.where)
    return EvalData(
        name=dataset,
        x=_take(src.x, positions),
        y=torch.from_numpy(src.y[positions].astype(np.int64)),
        indices=torch.from_numpy(positions),
        class_counts=counts,
        class_names=names,
        num_classes=num_classes,
        test_imbalanced=test_imbalanced,
        imbalance_ratio=ratio,
        source=src.where,
        spec=src.spec,
    )


def eval_data_from_tensors(
    x: torch.Tensor,
    y: torch.Tensor,
    class_counts: Sequence[int] | Mapping[str, int],
    *,
    class_names: Sequence[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    name: str = "memory",
) -> EvalData:
    """An evaluation set from tensors in memory: ``x`` ``(N, C, H, W)`` float in [0,1] (or
    uint8), ``y`` ``(N,)`` integer labels, with the TRAINING ``class_counts`` (they define the
    groups; a list in label order or ``{class name: count}`` with ``class_names``). ``n``
    subsamples as :func:`load_eval_data` does; indices are positions in ``x``.

    Raises:
        DataError: bad shapes, dtypes or pixel values, labels outside the classes, bad counts.
    """
    if n is not None:
        n = check_positive_int(n, "n")
    x_t, y_t = check_tensors(x.detach().cpu(), y.detach().cpu(), name)
    names = [str(c) for c in class_names] if class_names is not None else []
    src = _Source(x_t, y_t.numpy(), names, None, name)
    if not isinstance(class_counts, Mapping):
        class_counts = validate_class_counts(list(class_counts), what="class_counts")
    num_classes, counts, ratio = _profile(name, src, _explicit_counts(class_counts), None)
    if names and len(names) != num_classes:
        raise DataError(f"{name}: {len(names)} class names for {num_classes} classes")
    positions = np.arange(len(src.y), dtype=np.int64)
    if n is not None:
        positions = positions[stratified_subsample(src.y, n, num_classes, seed)]
    return EvalData(
        name=name,
        x=_take(x_t, positions),
        y=y_t[torch.from_numpy(positions)],
        indices=torch.from_numpy(positions),
        class_counts=counts,
        class_names=names or [str(c) for c in range(num_classes)],
        num_classes=num_classes,
        test_imbalanced=False,
        imbalance_ratio=ratio,
        source=name,
        spec=None,
    )


def load_train_data(
    dataset: str,
    *,
    data_dir: PathLike | None = None,
    imbalance_ratio: float | None = None,
    seed: int = 0,
    download: bool = True,
    n_max: int | None = None,
    resize: int | None = None,
) -> EvalData:
    """Load the long-tailed TRAINING set (``split="train"``; ``x`` float32 in [0,1]).

    Presets: the official training set reduced to ``lt_counts(n_max, IR, C)`` images per
    class by :func:`select_lt_indices` (``seed`` 0 gives the reference repositories' images);
    ``n_max`` defaults to the preset's, IR to ``imbalance_ratio`` or the preset default.
    ``indices`` are positions in the official training set, in the selection's class order.
    Custom data is used as it is; its counts are the images per class (every class needs one).
    ``resize`` as in :func:`load_eval_data`.

    Raises:
        ConfigError: unknown dataset, an imbalance ratio below 1, ``imbalance_ratio`` /
            ``n_max`` given for custom data, or a bad ``resize``.
        DataError: missing or corrupt files, or a class with fewer images than the profile.
    """
    if imbalance_ratio is not None:
        imbalance_ratio = check_imbalance_ratio(imbalance_ratio)
    if is_custom(dataset) and (imbalance_ratio is not None or n_max is not None):
        raise ConfigError(f"{dataset}: imbalance_ratio and n_max apply only to preset datasets")
    src = _read_source(dataset, "train", data_dir, download, _check_resize(dataset, resize))
    if src.spec is not None:
        ratio = imbalance_ratio if imbalance_ratio is not None else src.spec.default_ir
        num_classes = src.spec.num_classes
        counts = lt_counts(n_max if n_max is not None else src.spec.n_max, ratio, num_classes)
        positions = select_lt_indices(src.y, counts, seed)
    else:
        num_classes = len(src.class_names) or int(src.y.max()) + 1
        _check_labels(dataset, src.y, num_classes)
        sizes = np.bincount(src.y, minlength=num_classes).tolist()
        counts = validate_class_counts(sizes, what=f"{dataset}: training images per class")
        ratio = max(counts) / min(counts)
        positions = np.arange(len(src.y), dtype=np.int64)
    logger.info("%s: %d training images from %s", dataset, len(positions), src.where)
    return EvalData(
        name=dataset,
        x=_take(src.x, positions),
        y=torch.from_numpy(src.y[positions].astype(np.int64)),
        indices=torch.from_numpy(positions),
        class_counts=counts,
        class_names=src.class_names or [str(c) for c in range(num_classes)],
        num_classes=num_classes,
        test_imbalanced=False,
        imbalance_ratio=ratio,
        source=src.where,
        spec=src.spec,
        split="train",
    )
