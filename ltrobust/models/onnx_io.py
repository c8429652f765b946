"""ONNX models, white-box: converted to PyTorch with onnx2torch and checked against onnxruntime.

White-box attacks need gradients, so the graph is converted to a ``torch.fx`` module
(onnx2torch). Operators the converter does not know are refused by name before converting; a
graph whose opset onnx2torch lacks converters for (torch's default exporter writes opset 20) is
first moved to opset 17 with onnx's version converter, and a ``Reshape`` to a constant shape
without zeros loses its (then meaningless) ``allowzero=1``. A converted model is accepted only
if its outputs match onnxruntime's on a fixed random probe batch (``atol 1e-4``, ``rtol 1e-3``).
Before converting, every node and value is renamed to a name made here, external weights are
read only from regular files inside the model's folder and the probe batch is bounded
(:mod:`ltrobust.models.onnx_check`). Needs the optional packages onnx, onnx2torch and
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
from .onnx_check import (
    load_external,
    probe_shape,
    read_model,
    reason,
    relax_reshapes,
    rename,
    runtime_reason,
)

ATOL, RTOL = 1e-4, 1e-3
PROBE_SEED = 0
FLOAT = 1  # onnx.TensorProto.FLOAT
#: the opset a graph is moved to when onnx2torch cannot convert it at its own
TARGET_OPSET = 17


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


def _opset(model: Any) -> int | None:
    """The version of the default-domain opset the graph imports."""
    return next((int(o.version) for o in model.opset_import if (o.domain or "") == ""), None)


def _convertible(onnx: Any, model: Any, path: Path) -> tuple[Any, list[str]]:
    """``model``, moved to :data:`TARGET_OPSET` by onnx's version converter when onnx2torch
    lacks converters for some of its operators at the graph's own opset (torch's default
    exporter writes opset 20, e.g. ``ReduceMean`` with axes as an input), and a note saying
    so; a ModelLoadError naming the operators, the opset and the fix when that does not help."""
    missing = unsupported_ops(model)
    if not missing:
        return model, []
    opset = _opset(model)
    if opset is not None and opset > TARGET_OPSET:
        try:
            converted = onnx.version_converter.convert_version(model, TARGET_OPSET)
        except Exception:  # the converter raises for operators it has no adapter for
            converted = None
        if converted is not None and not unsupported_ops(converted):
            note = (
                f"ONNX opset {opset} converted to opset {TARGET_OPSET} with onnx's version "
                f"converter (onnx2torch lacks {', '.join(missing)} at opset {opset}); the "
                "result is checked against onnxruntime on the file as stored"
            )
            return converted, [note]
    raise ModelLoadError(
        f"{path}: refused, onnx2torch cannot convert the operator(s) {', '.join(missing)} of "
        f"ONNX opset {opset}, and white-box attacks need a differentiable PyTorch model; "
        f"export with torch.onnx.export(..., opset_version={TARGET_OPSET}, dynamo=False) or "
        "save a state_dict or a torch.export program (docs/FORMATS.md)"
    )


def _graph_input(model: Any) -> tuple[str, list[int | None]]:
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelLoadError(f"the ONNX graph takes {len(inputs)} inputs; ltrobust feeds one")
    dims = _dims(inputs[0])
    if len(dims) != 4:
        raise ModelLoadError(f"the ONNX input has {len(dims)} dimensions, not N x C x H x W")
    elem = inputs[0].type.tensor_type.elem_type
    if elem != FLOAT:
        raise ModelLoadError(
            f"the ONNX input holds {_type_name(elem)} values; ltrobust feeds float32 pixels"
        )
    return inputs[0].name, dims


def _type_name(elem: int) -> str:
    from onnx import TensorProto

    try:
        return str(TensorProto.DataType.Name(elem)).lower()
    except ValueError:
        return f"type {elem}"


def _runtime_output(ort: Any, path: Path, name: str, x: torch.Tensor) -> np.ndarray:
    """onnxruntime's first output on ``x``, run on the file as stored (it resolves the same
    external files); its errors become one-line ModelLoadErrors."""
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {name: x.numpy()})[0])
    except Exception as exc:  # onnxruntime_pybind11_state.Fail, InvalidArgument, ...
        raise ModelLoadError(
            f"{path}: onnxruntime cannot run the graph: {runtime_reason(exc, path)}"
        ) from None


def _check_against_runtime(
    ort: Any, path: Path, module: torch.nn.Module, name: str, x: torch.Tensor
) -> float:
    reference = _runtime_output(ort, path, name, x)
    try:
        with torch.no_grad():
            out = module(x)
        got = (out[0] if isinstance(out, (tuple, list)) else out).detach().numpy()
    except Exception as exc:  # the converted module fails where onnxruntime did not
        raise ModelLoadError(
            f"{path}: the converted model fails on a probe batch of shape {tuple(x.shape)}: "
            f"{reason(exc)}"
        ) from None
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
    model = read_model(onnx, path)
    opset = _opset(model)
    relax_reshapes(model)
    model, notes = _convertible(onnx, model, path)
    name, dims = _graph_input(model)  # the stored name: onnxruntime runs the file as stored
    shape = probe_shape(dims, req, path)
    rename(model, path)
    files = load_external(model, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = onnx2torch.convert(model).eval()
    except Exception as exc:  # the converter raises for unsupported attributes and the like
        raise ModelLoadError(
            f"{path}: onnx2torch cannot convert the graph: {reason(exc)}"
        ) from None
    x = torch.rand(shape, generator=torch.Generator().manual_seed(PROBE_SEED))
    diff = _check_against_runtime(ort, path, module, name, x)
    outputs = [_dims(o) for o in model.graph.output]
    classes = outputs[0][-1] if outputs and len(outputs[0]) == 2 else None
    meta: dict[str, Any] = {"opset": opset, "converted_to_opset": _opset(model)}
    meta.update(producer=model.producer_name or None, runtime_max_abs_diff=diff)
    loaded = from_module(
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
    loaded.files = files  # external weights, absolute paths: hashed with the model file
    loaded.warnings.extend(notes)
    return loaded
