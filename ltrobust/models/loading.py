"""``load_model``: load an ltrobust checkpoint, a foreign state_dict, TorchScript or a pickle.

Detection order: missing file; TorchScript archive (``torch.jit.load``); otherwise
``torch.load(weights_only=True)``. A file that needs arbitrary unpickling (a whole pickled
module, or a dict holding Python objects) is refused unless ``unsafe_load=True``; then a module
(directly, or under a key such as ``model``) loads as format ``"pickle"`` and a dict goes on as
below. A dict with ``format == "ltrobust-checkpoint"`` is rebuilt from its own metadata; any
other dict must be (or contain) a plain state_dict and needs ``arch``. Every returned model is
in eval mode and returns a logits tensor (foreign TorchScript/pickled modules are wrapped in
:class:`OutputSelect`).
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, ModelLoadError
from .checkpoint import FORMAT_NAME, sha256_file
from .formats import (
    LoadedModel,
    LoadRequest,
    from_ltrobust,
    from_state_dict,
    normalization_warning,
)
from .heads import HEADS
from .statedict import CONTAINER_KEYS
from .wrappers import Normalize, NormalizedModel, OutputSelect

_GLOBAL_RE = re.compile(r"Unsupported (?:global: GLOBAL|class) ([\w.]+)")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_MAX_REASON = 160


def _clean(text: str) -> str:
    return " ".join(_ANSI_RE.sub("", text).split())


def _short_reason(exc: BaseException) -> str:
    """A one-line, short description of why reading a file failed."""
    text = _ANSI_RE.sub("", str(exc))
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = first.split(". ", 1)[0].rstrip(".")
    if isinstance(exc, EOFError):
        return "the file ends early (truncated?)"
    reason = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"not a readable PyTorch file ({_clean(reason)[:_MAX_REASON]})"


def _is_pickled_object(exc: BaseException) -> bool:
    """Whether a weights-only failure names a real Python global (not a corrupted name)."""
    match = _GLOBAL_RE.search(_ANSI_RE.sub("", str(exc)))
    if match is None:
        return False
    module_name, _, attr = match.group(1).rpartition(".")
    module = sys.modules.get(module_name)
    if module_name.startswith("torch") and module is not None and not hasattr(module, attr):
        return False  # a cut-off torch name: the file is truncated, not a pickled object
    return True


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _is_safetensors(path: Path) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON object."""
    with path.open("rb") as fh:
        head = fh.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    size = int.from_bytes(head[:8], "little")
    return 2 <= size <= path.stat().st_size - 8


