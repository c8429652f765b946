"""Atomic file writes (a file is either absent or complete, never half-written), checks that
output locations can be written before any work starts, and writes that name what failed.

Every file the package writes goes through :func:`atomic_path`, the one place where a failed
write (a full disk, a quota, a read-only folder; whichever library wrote) becomes a one-line
:class:`WriteFailed` ``cannot write PATH: REASON`` with nothing left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ltrobust.errors import OutputError

#: an errno inside a library's message: safetensors' "(os error 28)", pyarrow's "[errno 28]"
_ERRNO_TEXT = re.compile(r"(?:os error|errno)\s*(\d+)", re.IGNORECASE)
#: torch's own file writer reports a failed write without its errno
_TORCH_WRITE = ("PytorchStreamWriter", "file write failed", "iostream error", "unexpected pos")


class WriteFailed(OutputError, OSError):
    """A write through :func:`atomic_path` failed: ``cannot write PATH: REASON`` (an
    :class:`OutputError` for the CLI, still an :class:`OSError` for callers that catch one)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path, self.reason = path, reason


def _errno_text(code: int) -> str:
    """``no space left on device`` for ENOSPC: the C library's text, lower case."""
    return os.strerror(code).lower()


def _reason(exc: OSError) -> str:
    """One line of lower-case text saying why ``exc`` happened."""
    if exc.errno:
        return _errno_text(exc.errno)
    text = " ".join(str(exc).split()).lower()
    return text or type(exc).__name__


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _errno_of(exc: BaseException) -> int | None:
    """The errno of the first OS error in ``exc``'s chain, or the one its message names."""
    for item in _chain(exc):
        if isinstance(item, OSError) and item.errno:
            return item.errno
        found = _ERRNO_TEXT.search(str(item))
        if found:
            return int(found.group(1))
    return None


def _library_write_error(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's or safetensors' report of a failed write."""
    text = str(exc)
    if type(exc).__name__ == "SafetensorError":
        return "I/O error" in text or _ERRNO_TEXT.search(text) is not None
    if not isinstance(exc, RuntimeError):
        return False
    return any(m in text for m in _TORCH_WRITE) or any(isinstance(e, OSError) for e in _chain(exc))


def _failure_reason(exc: BaseException, folder: Path) -> str | None:
    """Why a write into ``folder`` failed, if ``exc`` is a failed write (an OS error, or a
    library's error wrapping one); None for anything else (a bug, a bad value, Ctrl-C).
    Call it before the partial file is removed: a full disk is recognised by its free space
    when the library kept no errno."""
    if isinstance(exc, OutputError):  # already one line (a nested write)
        return None
    if isinstance(exc, OSError):
        return _reason(exc)
    if not _library_write_error(exc):
        return None
    code = _errno_of(exc)
    if code is not None:
        return _errno_text(code)
    with contextlib.suppress(OSError):
        if os.statvfs(folder).f_bavail == 0:
            return _errno_text(errno.ENOSPC)
    return "write failed"


def _temp_beside(target: Path) -> Path:
    """An empty temporary file in ``target``'s folder (created if needed)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except FileExistsError:  # the folder's name is taken by a file
        raise WriteFailed(target, f"{target.parent} is not a folder") from None
    except OSError as exc:
        raise WriteFailed(target, _reason(exc)) from None
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The caller writes the whole file to the yielded path. If the block raises, the temporary
    file is removed and ``path`` is left untouched; a failed write (an OS error, or a library
    error wrapping one: torch, safetensors, pandas, pyarrow) raises :class:`WriteFailed`
    ``cannot write PATH: REASON`` (``no space left on device``, ``file too large``, ...).
    """
    target = Path(path)
    tmp_path = _temp_beside(target)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        # mkstemp makes 0600 (and a library may have replaced the file): normal permissions
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except BaseException as exc:
        reason = _failure_reason(exc, target.parent)
        with contextlib.suppress(OSError):
            tmp_path.unlink(missing_ok=True)
        if reason is None:
            raise
        raise WriteFailed(target, reason) from None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_torch_save(path: str | os.PathLike[str], obj: Any) -> None:
    """``torch.save(obj)`` to ``path`` atomically, through a Python file object: torch's own
    file writer reports a failed write without its reason, a Python file keeps the OS error
    (and the archive's inner folder is always ``archive``, not the temporary file's name)."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _probe(folder: Path, label: str) -> None:
    """Raise :class:`OutputError` unless a file can be created in the existing ``folder``."""
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
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{what} {target} is a folder; give a file name")
    _probe(_first_existing(target.absolute().parent), f"{what} {target}")
    return target


def _failed(path: str | os.PathLike[str], reason: str, done: list[Path]) -> OutputError:
    listed = ", ".join(str(p) for p in done) or "none"
    return OutputError(f"cannot write {path}: {reason} (written: {listed})")


def write_all(
    writers: list[tuple[str | os.PathLike[str], Callable[[], object]]],
    written: list[Path] | None = None,
) -> list[Path]:
    """Run each ``(path, write)`` in order; a failed write raises :class:`OutputError` naming the
    file (the one :func:`atomic_path` names, else ``path``), the reason, and which files were
    written before it (``written``: earlier ones). Returns every file written so far."""
    done: list[Path] = list(written or [])
    for path, write in writers:
        try:
            write()
        except WriteFailed as exc:
            raise _failed(exc.path, exc.reason, done) from None
        except OSError as exc:
            raise _failed(path, _reason(exc), done) from None
        done.append(Path(path))
    return done
