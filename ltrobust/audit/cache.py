"""Finished batches of an audit on disk, so that a killed audit can resume.

Layout: ``<out>/.ltrobust-cache/<key>/config.json`` holds what the key was made of (model,
data, audit settings, versions); ``<key>/<pass>/<batch>.pt`` holds one finished batch of one
pass (clean, an attack, a sweep attack, ...): the per-sample results of that batch as CPU tensors
and lists. The key is the sha256 of ``config.json``'s content, so a record is only ever reused by
an audit that would have computed the same thing. Every file is written atomically (a killed
process leaves a record whole or absent).

Without ``resume`` an audit starts from scratch: the old cache is removed first. With ``resume``
the records of the same key are reused; a cache made with a different key is refused with one
line naming the fields that differ.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from ltrobust.errors import ConfigError, OutputError
from ltrobust.fileio import atomic_torch_save, atomic_write_text
from ltrobust.runtime.dist import DistContext, all_gather, barrier

logger = logging.getLogger(__name__)

#: record format; bump when what a record holds changes
RECORD_VERSION = 3  # 2: the clean record holds aa_targets; 3: sweep passes record zero gradients


def tensor_sha256(*tensors: torch.Tensor, chunk_rows: int = 1024) -> str:
    """sha256 over the dtype, shape and bytes of each tensor, hashed in chunks of rows (no
    full copy of a large image set)."""
    digest = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu()
        digest.update(f"{t.dtype}:{tuple(t.shape)};".encode())
        rows = t.reshape(t.shape[0], -1) if t.dim() else t.reshape(1, 1)
        for s in range(0, rows.shape[0], chunk_rows):
            part = rows[s : s + chunk_rows].contiguous()
            digest.update(part.view(torch.uint8).numpy().tobytes() if part.numel() else b"")
    return digest.hexdigest()


def cache_key(material: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``material``."""
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _short(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, str) else v
    if isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v):
        return v[:12] + "…"
    return text if len(text) <= 60 else text[:57] + "..."


def describe_changes(old: dict[str, Any], new: dict[str, Any], limit: int = 4) -> str:
    """``"audit.eps 0.1 -> 0.05; model.sha256 ab12… -> cd34…"`` (at most ``limit`` fields)."""
    a, b = _flat(old), _flat(new)
    keys = sorted(set(a) | set(b), key=lambda k: (k.count("."), k))  # top-level fields first
    keys = [k for k in keys if a.get(k, "<unset>") != b.get(k, "<unset>")]
    parts = [f"{k} {_short(a.get(k, '<unset>'))} -> {_short(b.get(k, '<unset>'))}" for k in keys]
    if len(parts) > limit:
        parts = [*parts[:limit], f"and {len(parts) - limit} more"]
    return "; ".join(parts) or "unknown difference"


def _safe(label: str) -> str:
    """A file-system-safe folder name for a pass label, unique per label."""
    clean = re.sub(r"[^A-Za-z0-9_.=+-]+", "_", label)[:60]
    return f"{clean}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"


class RecordCache:
    """Records of finished batches under ``root / key``; see the module doc.

    Args:
        root: the cache folder (``<out>/.ltrobust-cache``).
        material: what the key is made of (JSON-able); stored as ``config.json``.
        resume: reuse the records of this key (else start from scratch).
    """

    def __init__(self, root: str | Path, material: dict[str, Any], *, resume: bool) -> None:
        self.root = Path(root)
        self.material = json.loads(json.dumps(material, sort_keys=True))
        self.key = cache_key(self.material)
        self.dir = self.root / self.key[:24]
        self.resume = resume

    def refusal(self) -> str | None:
        """With ``resume``: why the cache cannot be reused (a different key is there), or None.

        Reads only; every process of a sharded audit can call it.
        """
        if not self.resume or (self.dir / "config.json").is_file():
            return None
        others = sorted(
            self.root.glob("*/config.json"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for path in others:
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            return (
                f"--resume: {self.root} holds an audit with a different setup "
                f"({describe_changes(old, self.material)}); run without --resume to start over"
            )
        return None

    def prepare(self) -> None:
        """Create this key's folder (removing the old cache unless resuming); one process."""
        if not self.resume and self.root.exists():
            shutil.rmtree(self.root)
        elif self.resume and not (self.dir / "config.json").is_file():
            logger.info("--resume: nothing to resume in %s; starting from scratch", self.root)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
            raise OutputError(f"cannot write {self.dir}: {reason}") from None
        text = json.dumps(self.material, indent=1, sort_keys=True) + "\n"
        atomic_write_text(self.dir / "config.json", text)

    def _path(self, label: str, batch: int) -> Path:
        return self.dir / _safe(label) / f"{batch:06d}.pt"

    def load(self, label: str, batch: int, first: int, n: int) -> dict[str, Any] | None:
        """The record of ``batch`` of pass ``label`` if stored and consistent, else None.

        ``first`` (the batch's first dataset index) and ``n`` (its size) guard against a record
        that does not belong to this batch.
        """
        if not self.resume:
            return None
        path = self._path(label, batch)
        if not path.is_file():
            return None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a bad record is recomputed, never fatal
            logger.warning("ignoring unreadable cache record %s: %s", path, exc)
            return None
        head = (
            obj.get("version"),
            obj.get("label"),
            obj.get("batch"),
            obj.get("first"),
            obj.get("n"),
        )
        if head != (RECORD_VERSION, label, batch, first, n):
            logger.warning("ignoring cache record %s: it belongs to another batch", path)
            return None
        return obj["record"]

    def save(self, label: str, batch: int, first: int, n: int, record: dict[str, Any]) -> None:
        """Store one finished batch atomically (a failed write: one-line
        :class:`ltrobust.fileio.WriteFailed`, no partial record)."""
        obj = {
            "version": RECORD_VERSION,
            "label": label,
            "batch": batch,
            "first": first,
            "n": n,
            "record": record,
        }
        atomic_torch_save(self._path(label, batch), obj)


def raise_first(messages: list[str | None]) -> None:
    """Raise :class:`ConfigError` with the first refusal any process found."""
    for msg in messages:
        if msg:
            raise ConfigError(msg)


def open_cache(
    root: str | Path, material: dict[str, Any], *, resume: bool, ctx: DistContext
) -> RecordCache:
    """The cache of this audit, checked by every process (a refusal anywhere raises
    :class:`ConfigError` everywhere). Nothing is written until :func:`prepare_cache`."""
    cache = RecordCache(root, material, resume=resume)
    raise_first(all_gather(cache.refusal(), ctx))
    return cache


def prepare_cache(cache: RecordCache | None, ctx: DistContext) -> None:
    """Rank 0 prepares the folder while the others wait; called once the inputs are known to
    be good (bad input writes nothing)."""
    if cache is None:
        return
    if ctx.is_main:
        cache.prepare()
    barrier(ctx)
