"""``torch.export`` programs (``.pt2``, the successor of TorchScript), loaded without unpickling
and without running anything stored in the archive.

``torch.export.load`` unpickles some members of an archive (tensor subclasses, custom and
opaque objects, legacy weight files, sample inputs it cannot read weights-only) and an
AOTInductor package carries compiled code. Before calling it, :func:`check_archive` reads the
archive's table of contents and its JSON payload configs and refuses any member outside the
plain layout: the graph (``models/*.json``), raw weight and tensor-constant bytes, their JSON
configs, sample inputs that ``torch.load(weights_only=True)`` reads (tensors, numbers, tuples,
lists and dicts with plain keys), and text files. The graph itself passes
:func:`~ltrobust.models.export_check.check_program` (expressions, names, operators, pytree
specs). :func:`check_input` then runs the program once on the audit data's shape, so that a
shape guard refusing it is one line before any pass.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ltrobust.errors import ModelLoadError

from .export_check import check_program
from .foreign import from_module
from .formats import LoadedModel, LoadRequest
from .wrappers import ModeFixed

#: members of a plain archive (after its root folder), each read without unpickling
_PLAIN = re.compile(
    r"^(archive_format|archive_version|byteorder|\.data/.*|extra/[^/]+|models/[^/]+\.json"
    r"|data/weights/(weight_\d+|[^/]+_weights_config\.json)"
    r"|data/constants/(tensor_\d+|[^/]+_constants_config\.json)"
    r"|data/sample_inputs/[^/]+\.pt)$"
)


def _member(name: str) -> str:
    return name.split("/", 1)[1] if "/" in name else name


def _payload_problems(archive: zipfile.ZipFile, name: str) -> list[str]:
    try:
        config = json.loads(archive.read(name)).get("config", {})
    except (ValueError, AttributeError):
        return [f"{_member(name)} (not JSON)"]
    bad = []
    for fqn, meta in config.items():
        path_name = str(meta.get("path_name", ""))
        if meta.get("use_pickle"):
            bad.append(f"{fqn} (pickled)")
        elif not re.match(r"^(weight|tensor)_\d+$", path_name):
            bad.append(f"{fqn} ({path_name or 'no file'})")
    return bad


def _plain_sample(value: Any, depth: int = 0) -> bool:
    """Tensors, numbers and None in tuples, lists and dicts with identifier keys (torch writes
    the keys of sample inputs into the guard code it executes)."""
    if isinstance(value, (torch.Tensor, int, float, bool)) or value is None:
        return True
    if isinstance(value, dict):
        keys_ok = all(isinstance(k, str) and k.isidentifier() for k in value)
        return keys_ok and depth < 16 and all(_plain_sample(v, depth + 1) for v in value.values())
    return (
        isinstance(value, (tuple, list))
        and depth < 16
        and all(_plain_sample(v, depth + 1) for v in value)
    )


def _sample_problem(archive: zipfile.ZipFile, name: str) -> list[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sample = torch.load(io.BytesIO(archive.read(name)), weights_only=True)
    except Exception:  # anything the weights-only reader rejects would be unpickled by torch
        return [f"{_member(name)} (pickled sample inputs)"]
    return [] if _plain_sample(sample) else [f"{_member(name)} (sample inputs beyond tensors)"]


def _check_complete(path: Path, members: list[str]) -> None:
    needed = {
        ".data/version": ".data/version" in members or "version" in members,
        "models/*.json": any(re.match(r"^models/[^/]+\.json$", m) for m in members),
    }
    missing = [name for name, present in needed.items() if not present]
    if missing:
        raise ModelLoadError(
            f"cannot read {path}: not a complete torch.export archive (no {', '.join(missing)})"
        )


def check_archive(path: Path) -> None:
    """Raise :class:`ModelLoadError` if loading ``path`` would unpickle or run stored code:
    the members first, then every program JSON (:func:`check_program`)."""
    problems: list[str] = []
    programs: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            _check_complete(path, [_member(n) for n in names])
            if len(set(names)) != len(names):  # which copy torch's zip reader takes may differ
                twice = sorted({n for n in names if names.count(n) > 1})
                raise ModelLoadError(f"{path}: refused, archive members stored twice: {twice[:4]}")
            for name in names:
                member = _member(name)
                if name.endswith("/") or not member:
                    continue
                if not _PLAIN.match(member):
                    problems.append(member)
                elif member.endswith("_config.json"):
                    problems += _payload_problems(archive, name)
                elif member.startswith("data/sample_inputs/"):
                    problems += _sample_problem(archive, name)
                elif member.startswith("models/"):
                    programs[member] = archive.read(name)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from None
    if problems:
        shown = ", ".join(problems[:4]) + (f" (+{len(problems) - 4} more)" if problems[4:] else "")
        raise ModelLoadError(
            f"{path}: refused, loading this torch.export archive would unpickle Python objects "
            f"or run compiled code: {shown}"
        )
    for member, data in programs.items():
        check_program(path, member, data)


def _bound(value: Any) -> int | None:
    """A finite range bound as an int (sympy Integer or int), None for infinity."""
    return int(value) if getattr(value, "is_Integer", isinstance(value, int)) else None


def _user_input(program: Any) -> tuple[list[int | None], tuple[int, int | None]]:
    """The one user input's ``N x C x H x W`` (None where dynamic) and the batch sizes the
    program accepts: ``(low, high)``, high None when unbounded (``low == high`` if static)."""
    names = list(program.graph_signature.user_inputs)
    if len(names) != 1:
        raise ModelLoadError(f"the program takes {len(names)} inputs; ltrobust feeds one batch")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == names[0])
    val = node.meta.get("val")
    shape = list(getattr(val, "shape", ()))
    if len(shape) != 4:
        raise ModelLoadError(f"the program's input has shape {tuple(shape)}, not N x C x H x W")
    dims = [int(d) if isinstance(d, int) else None for d in shape]
    if dims[0] is not None:
        return dims, (dims[0], dims[0])
    bounds = program.range_constraints.get(getattr(getattr(shape[0], "node", None), "expr", None))
    low = _bound(getattr(bounds, "lower", None))
    return dims, (max(1, low or 1), _bound(getattr(bounds, "upper", None)))


class BatchRange(nn.Module):
    """Runs a program whose dynamic batch dimension accepts ``low``..``high`` samples on any
    number of inputs: chunks of at most ``high``, a chunk under ``low`` padded with copies of
    its last sample, whose outputs are dropped (as :class:`~.wrappers.FixedBatch`)."""

    def __init__(self, model: nn.Module, low: int, high: int) -> None:
        super().__init__()
        self.model = model
        self.low, self.high = int(low), int(high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``N x ...`` for inputs ``N x C x H x W``, any N."""
        if self.low <= x.shape[0] <= self.high:
            return self.model(x)
        outs = []
        for chunk in x.split(self.high):
            n = chunk.shape[0]
            if n < self.low:
                chunk = torch.cat([chunk, chunk[-1:].expand(self.low - n, *chunk.shape[1:])])
            outs.append(self.model(chunk)[:n])
        return torch.cat(outs)

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}"


