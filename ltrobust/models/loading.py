"""``load_model``: any supported model file as an eval-mode model taking pixels in [0, 1].

What a file is comes from its bytes (:func:`ltrobust.models.readers.sniff`): a TorchScript
archive (``torch.jit.load``), a ``torch.export`` program (``.pt2``, loaded without unpickling,
:mod:`~ltrobust.models.exported`), an ONNX graph (converted with onnx2torch and checked against
onnxruntime, :mod:`~ltrobust.models.onnx_io`), a safetensors file (tensors plus, when ltrobust
wrote it, the checkpoint's fields in the header) or a ``torch.save`` file, read with
``torch.load(weights_only=True)``. A file that needs arbitrary unpickling (a whole pickled
module, or a dict holding Python objects) is refused unless ``unsafe_load=True``; then a module
(directly, or under a key such as ``model``) loads as format ``"pickle"`` and a dict goes on as
below. A dict with ``format == "ltrobust-checkpoint"`` is rebuilt from its own metadata; any
other dict is a state_dict: of ``arch`` when given (``timm:NAME`` for timm,
:mod:`~ltrobust.models.timm_io`; ``torchvision:NAME`` for torchvision,
:mod:`~ltrobust.models.torchvision_io`), else of a paper format (``format``, or detected from its
keys: :mod:`~ltrobust.models.paper_formats`). ``arch="robustbench:NAME"`` reads a RobustBench
zoo checkpoint from RobustBench's folder layout under ``model_dir``
(:mod:`~ltrobust.models.robustbench_io`). Every returned model is in eval mode and returns
a logits tensor (foreign whole models are wrapped in :class:`OutputSelect`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ModelLoadError
from ..readlog import note_read
from .checkpoint import FORMAT_NAME, sha256_file
from .foreign import from_module
from .formats import LoadedModel, from_ltrobust, from_state_dict
from .heads import HEADS
from .options import WHOLE_MODEL_FORMATS, LoadOptions, format_choices
from .paper_formats import format_names
from .readers import read_torch, short_reason, sniff
from .registry import ROBUSTBENCH_PREFIX, TIMM_PREFIX, TORCHVISION_PREFIX
from .statedict import CONTAINER_KEYS
from .summary import head_info

#: what ``--format`` expects each whole-model format's file to be
_CONTAINERS = {"torchscript": "torchscript", "export": "pt2", "onnx": "onnx"}


def _pickled_module(obj: Any) -> nn.Module | None:
    """A whole module, given directly or under a container key (only via unsafe loading)."""
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, Mapping) and obj.get("format") != FORMAT_NAME:
        for key in CONTAINER_KEYS:
            if isinstance(obj.get(key), nn.Module):
                return obj[key]
    return None


def _load_torchscript(path: Path, req: LoadOptions, map_location: Any) -> LoadedModel:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's deprecation notice is not for our users
            module = torch.jit.load(str(path), map_location=map_location)
    except Exception as exc:  # the TorchScript reader raises RuntimeError and friends
        raise ModelLoadError(f"cannot read TorchScript file {path}: {short_reason(exc)}") from None
    return from_module(module, "torchscript", req, path, container="torchscript")


def _from_dict(obj: Mapping[str, Any], req: LoadOptions, path: Path) -> LoadedModel:
    """An ltrobust checkpoint, a state_dict of ``req.arch`` or a paper format's file."""
    if obj.get("format") == FORMAT_NAME:
        if req.format not in (None, "ltrobust"):
            raise ModelLoadError(f"{path} is an ltrobust checkpoint, not --format {req.format}")
        return from_ltrobust(obj, req, path)
    if req.format == "ltrobust":
        raise ModelLoadError(f"{path} is not an ltrobust checkpoint (no format field)")
    if req.format in format_names() or (req.format is None and req.arch is None):
        from .paper_loading import from_paper

        return from_paper(obj, req, path)
    return from_state_dict(obj, req, path)


