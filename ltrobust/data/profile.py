"""The long-tailed profile: per-class counts, which images, class groups, stratified subsets.

Formulas follow docs/METHODS.md §1 (the profile of LDAM, RoBal, REAT and AT-BSL). Every random
choice uses a dedicated :class:`numpy.random.RandomState`; the global numpy and torch random
states are never touched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ltrobust.errors import ConfigError, DataError
from ltrobust.limits import MAX_INT

GROUP_MODES: tuple[str, ...] = ("thirds", "shot")
#: what ``--groups`` accepts: ``auto`` picks one of :data:`GROUP_MODES` from the counts
GROUP_CHOICES: tuple[str, ...] = ("auto", *GROUP_MODES)

#: Shot-mode thresholds (ImageNet-LT convention): many > 100, medium 20..100, few < 20.
MANY_SHOT_MIN = 101
FEW_SHOT_MAX = 19


def check_positive_int(value: object, what: str) -> int:
    """Return ``value`` as an int; ConfigError unless it is an integer >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def check_imbalance_ratio(imbalance_ratio: float) -> float:
    """Return ``imbalance_ratio`` as a float; ConfigError unless it is finite and >= 1."""
    try:
        ratio = float(imbalance_ratio)
    except (TypeError, ValueError):
        ratio = math.nan
    if not math.isfinite(ratio) or ratio < 1.0:
        raise ConfigError(f"imbalance ratio must be a finite number >= 1, got {imbalance_ratio!r}")
    return ratio


def lt_counts(n_max: int, imbalance_ratio: float, num_classes: int) -> list[int]:
    """Per-class training counts of the exponential long-tailed profile.

    ``n_i = floor(n_max * (1/IR) ** (i / (C - 1)))`` for ``i = 0..C-1`` (class 0 is the head),
    computed exactly as the LDAM/RoBal reference code does so that the counts match bit for bit
    (CIFAR-10, IR 50: ``[5000, 3237, ..., 154, 100]``). With one class the result is ``[n_max]``.

    Raises:
        ConfigError: ``n_max < 1``, ``num_classes < 1`` or an imbalance ratio that is not >= 1.
    """
    n_max = check_positive_int(n_max, "n_max")
    num_classes = check_positive_int(num_classes, "num_classes")
    ratio = check_imbalance_ratio(imbalance_ratio)
    if num_classes == 1:
        return [n_max]
    factor = 1.0 / ratio
    return [int(n_max * factor ** (i / (num_classes - 1.0))) for i in range(num_classes)]


def validate_class_counts(
    counts: Sequence[int], num_classes: int | None = None, what: str = "class counts"
) -> list[int]:
    """Return ``counts`` as a list of Python ints after checking it.

    Each entry must be an integer >= 1 (a float with an integral value is accepted) and, when
    ``num_classes`` is given, there must be exactly one entry per class.

    Raises:
        DataError: an entry is not a positive integer, or the length is wrong.
    """
    out: list[int] = []
    for i, value in enumerate(counts):
        if isinstance(value, bool):
            raise DataError(f"{what}: entry {i} is {value!r}, expected a positive integer")
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        if not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_INT:
            raise DataError(
                f"{what}: entry {i} is {value!r}, expected a positive integer up to 2**53"
            )
        out.append(int(value))
    if not out:
        raise DataError(f"{what}: empty, expected one positive integer per class")
    if num_classes is not None and len(out) != num_classes:
        raise DataError(f"{what}: {len(out)} entries, but the dataset has {num_classes} classes")
    return out


