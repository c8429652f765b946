"""Custom data: ``tensors:FILE.pt`` and class-count files (``folder:PATH`` is
:mod:`ltrobust.data.folder`).

Custom datasets carry no training profile, so their training class counts come from the user
(:func:`load_class_counts`). Images are returned as float32 tensors in [0,1], ``(N, C, H, W)``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from ltrobust.data.profile import validate_class_counts
from ltrobust.errors import DataError
from ltrobust.readlog import note_read

logger = logging.getLogger(__name__)

CustomData = tuple[torch.Tensor, torch.Tensor, list[str] | None]


def _tensor_x(x: Any, path: Path) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise DataError(f"{path}: 'x' must be a 4-D tensor (N, C, H, W)")
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255.0)
    if not x.is_floating_point():
        raise DataError(f"{path}: 'x' has dtype {x.dtype}; use float in [0,1] or uint8")
    x = x.to(torch.float32)
    if x.numel() and (not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise DataError(f"{path}: 'x' has values outside [0,1] (pixels must be in [0,1])")
    return x


def _tensor_y(y: Any, n: int, path: Path) -> torch.Tensor:
    if isinstance(y, (list, tuple)):
        try:
            y = torch.as_tensor(y)
        except (TypeError, ValueError, RuntimeError):
            raise DataError(f"{path}: 'y' must be a list or tensor of integer labels") from None
    if not isinstance(y, torch.Tensor) or y.dim() != 1:
        raise DataError(f"{path}: 'y' must be a 1-D tensor of integer labels")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise DataError(f"{path}: 'y' has dtype {y.dtype}; labels must be integers")
    if y.numel() != n:
        raise DataError(f"{path}: {y.numel()} labels for {n} images")
    return y.to(torch.int64)


def load_tensor_file(path: str | os.PathLike[str]) -> CustomData:
    """Read a ``.pt`` file with ``torch.load(weights_only=True)``.

    Accepted content: a dict with ``x`` (``(N, C, H, W)`` float in [0,1], or uint8 which is
    divided by 255), ``y`` (``(N,)`` integer labels) and optional ``class_names`` (list of
    str); or a tuple/list ``(x, y)``.

    Returns:
        ``x`` float32 ``(N, C, H, W)``, ``y`` int64 ``(N,)``, class names or None.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"tensor file not found: {file}")
    note_read(file)
    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        msg = f"{file}: cannot load with torch.load(weights_only=True) ({type(exc).__name__})"
        raise DataError(msg) from None
    names: Any = None
    if isinstance(obj, dict) and "x" in obj and "y" in obj:
        x, y, names = obj["x"], obj["y"], obj.get("class_names")
    elif isinstance(obj, (tuple, list)) and len(obj) == 2:
        x, y = obj
    else:
        raise DataError(f"{file}: expected a dict with 'x' and 'y' or a tuple (x, y)")
    if names is not None:
        if not isinstance(names, (list, tuple)) or not all(isinstance(s, str) for s in names):
            raise DataError(f"{file}: 'class_names' must be a list of strings")
        names = list(names)
    x_t = _tensor_x(x, file)
    if x_t.shape[0] == 0:
        raise DataError(f"{file}: no samples")
    return x_t, _tensor_y(y, x_t.shape[0], file), names


