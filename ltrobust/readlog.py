"""Which files an audit's inputs were read from, so that each is hashed into the resume key
and the report's provenance.

Every reader of a model or data file calls :func:`note_read` with the path it opens (a model
file, an ONNX graph's external weights, a timm folder's ``config.json``, a dataset's files, an
image of a folder dataset, a tensor file). :func:`recording` collects those paths for the block
it wraps; outside one, :func:`note_read` does nothing. :func:`file_digests` hashes them.
Torch-free.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_LOG: ContextVar[list[Path] | None] = ContextVar("ltrobust_read_log", default=None)


def note_read(path: str | os.PathLike[str]) -> None:
    """Record that ``path`` is read (inside :func:`recording`; otherwise nothing)."""
    log = _LOG.get()
    if log is not None:
        log.append(Path(path))


@contextmanager
def recording() -> Iterator[list[Path]]:
    """Collect the paths noted while the block runs (a list that grows as they are read)."""
    log: list[Path] = []
    token = _LOG.set(log)
    try:
        yield log
    finally:
        _LOG.reset(token)


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the bytes of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """``{absolute path: sha256}`` of each distinct regular file in ``paths``, sorted by path
    (a file removed since it was read maps to ``"missing"``)."""
    out: dict[str, str] = {}
    for path in sorted({str(Path(p).absolute()) for p in paths}):
        try:
            out[path] = sha256_of(path)
        except OSError:
            out[path] = "missing"
    return out
