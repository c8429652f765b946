"""What an ONNX file may hold before onnx2torch and onnxruntime see it.

onnx2torch names one submodule per node after the node's name, and ``torch.fx`` writes that
name into the Python source of the converted module's ``forward`` unescaped: a stored name
would be code. :func:`rename` therefore gives every node and value of the graph a name made
here (``n0``, ``v0``, ...) before converting. :func:`read_model` reads the protobuf without its
external weights and refuses subgraphs (no converter takes one); :func:`load_external` reads
them only from regular files inside the model's folder and returns the files it read;
:func:`probe_shape` bounds the check batch the graph's declared input dimensions ask for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ltrobust.errors import ModelLoadError
from ltrobust.readlog import note_read

from .formats import LoadRequest

#: protobuf cannot encode a message over 2 GiB: larger weights live in external files
MAX_FILE_BYTES = 2**31
#: the most values one probe image may hold (4096 x 4096 x 16, 1 GiB as float32)
MAX_IMAGE_VALUES = 4096 * 4096 * 16
#: the most values the whole probe batch may hold (a static batch size counts in full)
MAX_PROBE_VALUES = 2 * MAX_IMAGE_VALUES


def reason(exc: BaseException) -> str:
    """An exception's message on one line, at most 160 characters."""
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def runtime_reason(exc: BaseException, path: Path) -> str:
    """An onnxruntime error on one line, without its code prefix and the model's path."""
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", " ".join(str(exc).split()))
    text = text.replace(f"Load model from {path} failed:", "")
    return reason(Exception(text))


def _shown(text: str) -> str:
    """A stored string, quoted and cut to 60 characters, for an error message."""
    return repr(text if len(text) <= 60 else text[:57] + "...")


def read_model(onnx: Any, path: Path) -> Any:
    """The ModelProto at ``path`` without its external weights (see :func:`load_external`);
    a ModelLoadError for a file too large or unreadable, or a graph holding subgraphs."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ModelLoadError(f"cannot read ONNX file {path}: {reason(exc)}") from None
    if size > MAX_FILE_BYTES:
        raise ModelLoadError(
            f"{path}: refused, {size} bytes is over protobuf's 2 GiB limit for an ONNX file "
            "(larger weights must be stored as external data)"
        )
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors and friends
        raise ModelLoadError(f"cannot read ONNX file {path}: {reason(exc)}") from None
    _refuse_subgraphs(model.graph, path)
    return model


def _refuse_subgraphs(graph: Any, path: Path) -> None:
    """Refuse nodes holding graphs (If, Loop, Scan, ...): onnx2torch converts none of them,
    and ltrobust renames only the main graph."""
    for i, node in enumerate(graph.node):
        for attr in node.attribute:
            if attr.HasField("g") or len(attr.graphs):
                raise ModelLoadError(
                    f"{path}: refused, node {i} ({_shown(node.op_type)}) holds a subgraph; "
                    "ltrobust converts only graphs without control flow"
                )


def _tensors(message: Any) -> Iterator[Any]:
    """Every TensorProto inside ``message`` (initializers, attribute tensors, sparse tensors,
    functions, training graphs): whatever onnxruntime could read external data for."""
    from onnx import TensorProto

    if isinstance(message, TensorProto):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        for item in [value] if hasattr(value, "ListFields") else value:
            yield from _tensors(item)


def load_external(model: Any, path: Path) -> list[str]:
    """Read every external tensor of ``model`` in, once all their files are checked (see
    :func:`_external_file`); the absolute paths of the files read, sorted."""
    from onnx import TensorProto
    from onnx.external_data_helper import load_external_data_for_tensor

    folder = path.absolute().parent.resolve()
    external = [
        (tensor, _external_file(tensor, folder, path))
        for tensor in _tensors(model)
        if tensor.HasField("data_location") and tensor.data_location == TensorProto.EXTERNAL
    ]
    for tensor, file in external:
        note_read(file)
        try:
            load_external_data_for_tensor(tensor, str(folder))
        except Exception as exc:  # short files, bad offsets, unreadable files
            where = file.relative_to(folder)
            raise ModelLoadError(
                f"{path}: cannot read the external data in {where}: {reason(exc)}"
            ) from None
    return sorted({str(file) for _, file in external})


def _external_file(tensor: Any, folder: Path, path: Path) -> Path:
    """The file a tensor's external data names: a relative path without ``..`` that stays in
    the model's folder once symlinks are resolved, and a regular file."""
    entries = {e.key: e.value for e in tensor.external_data}
    location = entries.get("location", "")
    where = f"{path}: refused, external data location {_shown(location)}"
    if not location or "\x00" in location:
        raise ModelLoadError(f"{where} names no file")
    pure = (PurePosixPath(location), PureWindowsPath(location))
    if any(p.anchor for p in pure) or any(".." in p.parts for p in pure):
        raise ModelLoadError(f"{where} is not a plain path relative to the model's folder")
    try:
        target = (folder / location).resolve()
        regular = target.is_file()
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, names too long
        raise ModelLoadError(f"{where} cannot be resolved: {reason(exc)}") from None
    if not target.is_relative_to(folder):
        raise ModelLoadError(f"{where} leads outside the model's folder {folder}")
    if not regular:
        raise ModelLoadError(f"{where} is not a regular file in {folder}")
    return target