def _load_file(path: Path, req: LoadOptions, unsafe_load: bool, map_location: Any) -> LoadedModel:
    """Dispatch on what the file is (see module doc)."""
    if req.arch is not None and req.arch.startswith(TIMM_PREFIX):
        from .timm_io import load_timm

        return load_timm(path, req)
    if req.arch is not None and req.arch.startswith(TORCHVISION_PREFIX):
        from .torchvision_io import load_torchvision

        return load_torchvision(path, req)
    if path.is_dir():
        raise ModelLoadError(f"cannot read checkpoint {path}: it is a directory")
    note_read(path)
    kind = sniff(path)
    expected = _CONTAINERS.get(req.format or "")
    if expected is not None and kind != expected:
        raise ModelLoadError(f"{path} reads as a {kind} file, not --format {req.format}")
    whole = kind in _CONTAINERS.values()
    if whole and req.format is not None and req.format not in WHOLE_MODEL_FORMATS:
        raise ModelLoadError(f"{path} holds a whole {kind} model, not --format {req.format}")
    if kind == "torchscript":
        return _load_torchscript(path, req, map_location)
    if kind == "pt2":
        from .exported import load_exported

        return load_exported(path, req)
    if kind == "onnx":
        from .onnx_io import load_onnx

        return load_onnx(path, req)
    if kind == "safetensors":
        from .safetensors_io import read_safetensors

        loaded = _from_dict(read_safetensors(path), req, path)
        loaded.container = "safetensors"
        return loaded
    obj = read_torch(path, unsafe_load, map_location)
    module = _pickled_module(obj)
    if module is not None:
        return from_module(module, "pickle", req, path, container="torch")
    if isinstance(obj, Mapping):
        return _from_dict(obj, req, path)
    raise ModelLoadError(
        f"{path} holds a {type(obj).__name__}, not a model, state_dict or checkpoint"
    )


def _check_request(file: Path, req: LoadOptions) -> None:
    if not file.exists():
        hint = ""
        if req.arch is not None and req.arch.startswith(TIMM_PREFIX):
            hint = " (timm models load from a local file or folder only; ltrobust never downloads)"
        raise ModelLoadError(f"checkpoint not found: {file}{hint}")
    if req.format is not None and req.format not in format_choices():
        valid = ", ".join(format_choices())
        raise ConfigError(f"unknown --format {req.format!r}; valid: {valid}")
    if (req.mean is None) != (req.std is None):
        raise ConfigError("give both mean and std for input normalisation, or neither")
    if req.head not in HEADS:
        raise ConfigError(f"unknown head '{req.head}'; valid: {', '.join(HEADS)}")


def _check_paper_options(fmt: str | None, req: LoadOptions) -> None:
    """``--scale``/``--tau``/``--format-config`` only with a paper format ``fmt``."""
    given = [f for f, v in (("--scale", req.scale), ("--tau", req.tau)) if v is not None]
    given += ["--format-config"] if req.format_config is not None else []
    if given and fmt is not None and fmt not in format_names():
        raise ConfigError(
            f"{', '.join(given)} apply to the paper formats ({', '.join(format_names())}), "
            f"not to a {fmt} model"
        )


def _load_zoo(path: str | os.PathLike[str], req: LoadOptions) -> LoadedModel:
    """A RobustBench zoo entry (:mod:`~ltrobust.models.robustbench_io`)."""
    from .robustbench_io import load_robustbench, zoo_root

    assert req.arch is not None
    if req.format is not None:
        raise ConfigError(f"--format {req.format} does not apply to {req.arch}")
    return load_robustbench(zoo_root(path, req.arch, req.model_dir), req, req.dataset, req.norm)


def _load_checked(file: Path, req: LoadOptions) -> LoadedModel:
    """Check the request, then load the file (see module doc)."""
    _check_request(file, req)
    _check_paper_options(req.format, req)
    return _load_file(file, req, req.unsafe_load, req.map_location)


def _finish(loaded: LoadedModel, file: Path, req: LoadOptions) -> LoadedModel:
    """Hash the file, describe the head, move to ``map_location`` and switch to eval mode."""
    _check_paper_options(loaded.format, req)
    loaded.sha256 = sha256_file(loaded.path or file)
    if loaded.head is None:
        loaded.head = head_info(loaded.model)
    if isinstance(req.map_location, (str, torch.device)):
        loaded.model.to(req.map_location)
    loaded.model.eval()
    return loaded


def load_model(
    path: str | os.PathLike[str], options: LoadOptions | None = None, **given: Any
) -> LoadedModel:
    """Load any supported model file (see module doc) as a logits-returning eval-mode model.

    ``options`` says how (:class:`~ltrobust.models.options.LoadOptions`, where every option is
    declared and described once; default: all defaults). Keywords are a convenience of the
    Python API: each replaces that field of ``options`` (an unknown one is a ConfigError
    suggesting the nearest), e.g. ``load_model(path, arch="resnet18", num_classes=10)``.

    Raises:
        ModelLoadError: missing, unreadable, unsafe or mismatching file (one-line message).
        ConfigError: unknown ``arch`` or ``head``, or an unknown option.
    """
    req = (options or LoadOptions()).given(**given)
    if req.arch is None and str(path).startswith(ROBUSTBENCH_PREFIX):
        req = replace(req, arch=str(path))  # MODEL robustbench:NAME with --model-dir
    if req.arch is not None and req.arch.startswith(ROBUSTBENCH_PREFIX):
        loaded = _load_zoo(path, req)
    else:
        loaded = _load_checked(Path(path), req)
    return _finish(loaded, Path(path), req)
