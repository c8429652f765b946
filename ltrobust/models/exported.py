"""``torch.export`` programs (``.pt2``, the successor of TorchScript), loaded without unpickling.

``torch.export.load`` unpickles some members of an archive (tensor subclasses, custom and
opaque objects, legacy weight files, sample inputs it cannot read weights-only) and an
AOTInductor package carries compiled code. Before calling it, :func:`check_archive` reads the
archive's table of contents and its JSON payload configs and refuses any member outside the
plain layout: the graph (``models/*.json``), raw weight and tensor-constant bytes, their JSON
configs, sample inputs that ``torch.load(weights_only=True)`` reads, and text files.
"""

from __future__ import annotations

import io
import json
import logging
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from ltrobust.errors import ModelLoadError

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


def _sample_problem(archive: zipfile.ZipFile, name: str) -> list[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(archive.read(name)), weights_only=True)
    except Exception:  # anything the weights-only reader rejects would be unpickled by torch
        return [f"{_member(name)} (pickled sample inputs)"]
    return []


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
    """Raise :class:`ModelLoadError` if loading ``path`` would unpickle or run stored code."""
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as archive:
            _check_complete(path, [_member(n) for n in archive.namelist()])
            for name in archive.namelist():
                member = _member(name)
                if name.endswith("/") or not member:
                    continue
                if not _PLAIN.match(member):
                    problems.append(member)
                elif member.endswith("_config.json"):
                    problems += _payload_problems(archive, name)
                elif member.startswith("data/sample_inputs/"):
                    problems += _sample_problem(archive, name)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from None
    if problems:
        shown = ", ".join(problems[:4]) + (f" (+{len(problems) - 4} more)" if problems[4:] else "")
        raise ModelLoadError(
            f"{path}: refused, loading this torch.export archive would unpickle Python objects "
            f"or run compiled code: {shown}"
        )


def _user_input(program: Any) -> tuple[list[int | None], int | None]:
    """The one user input's ``(C, H, W)`` (None where dynamic) and its static batch size."""
    names = list(program.graph_signature.user_inputs)
    if len(names) != 1:
        raise ModelLoadError(f"the program takes {len(names)} inputs; ltrobust feeds one batch")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == names[0])
    val = node.meta.get("val")
    shape = list(getattr(val, "shape", ()))
    if len(shape) != 4:
        raise ModelLoadError(f"the program's input has shape {tuple(shape)}, not N x C x H x W")
    dims = [int(d) if isinstance(d, int) else None for d in shape]
    return dims[1:], dims[0]


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
    shape, batch = _user_input(program)
    module = ModeFixed(program.module())
    return from_module(
        module,
        "export",
        req,
        path,
        container="pt2",
        shape=shape,
        batch=batch,
        num_classes=_num_classes(program),
        meta={"module_class": "ExportedProgram", "graph_nodes": len(program.graph.nodes)},
    )
