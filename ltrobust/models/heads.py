"""Classification heads: the plain linear layer and RoBal's cosine classifiers.

The cosine head follows RoBal (Wu et al., CVPR 2021, Sec. 4; docs/METHODS.md §4):
``cos_j(f) = <f / ||f||, W_j / (||W_j|| + gamma)>`` and logits ``scale * cos_j``, no bias (RoBal's
``PostProc_Classifier`` with ``classifier: Cos``). The cosplus head adds a per-class bias, as
RoBal's and RobustLT's ``CosPlus_Classifier`` and RobustLT's ``Cos_Classifier`` (gamma 0) do
(docs/FORMATS.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

HEADS: tuple[str, ...] = ("linear", "cosine", "cosplus")
"""Valid values of ``create_model(..., head=...)``."""

_EPS = 1e-12


class LinearHead(nn.Linear):
    """Affine head ``f @ W.T + b`` with exactly :class:`torch.nn.Linear` semantics and keys.

    Input ``N x in_features``, output ``N x out_features``; parameters ``weight``
    (``out_features x in_features``) and ``bias`` (``out_features``).
    """


class CosineHead(nn.Module):
    """RoBal's cosine classifier: ``scale * <f/||f||, W_j/(||W_j|| + gamma)>``, no bias.

    Args:
        in_features: feature dimension ``D``.
        out_features: number of classes ``C``.
        scale: the logit scale ``s`` (RoBal uses 10).
        gamma: added to every class-weight norm (RoBal: 1/32 or 1/16); 0 gives the plain cosine.

    The only parameter is ``weight`` (``C x D``), so state_dict keys match a bias-free linear
    layer. ``forward`` maps ``N x D`` features to ``N x C`` logits; :meth:`cosine` returns the
    unscaled values (in [-1, 1] when ``gamma = 0``).
    """

    def __init__(
        self, in_features: int, out_features: int, scale: float = 10.0, gamma: float = 0.0
    ) -> None:
        super().__init__()
        if scale <= 0 or not math.isfinite(scale):
            raise ConfigError(f"cosine head scale must be a positive number, got {scale}")
        if gamma < 0 or not math.isfinite(gamma):
            raise ConfigError(f"cosine head gamma must be >= 0, got {gamma}")
        self.in_features = in_features
        self.out_features = out_features
        self.scale = float(scale)
        self.gamma = float(gamma)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def cosine(self, f: torch.Tensor) -> torch.Tensor:
        """Unscaled cosines ``N x C`` of features ``f`` (``N x D``)."""
        f_unit = f / f.norm(dim=1, keepdim=True).clamp_min(_EPS)
        w_norm = self.weight.norm(dim=1, keepdim=True)
        w_scaled = self.weight / (w_norm + self.gamma).clamp_min(_EPS)
        return F.linear(f_unit, w_scaled)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """Logits ``scale * cosine(f)``, ``N x C``."""
        return self.scale * self.cosine(f)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"scale={self.scale}, gamma={self.gamma}"
        )


class CosPlusHead(CosineHead):
    """:class:`CosineHead` plus a per-class bias: ``scale * cos_j(f) + b_j``.

    Parameters ``weight`` (``C x D``) and ``bias`` (``C``), the keys of RoBal's and RobustLT's
    ``CosPlus_Classifier`` (whose ``moving_ed`` statistic is not used by its forward pass).
    """

    def __init__(
        self, in_features: int, out_features: int, scale: float = 10.0, gamma: float = 0.0
    ) -> None:
        super().__init__(in_features, out_features, scale, gamma)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """Logits ``scale * cosine(f) + bias``, ``N x C``."""
        return self.scale * self.cosine(f) + self.bias
