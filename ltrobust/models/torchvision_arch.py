"""torchvision architectures (``--arch torchvision:NAME``): :func:`torchvision_builder` builds
``torchvision.models.get_model(NAME, weights=None, ...)`` inside a :class:`TorchvisionClassifier`.
Reading a torchvision state_dict is :mod:`ltrobust.models.torchvision_io`'s; this module is what
the architecture table names, so it imports no loader.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ltrobust.errors import ConfigError

from .base import WrappedClassifier


def torchvision_models() -> Any:
    try:
        import torchvision.models
    except ImportError:  # pragma: no cover - torchvision is a core dependency
        raise ConfigError("--arch torchvision:NAME needs torchvision") from None
    return torchvision.models


def list_torchvision() -> list[str]:
    """torchvision's classification architectures (no detection or segmentation models)."""
    models = torchvision_models()
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
    model = torchvision_models().get_model(name, weights=None, num_classes=num_classes, **kwargs)
    return TorchvisionClassifier(model, name)
