"""Atomic file writes (a file is either absent or complete, never half-written), checks that
output locations can be written before any work starts, and writes that name what failed."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The caller writes the whole file to the yielded path. If the block raises, the temporary
    file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _probe(folder: Path, label: str) -> None:
    """Raise :class:`OutputError` unless a file can be created in the existing ``folder``."""
    from ltrobust.errors import OutputError

    if not folder.is_dir():
        raise OutputError(f"{label}: {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".ltrobust-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{label}: cannot write in {folder}: {_reason(exc)}") from None


def check_output_dir(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be a folder of new files: it is a folder or
    can be created under its nearest existing ancestor, and a file can be written there.
    Creates nothing (a probe file is removed at once). Raises :class:`OutputError`."""
    target = Path(path)
    _probe(_first_existing(target.absolute()), f"{what} {target}")
    return target


def check_output_file(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """Check, before any work, that the file ``path`` can be written (its folder as in
    :func:`check_output_dir`; ``path`` itself not a folder). Raises :class:`OutputError`."""
    from ltrobust.errors import OutputError

    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{what} {target} is a folder; give a file name")
    _probe(_first_existing(target.absolute().parent), f"{what} {target}")
    return target


def write_all(
    writers: list[tuple[str | os.PathLike[str], Callable[[], object]]],
    written: list[Path] | None = None,
) -> list[Path]:
    """Run each ``(path, write)`` in order; an OS error raises :class:`OutputError` naming the
    file, the reason, and which files were written before it (``written``: earlier ones).
    Returns every file written so far."""
    from ltrobust.errors import OutputError

    done: list[Path] = list(written or [])
    for path, write in writers:
        try:
            write()
        except OSError as exc:
            listed = ", ".join(str(p) for p in done) or "none"
            raise OutputError(f"cannot write {path}: {_reason(exc)} (written: {listed})") from None
        done.append(Path(path))
    return done