def _num_classes(program: Any) -> int | None:
    outputs = [n for n in program.graph.nodes if n.op == "output"]
    args = outputs[0].args[0] if outputs else ()
    first = args[0] if isinstance(args, (list, tuple)) and args else None
    val = getattr(first, "meta", {}).get("val")
    shape = getattr(val, "shape", None)
    if shape is not None and len(shape) == 2 and isinstance(shape[1], int):
        return int(shape[1])
    return None


def load_exported(path: Path, req: LoadRequest) -> LoadedModel:
    """Load a ``torch.export.save`` archive (after :func:`check_archive`) as an eval model."""
    check_archive(path)
    quiet = logging.getLogger("torch.export")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # torch logs a traceback before raising
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.load(str(path))
    except Exception as exc:  # the deserializer raises many types for broken archives
        reason = " ".join(str(exc).split())[:160]
        raise ModelLoadError(f"cannot read torch.export archive {path}: {reason}") from None
    finally:
        quiet.setLevel(level)
    dims, (low, high) = _user_input(program)
    module = ModeFixed(program.module())
    loaded = from_module(
        module,
        "export",
        req,
        path,
        container="pt2",
        shape=dims[1:],
        batch=dims[0],
        num_classes=_num_classes(program),
        meta={
            "module_class": "ExportedProgram",
            "graph_nodes": len(program.graph.nodes),
            "input_shape": dims,
            "batch_range": [low, high],
            "shape_guards": len(getattr(program, "_guards_code", None) or ()),
        },
    )
    if dims[0] is None and (low > 1 or high is not None):
        loaded.model = BatchRange(loaded.model, low, high or 2**62)
    return loaded


def _dims(dims: Any) -> str:
    return "x".join("?" if d is None else str(d) for d in dims)


def check_input(loaded: LoadedModel, shape: tuple[int, int, int]) -> None:
    """Raise :class:`ModelLoadError` if the exported program of ``loaded`` refuses images of
    ``shape`` ``(C, H, W)``: a static size differs, or (when C, H or W is dynamic, or the
    program carries guards of its own) it fails when it runs once on zeros of that shape and
    its smallest batch. The batch needs no check (:class:`BatchRange`, ``FixedBatch``). Other
    models pass unchecked."""
    if loaded.container != "pt2" or "input_shape" not in loaded.meta:
        return
    dims, low = loaded.meta["input_shape"], loaded.meta["batch_range"][0]
    takes, given = _dims(dims[1:]), _dims(shape)
    if any(d is not None and d != s for d, s in zip(dims[1:], shape, strict=True)):
        raise ModelLoadError(
            f"{loaded.path}: the torch.export program takes {takes} images, the data's are {given}"
        )
    if None not in dims[1:] and not loaded.meta.get("shape_guards"):
        return
    program = next(m for m in loaded.model.modules() if isinstance(m, ModeFixed))
    ref = next(itertools.chain(program.parameters(), program.buffers()), None)
    x = torch.zeros(low, *shape, device=ref.device if ref is not None else "cpu")
    try:
        with torch.no_grad():
            program(x)
    except Exception as exc:  # a shape guard (AssertionError) or a kernel's shape error
        reason = " ".join(str(exc).split())[:160]
        raise ModelLoadError(
            f"{loaded.path}: the torch.export program ({takes} images) refuses the data's "
            f"{given} images: {reason}"
        ) from None
