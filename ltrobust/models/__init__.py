"""Models: the architecture table and factory, heads, normalisation, checkpoints, loading.

Every model takes pixels in [0, 1] (``N x C x H x W``) and returns logits ``N x num_classes``;
normalisation is a module inside the model. Architectures keep the parameter names of the
public reference implementations so foreign robustness checkpoints load with ``strict=True``.
Names load lazily: the table (:mod:`ltrobust.models.registry`) is torch-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltrobust.lazy import exports

if TYPE_CHECKING:
    from ltrobust.models.base import ImageClassifier
    from ltrobust.models.build import create_model
    from ltrobust.models.checkpoint import (
        FORMAT_NAME,
        FORMAT_VERSION,
        checkpoint_payload,
        save_checkpoint,
        sha256_file,
    )
    from ltrobust.models.formats import LoadedModel
    from ltrobust.models.heads import HEADS, CosineHead, CosPlusHead, LinearHead
    from ltrobust.models.loading import load_model
    from ltrobust.models.registry import MODELS, list_models, register_model
    from ltrobust.models.safetensors_io import save_safetensors_checkpoint
    from ltrobust.models.summary import describe
    from ltrobust.models.wrappers import LogitAdjusted, Normalize, NormalizedModel, OutputSelect

_WHERE = {
    "ImageClassifier": "ltrobust.models.base",
    "create_model": "ltrobust.models.build",
    **dict.fromkeys(
        ("FORMAT_NAME", "FORMAT_VERSION", "checkpoint_payload", "save_checkpoint", "sha256_file"),
        "ltrobust.models.checkpoint",
    ),
    "LoadedModel": "ltrobust.models.formats",
    **dict.fromkeys(("HEADS", "CosineHead", "CosPlusHead", "LinearHead"), "ltrobust.models.heads"),
    "load_model": "ltrobust.models.loading",
    **dict.fromkeys(("MODELS", "list_models", "register_model"), "ltrobust.models.registry"),
    "save_safetensors_checkpoint": "ltrobust.models.safetensors_io",
    "describe": "ltrobust.models.summary",
    **dict.fromkeys(
        ("LogitAdjusted", "Normalize", "NormalizedModel", "OutputSelect"),
        "ltrobust.models.wrappers",
    ),
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, globals(), _WHERE)
