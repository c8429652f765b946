"""timm architectures (``--arch timm:NAME``) with a local checkpoint; never a download.

:func:`timm_builder` makes ``create_model("timm:NAME", ...)`` build ``timm.create_model(NAME,
pretrained=False)`` inside a :class:`TimmClassifier`, so timm models can be loaded, trained and
saved as ltrobust checkpoints. :func:`load_timm` reads a timm checkpoint: a file (``.safetensors``
or a ``torch.save`` state_dict, nested or not) or a Hugging Face style folder holding
``model.safetensors`` or ``pytorch_model.bin`` (and ``config.json``). Normalisation: ``--mean``
/``--std``, else the folder's ``config.json`` ``pretrained_cfg``, else timm's default for the
architecture (with a note). Needs the optional timm package (``pip install 'ltrobust[formats]'``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from ltrobust.errors import ModelLoadError
from ltrobust.readlog import note_read

from .formats import LoadedModel, LoadRequest, load_strict
from .readers import is_safetensors, read_torch
from .statedict import find_state_dict, strip_prefixes, strip_wrappers
from .timm_arch import TimmClassifier, timm_builder
from .wrappers import Normalize, NormalizedModel

PREFIX = "timm:"
#: files of a Hugging Face style model folder, in the order they are looked for
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _weights_file(path: Path, name: str) -> Path:
    if not path.is_dir():
        return path
    for candidate in WEIGHT_FILES:
        if (path / candidate).is_file():
            return path / candidate
    raise ModelLoadError(
        f"timm:{name}: {path} holds no {' or '.join(WEIGHT_FILES)}; ltrobust loads local "
        "checkpoints only and never downloads from the hub"
    )


def _read(file: Path) -> Any:
    note_read(file)
    if is_safetensors(file):
        from .safetensors_io import read_safetensors

        return read_safetensors(file)
    return read_torch(file, False, "cpu")


def _config(file: Path) -> dict[str, Any]:
    config = file.parent / "config.json"
    if not config.is_file():
        return {}
    note_read(config)
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = type(exc).__name__ if isinstance(exc, RecursionError) else str(exc)[:80]
        raise ModelLoadError(f"{config}: not a readable JSON config ({reason})") from None
    if not isinstance(data, dict) or not isinstance(data.get("pretrained_cfg") or {}, dict):
        raise ModelLoadError(f"{config}: not a timm config (an object with pretrained_cfg)")
    return data


def _shapes(name: str, sd: dict[str, torch.Tensor]) -> tuple[int, int]:
    """Classes and input channels from the classifier and first conv of a meta-device model."""
    with torch.device("meta"):
        probe = timm_builder(name)
    cfg = getattr(probe.model, "pretrained_cfg", None) or {}
    head_key = f"{probe.classifier_path}.weight"
    conv = cfg.get("first_conv")
    conv_key = f"{conv[0] if isinstance(conv, (list, tuple)) else conv}.weight" if conv else ""
    if head_key not in sd:
        raise ModelLoadError(f"timm:{name}: the checkpoint has no classifier {head_key}")
    channels = int(sd[conv_key].shape[1]) if conv_key in sd and sd[conv_key].ndim == 4 else 3
    return int(sd[head_key].shape[0]), channels


def _normalization(
    req: LoadRequest, config: dict[str, Any], net: TimmClassifier
) -> tuple[list[float], list[float], str]:
    if req.mean is not None and req.std is not None:
        return [float(v) for v in req.mean], [float(v) for v in req.std], "given"
    cfg = config.get("pretrained_cfg") or {}
    source = "the folder's config.json"
    if not (cfg.get("mean") and cfg.get("std")):
        cfg, source = getattr(net.model, "pretrained_cfg", None) or {}, "timm's default"
    mean, std = _stats(cfg.get("mean"), source), _stats(cfg.get("std"), source, positive=True)
    if not (mean and std):
        raise ModelLoadError(f"timm:{net.timm_name}: no normalisation known; pass --mean/--std")
    if len(mean) != len(std):
        raise ModelLoadError(
            f"timm:{net.timm_name}: {source} has {len(mean)} means, {len(std)} stds"
        )
    return mean, std, source


def _stats(values: Any, source: str, *, positive: bool = False) -> list[float] | None:
    """A config's mean or std as 1 to 64 finite floats (std > 0); a ModelLoadError otherwise."""
    if values is None or values == []:
        return None
    ok = isinstance(values, (list, tuple)) and 1 <= len(values) <= 64
    ok = ok and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )
    if not ok or (positive and min(values) <= 0):
        shown = repr(values) if len(repr(values)) <= 40 else repr(values)[:37] + "..."
        what = "positive " if positive else ""
        raise ModelLoadError(
            f"{source}: mean/std must be lists of 1 to 64 finite {what}numbers, got {shown}"
        )
    return [float(v) for v in values]


def load_timm(path: Path, req: LoadRequest) -> LoadedModel:
    """Load a local timm checkpoint for ``req.arch == "timm:NAME"`` (see module doc)."""
    assert req.arch is not None
    name = req.arch[len(PREFIX) :]
    file = _weights_file(path, name)
    obj = _read(file)
    sd, container = find_state_dict(obj) if isinstance(obj, dict) else (None, None)
    if sd is None:
        raise ModelLoadError(f"timm:{name}: {file} holds no state_dict of tensors")
    sd, stripped = strip_wrappers(sd)
    num_classes, channels = _shapes(name, sd)
    net = timm_builder(name, num_classes=num_classes, in_channels=channels)
    sd, more = strip_prefixes(sd, set(net.model.state_dict()))
    load_strict(net.model, sd, file, req.arch)
    config = _config(file)
    mean, std, source = _normalization(req, config, net)
    notes = [] if source == "given" else [f"timm:{name}: normalisation from {source}: {mean}/{std}"]
    size = req.build_size
    return LoadedModel(
        model=NormalizedModel(Normalize(mean, std), net),
        format="timm",
        sha256="",
        path=str(file),
        arch=req.arch,
        num_classes=num_classes,
        input_spec={"channels": channels, "size": size, "mean": mean, "std": std},
        meta={
            "container_key": container,
            "stripped_prefixes": stripped + more,
            "model_args": {"num_classes": num_classes, "in_channels": channels, "input_size": size},
        },
        warnings=notes,
        container="safetensors" if is_safetensors(file) else "torch",
        inference={"normalization": source},
    )
