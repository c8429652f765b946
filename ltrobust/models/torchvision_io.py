"""torchvision architectures (``--arch torchvision:NAME``) with a local state_dict; never a
download.

:func:`torchvision_builder` makes ``create_model("torchvision:NAME", ...)`` build
``torchvision.models.get_model(NAME, weights=None, num_classes=...)`` inside a
:class:`TorchvisionClassifier`, for any classification builder of ``torchvision.models``
(``list_models(module=torchvision.models)``). :func:`load_torchvision` reads a
``torch.save(model.state_dict())`` file (or ``.safetensors``; nested or prefixed keys are handled)
with torchvision's own parameter names. A torchvision state_dict stores no normalisation:
``--mean``/``--std`` when given, else pixels in [0, 1] with a warning (ImageNet statistics are
never assumed). :func:`ltrobust.models.layouts.guess_torchvision` names the torchvision ResNet
whose key layout a state_dict has, for the hint when ``--arch`` is missing or wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ltrobust.errors import ModelLoadError
from ltrobust.readlog import note_read

from .checkpoint import FORMAT_NAME
from .formats import LoadedModel, LoadRequest, from_ltrobust, load_strict, normalization_warning
from .readers import is_safetensors, read_torch
from .statedict import StateDict, find_state_dict, strip_prefixes, strip_wrappers
from .torchvision_arch import torchvision_builder
from .wrappers import Normalize, NormalizedModel

PREFIX = "torchvision:"


def _read(file: Path) -> Any:
    note_read(file)
    if is_safetensors(file):
        from .safetensors_io import read_safetensors

        return read_safetensors(file)
    return read_torch(file, False, "cpu")


def _unprefixed(name: str, sd: StateDict) -> tuple[StateDict, list[str], int]:
    """The state_dict without the prefixes of a wrapper, what was stripped and the classes
    (rows of the classifier at a meta-device probe's path)."""
    with torch.device("meta"):
        probe = torchvision_builder(name)
    sd, stripped = strip_prefixes(sd, set(probe.model.state_dict()))
    key = f"{probe.classifier_path}.weight"
    if key not in sd or sd[key].ndim != 2:
        raise ModelLoadError(f"torchvision:{name}: the state_dict has no classifier {key}")
    return sd, stripped, int(sd[key].shape[0])


def load_torchvision(path: Path, req: LoadRequest) -> LoadedModel:
    """Load a torchvision state_dict for ``req.arch == "torchvision:NAME"`` (see module doc)."""
    assert req.arch is not None
    name = req.arch[len(PREFIX) :]
    if path.is_dir():
        raise ModelLoadError(f"cannot read checkpoint {path}: it is a directory")
    obj = _read(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT_NAME:
        return from_ltrobust(obj, req, path)  # trained by ltrobust with this --arch
    sd, container = find_state_dict(obj) if isinstance(obj, dict) else (None, None)
    if sd is None:
        raise ModelLoadError(f"torchvision:{name}: {path} holds no state_dict of tensors")
    sd, stripped = strip_wrappers(sd)
    sd, more, num_classes = _unprefixed(name, sd)
    if req.num_classes is not None and req.num_classes != num_classes:
        raise ModelLoadError(
            f"{path} has num_classes={num_classes} but num_classes={req.num_classes} was given"
        )
    net = torchvision_builder(name, num_classes=num_classes)
    load_strict(net.model, sd, path, req.arch)
    mean = None if req.mean is None else [float(v) for v in req.mean]
    std = None if req.std is None else [float(v) for v in req.std]
    given = mean is not None and std is not None
    model: nn.Module = (
        net if mean is None or std is None else NormalizedModel(Normalize(mean, std), net)
    )
    return LoadedModel(
        model=model,
        format="state_dict",
        sha256="",
        path=str(path),
        arch=req.arch,
        num_classes=num_classes,
        input_spec={"channels": 3, "size": req.build_size, "mean": mean, "std": std},
        meta={"container_key": container, "stripped_prefixes": stripped + more},
        warnings=[] if given else [normalization_warning()],
        container="safetensors" if is_safetensors(path) else "torch",
        inference={"normalization": "given" if given else "none"},
    )
