"""timm architectures (``--arch timm:NAME``): :func:`timm_builder` builds timm's model NAME,
untrained, inside a :class:`TimmClassifier`. Reading a timm model folder is
:mod:`ltrobust.models.timm_io`'s; this module is what the architecture table names, so it
imports no loader.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ltrobust.errors import ConfigError

from .base import WrappedClassifier


def timm_module() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # ltrobust never downloads
    try:
        import timm
    except ImportError:
        raise ConfigError("--arch timm:NAME needs timm: pip install 'ltrobust[formats]'") from None
    return timm


class TimmClassifier(WrappedClassifier):
    """A timm model as an :class:`ImageClassifier`: ``forward`` is timm's, ``features`` its
    pre-logits (``forward_head(..., pre_logits=True)``) and ``head`` its classifier."""

    def __init__(self, model: nn.Module, name: str) -> None:
        cfg = getattr(model, "pretrained_cfg", None) or {}
        super().__init__(model, str(cfg.get("classifier") or "fc"))
        self.timm_name = name

    def features(self, x: torch.Tensor) -> torch.Tensor:
        m: Any = self.model
        return m.forward_head(m.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """timm's logits."""
        out: torch.Tensor = self.model(x)
        return out


def timm_builder(
    name: str, *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32, **kwargs: Any
) -> TimmClassifier:
    """``timm.create_model(name, pretrained=False, num_classes, in_chans, **kwargs)``, wrapped."""
    del input_size  # most timm CNNs pool globally; a fixed-size model takes its own default
    timm = timm_module()
    if not timm.is_model(name):
        raise ConfigError(f"unknown timm architecture {name!r} (timm {timm.__version__})")
    model = timm.create_model(
        name, pretrained=False, num_classes=num_classes, in_chans=in_channels, **kwargs
    )
    return TimmClassifier(model, name)
