"""Models: registry and factory, architectures, heads, normalisation, checkpoints, loading.

Every model takes pixels in [0, 1] (``N x C x H x W``) and returns logits ``N x num_classes``;
normalisation is a module inside the model. Architectures keep the parameter names of the
public reference implementations so foreign robustness checkpoints load with ``strict=True``.
"""

from __future__ import annotations

from . import resnet, small, wideresnet  # noqa: F401  (register the architectures)
from .base import ImageClassifier
from .checkpoint import FORMAT_NAME, FORMAT_VERSION, save_checkpoint, sha256_file
from .formats import LoadedModel
from .heads import HEADS, CosineHead, LinearHead
from .loading import load_model
from .registry import create_model, list_models, register_model
from .wrappers import LogitAdjusted, Normalize, NormalizedModel, OutputSelect

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HEADS",
    "CosineHead",
    "ImageClassifier",
    "LinearHead",
    "LoadedModel",
    "LogitAdjusted",
    "Normalize",
    "NormalizedModel",
    "OutputSelect",
    "create_model",
    "list_models",
    "load_model",
    "register_model",
    "save_checkpoint",
    "sha256_file",
]