def rename(model: Any, path: Path) -> None:
    """Rename, in place, every node of the main graph to ``n<i>`` and every value (input,
    output, initializer, intermediate) to ``v<j>``, consistently; empty value names (absent
    optional inputs) stay empty. Nothing stored reaches generated code after this."""
    graph = model.graph
    names: dict[str, str] = {}

    def new(name: str) -> str:
        return names.setdefault(name, f"v{len(names)}") if name else name

    for info in (*graph.input, *graph.output, *graph.value_info):
        info.name = new(info.name)
    for tensor in graph.initializer:
        tensor.name = new(tensor.name)
    for sparse in graph.sparse_initializer:
        sparse.values.name = new(sparse.values.name)
    for annotation in graph.quantization_annotation:
        annotation.tensor_name = new(annotation.tensor_name)
    for i, node in enumerate(graph.node):
        if node.domain:  # onnx2torch would put the domain into the module name
            raise ModelLoadError(
                f"{path}: refused, node {i} is in operator domain {_shown(node.domain)}"
            )
        node.name = f"n{i}"
        node.input[:] = [new(name) for name in node.input]
        node.output[:] = [new(name) for name in node.output]


def probe_shape(dims: list[int | None], req: LoadRequest, path: Path) -> tuple[int, ...]:
    """The ``N x C x H x W`` shape of the check batch: the graph's declared dimensions, free
    ones filled in (batch 2, the given or 3 channels, the given or data's or 32 pixels).
    Refuses a declared dimension below 1 and a batch over :data:`MAX_PROBE_VALUES` values or
    images over :data:`MAX_IMAGE_VALUES`, before anything is allocated."""
    bad = [d for d in dims if d is not None and d < 1]
    if bad:
        raise ModelLoadError(f"{path}: refused, the ONNX input declares a dimension of {bad[0]}")
    batch, channels, height, width = dims
    size = req.input_size or req.default_input_size or 32
    shape = (batch or 2, channels or req.in_channels or 3, height or size, width or size)
    image = shape[1] * shape[2] * shape[3]
    if image > MAX_IMAGE_VALUES:
        shown = " x ".join(map(str, shape[1:]))
        raise ModelLoadError(
            f"{path}: refused, the ONNX input's images of {shown} = {image} values are over "
            f"the limit of {MAX_IMAGE_VALUES} (4096 x 4096 x 16)"
        )
    if shape[0] * image > MAX_PROBE_VALUES:
        raise ModelLoadError(
            f"{path}: refused, the ONNX input's static batch size {shape[0]} makes a check batch "
            f"of {shape[0] * image} values (at most {MAX_PROBE_VALUES})"
        )
    return shape


def _constants(model: Any) -> dict[str, Any]:
    """The graph's inline constant tensors by value name (initializers and Constant nodes)."""
    found = {t.name: t for t in model.graph.initializer if t.data_location != 1}  # 1: EXTERNAL
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output:
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                found[node.output[0]] = value
    return found


def relax_reshapes(model: Any) -> int:
    """Set ``allowzero=0`` on each ``Reshape`` whose target shape is a constant without a 0
    (``allowzero`` then changes nothing; onnx2torch implements only 0, torch's default
    exporter writes 1). Returns how many nodes changed."""
    from onnx import numpy_helper

    constants, changed = _constants(model), 0
    for node in model.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in constants:
            continue
        flag = next((a for a in node.attribute if a.name == "allowzero"), None)
        if flag is None or flag.i == 0:
            continue
        if (numpy_helper.to_array(constants[node.input[1]]) != 0).all():
            flag.i = 0
            changed += 1
    return changed
