"""The audit's execution engine: fixed batches, per-batch records, sharding, resume, OOM.

Every pass of an audit (clean, each attack, each sweep attack, the unbounded attack) is a
function from one :class:`Batch` to a *record*: a dict of per-sample results on the CPU
(tensors whose first dimension is the batch, or lists), such as predictions, zero-gradient
shares or which AutoAttack component broke a sample. :meth:`Engine.run_pass`

- cuts the samples into fixed batches of ``batch_size`` in order: the same boundaries in every
  run, however many processes share the work, so AutoAttack (which draws its random starts per
  batch) always sees the same batches;
- streams each batch from host memory through a ``DataLoader`` (pinned memory on CUDA) to the
  device; nothing of size N ever lives on the device, and adversarial images live for one batch;
- under ``torchrun`` computes batch ``b`` only on rank ``b % world_size`` and then all-gathers
  the records, so that every process holds the same per-sample results;
- stores each finished record in the :class:`~ltrobust.audit.cache.RecordCache` and, with
  ``--resume``, loads it instead of computing it again;
- on a CUDA out-of-memory error runs the batch again in two halves (recursively, down to one
  sample), keeps the smaller size for the rest of the pass, and notes it for the report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ltrobust.audit.cache import RecordCache
from ltrobust.runtime.dist import DistContext, all_gather
from ltrobust.runtime.precision import autocast_factory
from ltrobust.runtime.progress import Progress

logger = logging.getLogger(__name__)

Record = dict[str, Any]


@dataclass
class Batch:
    """One batch: ``pos`` (positions among the audited samples, CPU), ``idx`` (dataset
    indices, CPU), ``x`` (B x C x H x W) and ``y`` (B) on the device."""

    number: int
    pos: torch.Tensor
    idx: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def select(self, keep: torch.Tensor | slice) -> Batch:
        """The samples ``keep`` (a slice or a CPU bool mask) of this batch."""
        dev = keep.to(self.x.device) if isinstance(keep, torch.Tensor) else keep
        return Batch(self.number, self.pos[keep], self.idx[keep], self.x[dev], self.y[dev])


class _BatchData(Dataset):
    """Item ``b``: batch ``b`` of the samples at positions ``pos`` (CPU tensors)."""

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, pos: torch.Tensor, bs: int
    ):
        self.x, self.y, self.idx, self.pos, self.bs = x, y, idx, pos, bs

    def __len__(self) -> int:
        return (len(self.pos) + self.bs - 1) // self.bs

    def positions(self, b: int) -> torch.Tensor:
        return self.pos[b * self.bs : (b + 1) * self.bs]

    def __getitem__(
        self, b: int
    ) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        p = self.positions(b)
        return b, p, self.idx[p], self.x[p], self.y[p]


def merge(records: Sequence[Record]) -> Record:
    """Concatenate records sample-wise (tensors with ``torch.cat``, lists by extension).

    Keys starting with ``_`` are per-batch notes and are dropped."""
    if not records:
        return {}
    out: Record = {}
    for key in records[0]:
        if key.startswith("_"):
            continue
        values = [r[key] for r in records]
        if isinstance(values[0], torch.Tensor):
            out[key] = torch.cat(values)
        else:
            out[key] = [v for part in values for v in part]
    return out


def prepare_model(
    model: nn.Module, device: torch.device, *, channels_last: bool, compile: bool
) -> tuple[nn.Module, nn.Module]:
    """The model on ``device`` in eval mode, and the network attacks and predictions run on
    (the same module, or its ``torch.compile`` version)."""
    model = model.to(device).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = cast(nn.Module, torch.compile(model)) if compile else model
    return model, net


class Engine:
    """Runs passes over fixed batches of (x N x C x H x W, y N, dataset indices N); see the
    module doc. ``reused`` and ``computed`` count batches over all passes and processes."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        idx: torch.Tensor,
        *,
        batch_size: int,
        ctx: DistContext,
        cache: RecordCache | None = None,
        progress: Progress | None = None,
        amp: bool = False,
        channels_last: bool = False,
    ) -> None:
        self.x, self.y, self.idx = x, y.cpu(), idx.cpu()
        self.bs, self.ctx, self.device = batch_size, ctx, ctx.device
        self.cache, self.progress = cache, progress
        self.amp = amp
        self.autocast = autocast_factory(self.device, amp, "bf16")
        self.channels_last = channels_last
        self.notes: list[str] = []
        self.reused = 0
        self.computed = 0
        self._piece: dict[str, int] = {}

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def run_pass(
        self,
        label: str,
        fn: Callable[[Batch], Record],
        *,
        pos: torch.Tensor | None = None,
        show: bool = True,
        batch_sensitive: bool = False,
    ) -> tuple[Record, float]:
        """Apply ``fn`` to every batch of the samples at ``pos`` (default: all, in order).

        Returns the merged record (in sample order, identical on every process) and the
        seconds this process spent. ``label`` names the pass in the cache and the progress
        bars (with ``show``); ``batch_sensitive`` says the pass's result depends on how samples
        are batched (AutoAttack), which the out-of-memory note then mentions.
        """
        t0 = time.perf_counter()
        data = self._data(pos)
        mine = [b for b in range(len(data)) if b % self.ctx.world_size == self.ctx.rank]
        records = self._cached(label, data, mine)
        todo = [b for b in mine if b not in records]
        reused = len(records)
        bar = self.progress if show else None
        if bar:
            bar.start(label, sum(len(data.positions(b)) for b in mine))
        state = [0, 0]
        for b in sorted(records):
            self._advance(bar, label, records[b], data.positions(b), state)
        for batch in self._stream(data, todo):
            b, p = batch.number, batch.pos
            rec = self._compute(label, fn, batch)
            if self.cache is not None:
                self.cache.save(label, b, int(batch.idx[0]), len(batch), rec)
            records[b] = rec
            self._advance(bar, label, rec, p, state)
        if bar:
            bar.finish(label)
        if self.ctx.distributed:
            gathered = all_gather((records, reused), self.ctx)
            records = {b: r for part, _ in gathered for b, r in part.items()}
            reused = sum(r for _, r in gathered)
        self.reused += reused
        self.computed += len(data) - reused
        ordered = [records[b] for b in range(len(data))]
        self._note_splits(label, ordered, batch_sensitive)
        return merge(ordered), time.perf_counter() - t0

    def _cached(self, label: str, data: _BatchData, numbers: list[int]) -> dict[int, Record]:
        """The stored records of batches ``numbers`` of pass ``label`` (when resuming)."""
        out: dict[int, Record] = {}
        if self.cache is None:
            return out
        for b in numbers:
            p = data.positions(b)
            rec = self.cache.load(label, b, int(self.idx[p[0]]), len(p))
            if rec is not None:
                out[b] = rec
        return out

    def iter_batches(self, pos: torch.Tensor | None = None) -> Iterator[Batch]:
        """Every batch in order, streamed to the device (no sharding, no cache, no records)."""
        data = self._data(pos)
        yield from self._stream(data, range(len(data)))

    def _data(self, pos: torch.Tensor | None) -> _BatchData:
        pos = torch.arange(len(self)) if pos is None else pos.cpu()
        return _BatchData(self.x, self.y, self.idx, pos, self.bs)

    def _stream(self, data: _BatchData, numbers: Sequence[int]) -> Iterator[Batch]:
        """Batches ``numbers`` of ``data`` through a DataLoader (pinned memory on CUDA)."""
        loader = DataLoader(
            data, sampler=numbers, batch_size=None, pin_memory=self.device.type == "cuda"
        )
        for b, p, i, xb, yb in loader:
            yield Batch(b, p, i, self.to_device(xb), yb.to(self.device, non_blocking=True))

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` on the engine's device (channels-last for 4-D inputs when asked)."""
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _advance(
        self, bar: Progress | None, label: str, rec: Record, p: torch.Tensor, state: list[int]
    ) -> None:
        if not bar:
            return
        if isinstance(rec.get("pred"), torch.Tensor):
            state[0] += int((rec["pred"] == self.y[p]).sum())
        state[1] += len(p)
        bar.advance(label, len(p), state[0], state[1])

    def _compute(self, label: str, fn: Callable[[Batch], Record], batch: Batch) -> Record:
        """``fn(batch)``, in pieces of the size that last fitted in this pass."""
        piece = min(self._piece.get(label, len(batch)), len(batch))
        sizes: list[int] = []
        parts = [
            self._attempt(label, fn, batch.select(slice(s, s + piece)), sizes)
            for s in range(0, len(batch), piece)
        ]
        rec = merge(parts) if len(parts) > 1 else parts[0]
        if len(sizes) > 1:
            rec["_pieces"] = sizes
        return rec

    def _attempt(
        self, label: str, fn: Callable[[Batch], Record], batch: Batch, sizes: list[int]
    ) -> Record:
        """``fn(batch)``; on CUDA out-of-memory the two halves, each the same way."""
        try:
            rec = fn(batch)
        except torch.cuda.OutOfMemoryError:
            if len(batch) < 2:
                raise
            rec = None
        if rec is not None:
            sizes.append(len(batch))
            return rec
        # outside the except block, so the failed attempt's tensors can be freed first
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = (len(batch) + 1) // 2
        self._piece[label] = min(self._piece.get(label, half), half)
        logger.warning(
            "%s: CUDA out of memory on %d samples; retrying in halves", label, len(batch)
        )
        first = self._attempt(label, fn, batch.select(slice(0, half)), sizes)
        second = self._attempt(label, fn, batch.select(slice(half, len(batch))), sizes)
        return merge([first, second])

    def _note_splits(self, label: str, records: list[Record], batch_sensitive: bool) -> None:
        split = [r["_pieces"] for r in records if "_pieces" in r]
        if not split:
            return
        smallest = min(min(s) for s in split)
        note = (
            f"{label}: CUDA out of memory; {len(split)} of {len(records)} batches ran in "
            f"smaller pieces (down to {smallest} samples)"
        )
        if batch_sensitive:
            note += "; AutoAttack draws its random starts per batch, so its result can differ "
            note += "from an unsplit run"
        self.notes.append(note)


#: report fields that say how an audit ran, not what it found: timings, when, the command line
#: (``--resume`` is part of it) and ``provenance.execution`` (processes, batches reused)
RUN_FIELDS = ("seconds", "provenance.created", "provenance.command", "provenance.execution")


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` (an ``AuditReport.to_dict()``) without :data:`RUN_FIELDS`: what must be equal
    between an uninterrupted, a resumed and a sharded audit of the same setup."""

    def strip(d: Any) -> Any:
        if isinstance(d, dict):
            return {k: strip(v) for k, v in d.items() if k != "seconds"}
        if isinstance(d, list):
            return [strip(v) for v in d]
        return d

    out = strip(report)
    for key in ("created", "command", "execution"):
        out.get("provenance", {}).pop(key, None)
    return out
