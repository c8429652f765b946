"""ONNX models, white-box: converted to PyTorch with onnx2torch and checked against onnxruntime.

White-box attacks need gradients, so the graph is converted to a ``torch.fx`` module
(onnx2torch). Operators the converter does not know are refused by name before converting; a
converted model is accepted only if its outputs match onnxruntime's on a fixed random probe
batch (``atol 1e-4``, ``rtol 1e-3``). Needs the optional packages onnx, onnx2torch and
onnxruntime (``pip install 'ltrobust[formats]'``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ltrobust.errors import ModelLoadError

from .foreign import from_module
from .formats import LoadedModel, LoadRequest

ATOL, RTOL = 1e-4, 1e-3
PROBE_SEED = 0


def _libraries(path: Path) -> tuple[Any, Any, Any]:
    try:
        import onnx
        import onnx2torch
        import onnxruntime
    except ImportError as exc:
        raise ModelLoadError(
            f"{path}: loading ONNX needs onnx, onnx2torch and onnxruntime ({exc.name} is "
            "missing): pip install 'ltrobust[formats]'"
        ) from None
    return onnx, onnx2torch, onnxruntime


def _dims(value_info: Any) -> list[int | None]:
    dims = value_info.type.tensor_type.shape.dim
    return [int(d.dim_value) if d.HasField("dim_value") else None for d in dims]


def unsupported_ops(model: Any) -> list[str]:
    """The graph's operators (``domain.Op`` outside the default domain) onnx2torch lacks."""
    from onnx2torch.node_converters.registry import get_converter

    opsets = {o.domain or "": o.version for o in model.opset_import}
    missing = set()
    for node in model.graph.node:
        domain = node.domain or ""
        try:
            get_converter(node.op_type, opsets.get(domain, opsets.get("", 1)), domain)
        except NotImplementedError:
            missing.add(f"{domain}.{node.op_type}" if domain else node.op_type)
    return sorted(missing)


def _graph_input(model: Any) -> tuple[str, list[int | None]]:
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelLoadError(f"the ONNX graph takes {len(inputs)} inputs; ltrobust feeds one")
    dims = _dims(inputs[0])
    if len(dims) != 4:
        raise ModelLoadError(f"the ONNX input has {len(dims)} dimensions, not N x C x H x W")
    return inputs[0].name, dims


def _probe(dims: list[int | None], req: LoadRequest) -> torch.Tensor:
    batch, channels, height, width = dims
    size = req.input_size or req.default_input_size or 32
    shape = (batch or 2, channels or req.in_channels or 3, height or size, width or size)
    return torch.rand(shape, generator=torch.Generator().manual_seed(PROBE_SEED))


def _check_against_runtime(
    ort: Any, path: Path, module: torch.nn.Module, name: str, x: torch.Tensor
) -> float:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    reference = session.run(None, {name: x.numpy()})[0]
    with torch.no_grad():
        out = module(x)
    got = (out[0] if isinstance(out, (tuple, list)) else out).detach().numpy()
    if got.shape != reference.shape or not np.allclose(got, reference, atol=ATOL, rtol=RTOL):
        diff = float(np.max(np.abs(got - reference))) if got.shape == reference.shape else None
        what = f"by up to {diff:.3g}" if diff is not None else f"in shape {got.shape}"
        raise ModelLoadError(
            f"{path}: refused, the converted model's outputs differ from onnxruntime's {what} "
            f"on a probe batch of shape {tuple(x.shape)}"
        )
    return float(np.max(np.abs(got - reference)))


def load_onnx(path: Path, req: LoadRequest) -> LoadedModel:
    """Load an ONNX file as a differentiable PyTorch model (see module doc)."""
    onnx, onnx2torch, ort = _libraries(path)
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf decode errors and friends
        reason = " ".join(str(exc).split())[:160]
        raise ModelLoadError(f"cannot read ONNX file {path}: {reason}") from None
    missing = unsupported_ops(model)
    if missing:
        raise ModelLoadError(
            f"{path}: refused, onnx2torch cannot convert the operator(s) {', '.join(missing)}, "
            "and white-box attacks need a differentiable PyTorch model"
        )
    name, dims = _graph_input(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = onnx2torch.convert(model).eval()
    except Exception as exc:  # the converter raises for unsupported attributes and the like
        reason = " ".join(str(exc).split())[:160]
        raise ModelLoadError(f"{path}: onnx2torch cannot convert the graph: {reason}") from None
    x = _probe(dims, req)
    diff = _check_against_runtime(ort, path, module, name, x)
    outputs = [_dims(o) for o in model.graph.output]
    classes = outputs[0][-1] if outputs and len(outputs[0]) == 2 else None
    meta = {"opset": max((o.version for o in model.opset_import), default=None)}
    meta.update(producer=model.producer_name or None, runtime_max_abs_diff=diff)
    return from_module(
        module,
        "onnx",
        req,
        path,
        container="onnx",
        shape=dims[1:],
        batch=dims[0],
        num_classes=classes,
        meta=meta,
    )
