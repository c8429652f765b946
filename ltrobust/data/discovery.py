"""Finding dataset files offline, and downloading them only when a network is reachable.

Search order for a preset (first match wins):

1. ``data_dir`` (the CLI's ``--data-dir``),
2. ``$LTROBUST_DATA``,
3. ``~/.cache/ltrobust``,
4. the preset's system roots (Fashion-MNIST: Debian's ``/usr/share/datasets/fashion-mnist``).

In each root the dataset's own folder (``cifar-10-batches-py``, ``cifar-100-python``,
``fashion-mnist``, ``FashionMNIST/raw``) is accepted, or the files lying directly in the root.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from ltrobust.data.readers import idx_file
from ltrobust.data.specs import DatasetSpec
from ltrobust.errors import DataError

logger = logging.getLogger(__name__)

ENV_VAR = "LTROBUST_DATA"
Downloader = Callable[[DatasetSpec, Path], None]


def cache_dir() -> Path:
    """``~/.cache/ltrobust`` (resolved at call time, so a changed ``$HOME`` is honoured)."""
    return Path.home() / ".cache" / "ltrobust"


def search_roots(spec: DatasetSpec, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The roots searched for ``spec``, in order (duplicates removed)."""
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get(ENV_VAR)
    if env:
        roots.append(Path(env).expanduser())
    roots.append(cache_dir())
    roots.extend(Path(r) for r in spec.system_roots)
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def has_files(spec: DatasetSpec, folder: Path) -> bool:
    """True when every file ``spec`` needs is in ``folder`` (idx files: ``.gz`` or not)."""
    if not folder.is_dir():
        return False
    if spec.file_format == "idx":
        return all(idx_file(folder, name.removesuffix(".gz")) for name in spec.files)
    return all((folder / name).is_file() for name in spec.files)


def find_dataset_root(
    spec: DatasetSpec, data_dir: str | os.PathLike[str] | None = None
) -> Path | None:
    """The folder holding ``spec``'s files (e.g. ``.../cifar-10-batches-py``), or None.

    Searches the roots of :func:`search_roots` in order; in each, the dataset's folders first,
    then the root itself.
    """
    for root in search_roots(spec, data_dir):
        for candidate in [root / sub for sub in spec.folders] + [root]:
            if has_files(spec, candidate):
                return candidate
    return None


def dataset_status(
    spec: DatasetSpec, data_dir: str | os.PathLike[str] | None = None
) -> tuple[bool, str | None]:
    """``(present, folder)``: whether ``spec``'s files were found offline, and where."""
    folder = find_dataset_root(spec, data_dir)
    return (folder is not None, None if folder is None else str(folder))


def network_available(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """True when a TCP connection to ``host:port`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def torchvision_download(spec: DatasetSpec, root: Path) -> None:
    """Download ``spec``'s training and test sets into ``root`` with torchvision.

    torchvision writes ``cifar-10-batches-py/``, ``cifar-100-python/`` or ``FashionMNIST/raw/``
    under ``root``; all three are layouts :func:`find_dataset_root` accepts. Progress messages
    torchvision prints on stdout are captured and logged.
    """
    from torchvision import datasets

    factories = {
        "cifar10-lt": datasets.CIFAR10,
        "cifar100-lt": datasets.CIFAR100,
        "fashion-mnist-lt": datasets.FashionMNIST,
    }
    factory = factories[spec.name]
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        for train in (True, False):
            factory(str(root), train=train, download=True)
    if captured.getvalue().strip():
        logger.info("torchvision: %s", " | ".join(captured.getvalue().split("\n")).strip(" |"))


def missing_message(spec: DatasetSpec, reason: str = "data not found") -> str:
    """The one-line message for missing data: which files, from where, and where to put them."""
    where = f"--data-dir, ${ENV_VAR} or ~/.cache/ltrobust"
    extra = " (Debian: apt install dataset-fashion-mnist)" if spec.file_format == "idx" else ""
    return (
        f"{spec.name}: {reason}; put {spec.folders[0]}/ ({spec.files_hint}) "
        f"from {spec.url} under {where}{extra}"
    )


def ensure_dataset(
    spec: DatasetSpec,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    downloader: Downloader | None = None,
    is_online: Callable[[str], bool] | None = None,
) -> Path:
    """The folder with ``spec``'s files, downloading them first if needed and possible.

    When nothing is found offline and ``download`` is true, the network is probed
    (``is_online(spec.download_host)``, default :func:`network_available`, 3 s timeout); only
    if it answers is ``downloader(spec, target)`` called (default :func:`torchvision_download`),
    with ``target`` = ``data_dir`` or ``~/.cache/ltrobust``.

    Raises:
        DataError: not found and no download possible, or the download failed; one line naming
            the needed files and where to put them.
    """
    folder = find_dataset_root(spec, data_dir)
    if folder is not None:
        return folder
    if not download:
        raise DataError(missing_message(spec))
    probe = is_online if is_online is not None else network_available
    if not probe(spec.download_host):
        raise DataError(missing_message(spec, "data not found and offline"))
    target = Path(data_dir).expanduser() if data_dir is not None else cache_dir()
    logger.info("%s: downloading into %s", spec.name, target)
    try:
        target.mkdir(parents=True, exist_ok=True)
        (downloader or torchvision_download)(spec, target)
    except Exception as exc:  # network, disk and checksum errors all mean "failed"
        reason = " ".join(f"download failed ({type(exc).__name__}: {exc})".split())
        raise DataError(missing_message(spec, reason)) from None
    folder = find_dataset_root(spec, target)
    if folder is None:
        raise DataError(missing_message(spec, f"download into {target} gave no usable files"))
    return folder