def check_tensors(x: Any, y: Any, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """In-memory ``x``, ``y`` checked as a tensor file's are (errors name ``where``)."""
    x_t = _tensor_x(x, Path(where))
    if x_t.shape[0] == 0:
        raise DataError(f"{where}: no samples")
    return x_t, _tensor_y(y, x_t.shape[0], Path(where))


def _parse_int(cell: str) -> int | None:
    try:
        return int(cell)
    except ValueError:
        return None


#: training counts by class name (matched to the dataset's class names when the data loads)
NamedCounts = dict[str, int]


def _named(pairs: list[tuple[str, Any]], path: Path) -> NamedCounts:
    """``name -> count`` from ``(name, count)`` pairs; a name given twice is refused."""
    seen: NamedCounts = {}
    for name, _ in pairs:
        if name in seen:
            raise DataError(f"{path}: class {name!r} has two counts")
        seen[name] = 0
    values = validate_class_counts([v for _, v in pairs], what=str(path))
    return {name: count for (name, _), count in zip(pairs, values, strict=True)}


def _counts_from_json(text: str, path: Path) -> list[int] | NamedCounts:
    try:
        obj = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply") from None
    if isinstance(obj, list) and obj and all(isinstance(p, tuple) for p in obj):
        return _named(obj, path)  # an object, as its (name, count) pairs in file order
    if obj == [] and text.lstrip().startswith("{"):
        raise DataError(f"{path}: an empty object, expected name -> count")
    if not isinstance(obj, list):
        raise DataError(f"{path}: expected a JSON list of counts or an object name -> count")
    return validate_class_counts(obj, what=str(path))


def _counts_from_csv(text: str, path: Path) -> list[int] | NamedCounts:
    rows = []
    for row in csv.reader(io.StringIO(text)):
        cells = [cell.strip() for cell in row]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            rows.append(cells)
    width = {len(row) for row in rows}
    if len(rows) == 1 and all(_parse_int(c) is not None for c in rows[0]):
        values = [_parse_int(c) for c in rows[0]]
    elif width in ({1}, {2}):
        col = width.pop() - 1
        if len(rows) > 1 and _parse_int(rows[0][col]) is None:
            rows = rows[1:]  # header line
        values = [_parse_int(row[col]) for row in rows]
        bad = next((i for i, v in enumerate(values) if v is None), None)
        if bad is not None:
            raise DataError(f"{path}: {rows[bad][col]!r} is not an integer count")
        if col == 1:
            return _named([(row[0], v) for row, v in zip(rows, values, strict=True)], path)
    else:
        msg = "expected comma-separated counts, one per line, or name,count rows"
        raise DataError(f"{path}: {msg}")
    return validate_class_counts(values, what=str(path))  # type: ignore[arg-type]


def load_class_counts(path: str | os.PathLike[str]) -> list[int] | NamedCounts:
    """Training class counts from a file, one positive integer per class.

    Formats: a JSON list of ints (label order); a JSON object ``{class_name: count}``; or CSV:
    one line of comma-separated ints, one int per line (label order), or two columns
    ``name,count`` with an optional header line. A file is read as JSON when it ends in
    ``.json`` or starts with ``[`` or ``{``. Counts by name come back as a dict, matched to
    the dataset's class names by :func:`match_class_counts` (never by position).

    Raises:
        DataError: missing file, unparsable content, a count that is not a positive integer,
            or a class name given twice.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"class counts file not found: {file}")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot read class counts ({type(exc).__name__})") from None
    stripped = text.strip()
    if not stripped:
        raise DataError(f"{file}: empty class counts file")
    if file.suffix.lower() == ".json" or stripped[0] in "[{":
        return _counts_from_json(stripped, file)
    return _counts_from_csv(stripped, file)


def match_class_counts(
    counts: NamedCounts, class_names: list[str], where: str = "class counts"
) -> list[int]:
    """Counts by name in the order of ``class_names`` (the dataset's classes): a name that is
    no class, or a class without a count, is a DataError naming it."""
    if not class_names:
        raise DataError(
            f"{where}: counts are given by class name, but the dataset has no class names "
            "(give a JSON list in label order)"
        )
    unknown = [name for name in counts if name not in class_names]
    if unknown:
        raise DataError(
            f"{where}: {unknown[0]!r} is not a class of the dataset "
            f"({', '.join(repr(n) for n in class_names[:12])})"
        )
    missing = [name for name in class_names if name not in counts]
    if missing:
        raise DataError(f"{where}: class {missing[0]!r} has no count")
    return [counts[name] for name in class_names]
