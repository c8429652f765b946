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

from ltrobust.errors import ConfigError, ModelLoadError
from ltrobust.readlog import note_read

from .base import WrappedClassifier
from .checkpoint import FORMAT_NAME
from .formats import LoadedModel, LoadRequest, from_ltrobust, load_strict, normalization_warning
from .readers import is_safetensors, read_torch
from .statedict import StateDict, find_state_dict, strip_prefixes, strip_wrappers
from .wrappers import Normalize, NormalizedModel

PREFIX = "torchvision:"


def _models() -> Any:
    try:
        import torchvision.models
    except ImportError:  # pragma: no cover - torchvision is a core dependency
        raise ConfigError("--arch torchvision:NAME needs torchvision") from None
    return torchvision.models


def list_torchvision() -> list[str]:
    """torchvision's classification architectures (no detection or segmentation models)."""
    models = _models()
    return sorted(models.list_models(module=models))


def _last_linear(model: nn.Module) -> str:
    """The dotted path of the last ``nn.Linear`` of ``model`` (its classifier)."""
    path = ""
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            path = name
    if not path:
        raise ConfigError(f"{type(model).__name__} has no linear classifier")
    return path


class TorchvisionClassifier(WrappedClassifier):
    """A torchvision classifier as an :class:`ImageClassifier`: ``forward`` is torchvision's
    and ``head`` its last linear layer (``fc``, ``classifier.N`` or ``heads.head``)."""

    def __init__(self, model: nn.Module, name: str) -> None:
        super().__init__(model, _last_linear(model))
        self.torchvision_name = name

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the classifier layer, captured with a forward hook."""
        captured: list[torch.Tensor] = []
        hook = self.head.register_forward_hook(lambda _m, args, _o: captured.append(args[0]))
        try:
            self.model(x)
        finally:
            hook.remove()
        return captured[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """torchvision's logits (the main output of a model with auxiliary heads)."""
        out = self.model(x)
        logits: torch.Tensor = out.logits if hasattr(out, "logits") else out
        return logits


def torchvision_builder(
    name: str, *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32, **kwargs: Any
) -> TorchvisionClassifier:
    """``torchvision.models.get_model(name, weights=None, num_classes=..., **kwargs)``, wrapped.

    ``weights`` and ``weights_backbone`` are always None: nothing is downloaded."""
    del input_size  # torchvision classifiers pool adaptively (ViTs take image_size themselves)
    known = list_torchvision()
    if name not in known:
        raise ConfigError(
            f"unknown torchvision architecture {name!r}; torchvision's classifiers: "
            f"{', '.join(known[:8])}, ... ({len(known)})"
        )
    if in_channels != 3:
        raise ConfigError(f"torchvision:{name} takes 3 input channels, not {in_channels}")
    kwargs.pop("weights", None)
    kwargs.pop("weights_backbone", None)
    model = _models().get_model(name, weights=None, num_classes=num_classes, **kwargs)
    return TorchvisionClassifier(model, name)


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
