"""AFR's intra-class split (Zhang, Feng and Jin, VISAPP 2024, §3.1 and §3.3; docs/METHODS.md
§4.7): which samples of a class are its majority and which its minority, on embeddings.

* :func:`oversample`: every class brought to ``max_c n_c`` samples, each image of a class used
  ``floor`` or ``ceil`` of ``max n / n_c`` times (a random order of the class, tiled).
* :func:`class_cosines`: ``cos(e_x, e_mu)`` between a sample's embedding and the mean embedding of
  its class (over the samples given, i.e. the over-sampled set).
* :func:`thresholds`: lambda for every class, or (§3.3) once the training accuracy ``a_train``
  reaches ``adapt_at``, ``a_c`` for every class whose accuracy ``a_c`` is below ``a_train``.
* :func:`split_minority`: rule ``text`` (§3.1's words and Fig. 3: samples beyond the threshold
  are the minority), minority iff ``cos < lambda_c``; rule ``eq2`` (Eq. 2 as printed), minority
  iff ``cos >= lambda_c``.
* :func:`choose_perturbed`: exactly ``round(share * m_c)`` (half up) of the ``m_c`` majority
  samples of each class that has a minority to move towards, uniformly at random.

Pure tensor functions; randomness from the generator passed in.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ltrobust.errors import ConfigError
from ltrobust.train.options import SPLIT_RULES


def oversample(y: torch.Tensor, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """Indices into ``y`` (N) giving every class present ``max_c n_c`` samples, class by class
    (int64, CPU)."""
    y = y.cpu()
    target = int(torch.bincount(y, minlength=num_classes).max())
    parts = []
    for c in range(num_classes):
        idx = (y == c).nonzero().flatten()
        if len(idx) == 0:
            continue
        order = idx[torch.randperm(len(idx), generator=generator)]
        parts.append(order.repeat(-(-target // len(idx)))[:target])
    return torch.cat(parts)


def class_means(emb: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mean embedding of every class (C x D, float64; zero for a class without samples)."""
    sums = torch.zeros(num_classes, emb.shape[1], dtype=torch.float64, device=emb.device)
    sums.index_add_(0, y, emb.double())
    n = torch.bincount(y, minlength=num_classes).clamp_min(1).to(sums)
    return sums / n[:, None]


def class_cosines(emb: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``cos(e_i, mean of class y_i)`` for every sample (N, float64)."""
    means = class_means(emb, y, num_classes)
    return F.cosine_similarity(emb.double(), means[y], dim=1, eps=1e-12)


def class_accuracy(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class accuracy (C, float64; NaN for a class without samples)."""
    hits = torch.bincount(y[pred == y], minlength=num_classes).double()
    n = torch.bincount(y, minlength=num_classes).double()
    return hits / n


def thresholds(
    lam: float, acc: torch.Tensor, train_acc: float, adapt_at: float
) -> tuple[torch.Tensor, bool]:
    """Per-class thresholds (C, float64) and whether §3.3's adaptive rule applied: while
    ``train_acc < adapt_at`` every class gets ``lam``; afterwards a class with ``acc_c <
    train_acc`` gets ``acc_c``, the others ``lam``."""
    base = torch.full_like(acc, float(lam))
    if train_acc < adapt_at:
        return base, False
    return torch.where(acc < train_acc, acc, base), True


def split_minority(
    cos: torch.Tensor, y: torch.Tensor, thresh: torch.Tensor, rule: str = "text"
) -> torch.Tensor:
    """Minority mask (N, bool): ``cos < thresh[y]`` (``text``) or ``cos >= thresh[y]``
    (``eq2``)."""
    if rule not in SPLIT_RULES:
        raise ConfigError(f"unknown --afr-split {rule!r}; valid: {', '.join(SPLIT_RULES)}")
    below = cos < thresh.to(cos)[y]
    return below if rule == "text" else ~below


def choose_perturbed(
    minority: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    share: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Mask (N, bool) of ``int(share * m_c + 0.5)`` majority samples of every class ``c`` with
    at least one minority sample, drawn uniformly without replacement (``m_c`` = its majority
    samples); classes without minority keep all their samples as they are."""
    chosen = torch.zeros_like(minority)
    for c in range(num_classes):
        in_class = y == c
        if not bool((minority & in_class).any()):
            continue
        idx = (~minority & in_class).nonzero().flatten()
        k = int(share * len(idx) + 0.5)
        pick = torch.randperm(len(idx), generator=generator)[:k]
        chosen[idx[pick.to(idx.device)]] = True
    return chosen