def _read_torch(path: Path, unsafe_load: bool, map_location: Any) -> Any:
    """``torch.load`` with weights_only, falling back to full unpickling only if allowed."""
    if path.stat().st_size == 0:
        raise ModelLoadError(f"cannot read checkpoint {path}: the file is empty")
    if _is_safetensors(path):
        raise ModelLoadError(
            f"{path} is a safetensors file, a format ltrobust does not load yet; save the "
            "state_dict with torch.save (then --arch), or a TorchScript file"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # a pickle the safe reader rejects: a Python object, or one it cannot parse (a newer
        # pickle protocol, a cut-off file); full unpickling is only tried when allowed
        if not (unsafe_load or _is_pickled_object(exc)):
            raise ModelLoadError(f"cannot read checkpoint {path}: {_short_reason(exc)}") from None
    except Exception as exc:  # torch.load raises many types for corrupt or foreign files
        raise ModelLoadError(f"cannot read checkpoint {path}: {_short_reason(exc)}") from None
    if not unsafe_load:
        raise ModelLoadError(
            f"{path} holds a pickled Python object, which can run arbitrary code when loaded; "
            "re-run with --unsafe-load if you trust it, or save a state_dict"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # unpickling can fail in arbitrary ways (missing classes, ...)
        raise ModelLoadError(f"cannot unpickle {path}: {_short_reason(exc)}") from None


def _pickled_module(obj: Any) -> nn.Module | None:
    """A whole module, given directly or under a container key (only via unsafe loading)."""
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, Mapping) and obj.get("format") != FORMAT_NAME:
        for key in CONTAINER_KEYS:
            if isinstance(obj.get(key), nn.Module):
                return obj[key]
    return None


def _wrap_foreign(module: nn.Module, req: LoadRequest) -> tuple[nn.Module, dict[str, Any] | None]:
    """``OutputSelect([NormalizedModel(Normalize, ] module)``, and the input spec if any."""
    inner: nn.Module = module
    if req.mean is not None and req.std is not None:
        inner = NormalizedModel(Normalize(req.mean, req.std), module)
    given = (req.in_channels, req.input_size, req.mean, req.std)
    spec = None
    if any(v is not None for v in given):
        spec = {
            "channels": req.in_channels,
            "size": req.input_size,
            "mean": None if req.mean is None else [float(v) for v in req.mean],
            "std": None if req.std is None else [float(v) for v in req.std],
        }
    return OutputSelect(inner, key=req.output_key), spec


def _from_module(module: nn.Module, fmt: str, req: LoadRequest, path: Path) -> LoadedModel:
    if isinstance(module, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        module = module.module
    model, spec = _wrap_foreign(module, req)
    notes = []
    if req.arch is not None:
        notes.append(f"--arch {req.arch} ignored: {path.name} holds a whole {fmt} model")
    if req.mean is None:
        notes.append(normalization_warning())
    return LoadedModel(
        model=model,
        format=fmt,
        sha256="",
        path=str(path),
        num_classes=req.num_classes,
        input_spec=spec,
        meta={"module_class": type(module).__name__},
        warnings=notes,
    )


def _load_torchscript(path: Path, req: LoadRequest, map_location: Any) -> LoadedModel:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's deprecation notice is not for our users
            module = torch.jit.load(str(path), map_location=map_location)
    except Exception as exc:  # the TorchScript reader raises RuntimeError and friends
        raise ModelLoadError(f"cannot read TorchScript file {path}: {_short_reason(exc)}") from None
    return _from_module(module, "torchscript", req, path)


def load_model(
    path: str | os.PathLike[str],
    *,
    arch: str | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    head: str = "linear",
    unsafe_load: bool = False,
    output_key: str | int | None = None,
    map_location: str | torch.device = "cpu",
    default_input_size: int | None = None,
) -> LoadedModel:
    """Load any supported model file (see module doc) as a logits-returning eval-mode model.

    Args:
        path: the file.
        arch: registered architecture; required for plain state_dicts, checked against
            ltrobust checkpoints, ignored (with a warning) for TorchScript/pickles.
        num_classes, in_channels: inferred from a state_dict's head / first conv when None;
            a given value that disagrees with the file raises.
        input_size: input side (default 32 when building an architecture).
        mean, std: input normalisation to put in front of the model (for ltrobust checkpoints
            only when the checkpoint stores none; a different stored one raises).
        head: ``"linear"`` or ``"cosine"``: the head of a plain state_dict's architecture.
        unsafe_load: allow full unpickling (arbitrary code) for pickled modules/objects.
        output_key: which output of a TorchScript/pickled model is the logits (index or key).
        map_location: device for the loaded tensors and model.
        default_input_size: input side to build a plain state_dict's architecture with when
            ``input_size`` is not given (the audit passes the dataset's); never checked
            against a checkpoint.

    Raises:
        ModelLoadError: missing, unreadable, unsafe or mismatching file (one-line message).
        ConfigError: unknown ``arch`` or ``head``.
    """
    file = Path(path)
    if not file.exists():
        raise ModelLoadError(f"checkpoint not found: {path}")
    if file.is_dir():
        raise ModelLoadError(f"cannot read checkpoint {path}: it is a directory")
    if (mean is None) != (std is None):
        raise ConfigError("give both mean and std for input normalisation, or neither")
    if head not in HEADS:
        raise ConfigError(f"unknown head '{head}'; valid: {', '.join(HEADS)}")
    req = LoadRequest(
        arch, num_classes, in_channels, input_size, mean, std, head, output_key, default_input_size
    )
    if _is_torchscript(file):
        loaded = _load_torchscript(file, req, map_location)
    else:
        obj = _read_torch(file, unsafe_load, map_location)
        module = _pickled_module(obj)
        if module is not None:
            loaded = _from_module(module, "pickle", req, file)
        elif isinstance(obj, Mapping) and obj.get("format") == FORMAT_NAME:
            loaded = from_ltrobust(obj, req, file)
        elif isinstance(obj, Mapping):
            loaded = from_state_dict(obj, req, file)
        else:
            raise ModelLoadError(
                f"{path} holds a {type(obj).__name__}, not a model, state_dict or checkpoint"
            )
    loaded.sha256 = sha256_file(file)
    if isinstance(map_location, (str, torch.device)):
        loaded.model.to(map_location)
    loaded.model.eval()
    return loaded
