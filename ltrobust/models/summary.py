"""What ltrobust sees in a loaded model, as data: ``ltrobust inspect`` and the audit's provenance."""

from __future__ import annotations

from typing import Any

from torch import nn

from .formats import LoadedModel
from .heads import CosineHead, CosPlusHead

#: metadata left out of the summary (long, or repeated above)
_LONG = ("method", "history", "extra", "method_config", "model_args")


def head_info(model: nn.Module) -> dict[str, Any] | None:
    """The final layer of ``model`` (through its wrappers): kind, and scale/gamma of a cosine
    head. None for a model that exposes no head (TorchScript, exported, ONNX)."""
    try:
        head = getattr(model, "head", None)
    except AttributeError:
        return None
    if isinstance(head, CosPlusHead):
        return {"kind": "cosplus", "scale": head.scale, "gamma": head.gamma}
    if isinstance(head, CosineHead):
        return {"kind": "cosine", "scale": head.scale, "gamma": head.gamma}
    if isinstance(head, nn.Linear):
        return {"kind": "linear", "bias": head.bias is not None}
    return None if head is None else {"kind": type(head).__name__}


def parameter_count(model: nn.Module) -> int:
    """Number of parameters (each shared tensor once)."""
    seen = {id(p): p.numel() for p in model.parameters()}
    return int(sum(seen.values()))


def describe(loaded: LoadedModel) -> dict[str, Any]:
    """Format, architecture, classes, input spec, head, adjustment, parameters and sha256."""
    adjustment = loaded.logit_adjustment
    return {
        "path": loaded.path,
        "sha256": loaded.sha256,
        "container": loaded.container,
        "format": loaded.format,
        "detected": bool(loaded.inference.get("detected", False)),
        "arch": loaded.arch,
        "model_args": loaded.meta.get("model_args"),
        "num_classes": loaded.num_classes,
        "input_spec": loaded.input_spec,
        "head": loaded.head,
        "inference": {k: v for k, v in loaded.inference.items() if k != "detected"},
        "logit_adjustment": adjustment,
        "parameters": parameter_count(loaded.model),
        "dataset": loaded.dataset,
        "method": loaded.meta.get("method"),
        "class_counts": loaded.class_counts,
        "meta": {k: v for k, v in loaded.meta.items() if k not in _LONG},
        "warnings": list(loaded.warnings),
    }
