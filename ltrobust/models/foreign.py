"""Whole foreign models (TorchScript, ``torch.export`` programs, ONNX graphs, pickled modules) as
ltrobust models: normalisation in front when given, the logits picked from tuple or dict
outputs, and a fixed traced batch size hidden behind :class:`FixedBatch`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ltrobust.errors import ModelLoadError

from .formats import LoadedModel, LoadRequest, normalization_warning
from .wrappers import FixedBatch, Normalize, NormalizedModel, OutputSelect


def _spec(req: LoadRequest, shape: Sequence[int | None] | None) -> dict[str, Any] | None:
    """The input spec from the graph's input shape ``(C, H, W)`` and the given options."""
    channels = req.in_channels
    size = req.input_size
    if shape is not None and len(shape) == 3:
        c, h, w = shape
        if c is not None and req.in_channels is not None and c != req.in_channels:
            raise ModelLoadError(f"the model takes {c} channels but {req.in_channels} were given")
        channels = c if c is not None else channels
        if h is not None and h == w:
            if size is not None and size != h:
                raise ModelLoadError(f"the model takes {h}x{w} inputs but --input-size {size}")
            size = h
    if channels is None and size is None and req.mean is None:
        return None
    return {
        "channels": channels,
        "size": size,
        "mean": None if req.mean is None else [float(v) for v in req.mean],
        "std": None if req.std is None else [float(v) for v in req.std],
    }


def from_module(
    module: nn.Module,
    fmt: str,
    req: LoadRequest,
    path: Path,
    *,
    container: str,
    shape: Sequence[int | None] | None = None,
    batch: int | None = None,
    num_classes: int | None = None,
    meta: dict[str, Any] | None = None,
) -> LoadedModel:
    """A :class:`LoadedModel` of a whole model: ``[FixedBatch(]OutputSelect([NormalizedModel(]
    module``. ``shape`` (C, H, W) and ``batch`` are what the graph fixes (None: free);
    ``num_classes`` the logits it gives, checked against ``req.num_classes``."""
    if isinstance(module, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        module = module.module
    inner: nn.Module = module
    if req.mean is not None and req.std is not None:
        inner = NormalizedModel(Normalize(req.mean, req.std), module)
    model: nn.Module = OutputSelect(inner, key=req.output_key)
    if batch is not None:
        model = FixedBatch(model, batch)
    if num_classes is not None and req.num_classes is not None and num_classes != req.num_classes:
        raise ModelLoadError(
            f"{path} gives {num_classes} logits but num_classes={req.num_classes} was given"
        )
    notes = []
    if req.arch is not None:
        notes.append(f"--arch {req.arch} ignored: {path.name} holds a whole {fmt} model")
    if req.mean is None:
        notes.append(normalization_warning())
    info = {"module_class": type(module).__name__, **(meta or {})}
    if batch is not None:
        info["traced_batch"] = batch
    return LoadedModel(
        model=model,
        format=fmt,
        sha256="",
        path=str(path),
        num_classes=num_classes if num_classes is not None else req.num_classes,
        input_spec=_spec(req, shape),
        meta=info,
        warnings=notes,
        container=container,
    )
