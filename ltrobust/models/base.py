"""Common base class of every registered architecture.

An :class:`ImageClassifier` splits its forward pass into ``features`` (the penultimate
representation) and ``head`` (the final layer), so that training methods can read features and
swap the head, while the parameter names stay those of the public reference implementations
(the head lives under its historical attribute name, e.g. ``linear`` or ``fc``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn


class ImageClassifier(nn.Module):
    """Base class: ``forward(x) = head(features(x))``.

    Contract for subclasses:

    * ``head_path`` (class attribute) is the dotted attribute path of the final layer, e.g.
      ``"linear"`` (CIFAR ResNet), ``"fc"`` (WideResNet) or ``"classifier.fc3"`` (SmallCNN).
      The head is registered only there, so ``state_dict`` keys never duplicate.
    * ``features(x)`` maps ``N x C x H x W`` inputs to ``N x D`` penultimate features.
    * ``head`` maps ``N x D`` features to ``N x num_classes`` logits.

    Reading ``model.head`` returns the final layer; assigning ``model.head = module`` (or calling
    :meth:`replace_head`) puts ``module`` at ``head_path``.
    """

    head_path: ClassVar[str] = "fc"
    unused_prefixes: ClassVar[tuple[str, ...]] = ()
    """Prefixes of state_dict keys that public checkpoints carry but the model does not use;
    loaders drop them."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features, ``N x D``; implemented by each architecture."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``N x num_classes`` for inputs ``N x C x H x W``."""
        return self.head(self.features(x))

    @property
    def head(self) -> nn.Module:
        """The final layer (the module registered at ``head_path``)."""
        return self.get_submodule(self.head_path)

    def replace_head(self, module: nn.Module) -> None:
        """Put ``module`` at ``head_path`` in place of the current final layer."""
        parent_path, _, name = self.head_path.rpartition(".")
        parent = self.get_submodule(parent_path) if parent_path else self
        nn.Module.__setattr__(parent, name, module)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "head":
            if not isinstance(value, nn.Module):
                raise TypeError("head must be an nn.Module")
            self.replace_head(value)
            return
        super().__setattr__(name, value)


class WrappedClassifier(ImageClassifier):
    """Another library's classifier (timm, torchvision) as an :class:`ImageClassifier`: the
    library's module is ``model`` and its classifier layer the submodule at
    ``classifier_path``, which ``head`` returns and ``replace_head`` swaps."""

    def __init__(self, model: nn.Module, classifier_path: str) -> None:
        super().__init__()
        self.model = model
        self.classifier_path = classifier_path

    @property
    def head(self) -> nn.Module:
        """The library's classifier layer."""
        return self.model.get_submodule(self.classifier_path)

    def replace_head(self, module: nn.Module) -> None:
        parent_path, _, name = self.classifier_path.rpartition(".")
        parent = self.model.get_submodule(parent_path) if parent_path else self.model
        nn.Module.__setattr__(parent, name, module)