def _as_labels(labels: object) -> np.ndarray:
    """Labels as a 1-D int64 numpy array (accepts lists, numpy arrays and torch tensors)."""
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise DataError(f"labels must be a 1-D integer array, got shape {arr.shape} {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def select_lt_indices(labels: object, counts: Sequence[int], seed: int = 0) -> np.ndarray:
    """Indices of the long-tailed subset, exactly as the reference repositories pick them.

    A dedicated ``np.random.RandomState(seed)``; for class ``c = 0..C-1`` in order:
    ``idx = np.where(labels == c)[0]``, ``rs.shuffle(idx)``, keep ``idx[:counts[c]]``. The kept
    indices are concatenated in class order (not sorted). With the CIFAR training sets and
    ``seed=0`` this gives the same images as LDAM, RoBal and REAT.

    Args:
        labels: shape ``(N,)`` integer labels of the full (balanced) set.
        counts: ``C`` entries, the number of images to keep per class.
        seed: seed of the dedicated random state.

    Returns:
        int64 array of shape ``(sum(counts),)``.

    Raises:
        DataError: a class has fewer images than ``counts`` asks for.
    """
    y = _as_labels(labels)
    rs = np.random.RandomState(seed)
    parts: list[np.ndarray] = []
    for c, want in enumerate(counts):
        idx = np.where(y == c)[0]
        if want < 0 or len(idx) < want:
            raise DataError(f"class {c} has {len(idx)} images, the long-tailed profile asks {want}")
        rs.shuffle(idx)
        parts.append(idx[: int(want)])
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(parts).astype(np.int64, copy=False)


def resolve_group_mode(counts: Sequence[int], mode: str = "auto") -> str:
    """``mode``, or for ``"auto"``: ``"shot"`` when the training counts put at least one class in
    each of many (> 100), medium (20..100) and few (< 20), as CIFAR-100-LT at imbalance ratio 100
    does (the groups the LDAM/CMO/AFR literature reports), else ``"thirds"``.

    Raises:
        ConfigError: unknown ``mode``.
    """
    if mode not in GROUP_CHOICES:
        raise ConfigError(f"unknown group mode {mode!r}; valid: {', '.join(GROUP_CHOICES)}")
    if mode != "auto":
        return mode
    values = [int(v) for v in counts]
    spans = (
        any(v >= MANY_SHOT_MIN for v in values)
        and any(FEW_SHOT_MAX < v < MANY_SHOT_MIN for v in values)
        and any(v <= FEW_SHOT_MAX for v in values)
    )
    return "shot" if spans else "thirds"


def class_groups(counts: Sequence[int], mode: str = "thirds") -> dict[str, list[int]]:
    """Split classes into groups by their TRAINING counts.

    ``"thirds"``: classes sorted by count, descending (stable, ties keep class order); head is
    the first ``floor(C/3)``, tail the last ``floor(C/3)``, body the rest. Keys ``head, body,
    tail``. ``"shot"``: many (> 100), medium (20..100), few (< 20) training images; keys
    ``many, medium, few``; empty groups are kept as empty lists. Each list is sorted ascending.

    Raises:
        ConfigError: unknown ``mode``.
        DataError: ``counts`` is empty.
    """
    values = [int(v) for v in counts]
    if not values:
        raise DataError("class groups need at least one class count")
    mode = resolve_group_mode(values, mode)
    if mode == "shot":
        return {
            "many": [c for c, v in enumerate(values) if v >= MANY_SHOT_MIN],
            "medium": [c for c, v in enumerate(values) if FEW_SHOT_MAX < v < MANY_SHOT_MIN],
            "few": [c for c, v in enumerate(values) if v <= FEW_SHOT_MAX],
        }
    order = sorted(range(len(values)), key=lambda c: -values[c])  # sorted() is stable
    third = len(values) // 3
    return {
        "head": sorted(order[:third]),
        "body": sorted(order[third : len(values) - third]),
        "tail": sorted(order[len(values) - third :]),
    }


def proportional_quotas(class_sizes: Sequence[int], n: int) -> list[int]:
    """Split ``n`` over classes in proportion to ``class_sizes`` (largest remainder method).

    Each class first gets ``floor(n * size / total)``; the leftover units go one each to the
    classes with the largest fractional parts (ties: lower class index first). The result sums
    to ``min(n, total)`` and never exceeds a class's size.
    """
    sizes = [int(s) for s in class_sizes]
    total = sum(sizes)
    if n >= total:
        return sizes
    # Exact integer arithmetic: quota = n*size // total, remainder n*size % total.
    quotas = [n * s // total for s in sizes]
    remainders = [n * s % total for s in sizes]
    leftover = n - sum(quotas)
    order = sorted(range(len(sizes)), key=lambda c: (-remainders[c], c))
    for c in order[:leftover]:
        quotas[c] += 1
    return quotas


def stratified_subsample(labels: object, n: int, num_classes: int, seed: int = 0) -> np.ndarray:
    """Positions of ``n`` samples keeping the class proportions of ``labels``.

    Per-class quotas from :func:`proportional_quotas`; within each class (in class order) a
    shuffle by one dedicated ``RandomState(seed)`` and the first quota kept. ``n`` larger than
    ``len(labels)`` keeps everything.

    Returns:
        int64 array of positions into ``labels``, sorted ascending.

    Raises:
        ConfigError: ``n < 1``.
    """
    n = check_positive_int(n, "n")
    y = _as_labels(labels)
    if n >= len(y):
        return np.arange(len(y), dtype=np.int64)
    sizes = np.bincount(y, minlength=num_classes)[:num_classes].tolist()
    quotas = proportional_quotas(sizes, n)
    rs = np.random.RandomState(seed)
    parts: list[np.ndarray] = []
    for c, quota in enumerate(quotas):
        idx = np.where(y == c)[0]
        rs.shuffle(idx)
        parts.append(idx[:quota])
    return np.sort(np.concatenate(parts)).astype(np.int64, copy=False)
