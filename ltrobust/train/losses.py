"""Training losses of docs/METHODS.md §4, as per-sample callables ``(logits N x C, y N) -> N``.

Per-sample losses serve both as outer (training) losses, reduced by the caller with a mean, and
as inner (attack) losses for :class:`ltrobust.attacks.IterativeAttack`. Class statistics are
1-D tensors of length ``C``; they are moved to the logits' device on use. Logits are promoted to
float32 first, so the losses behave the same under ``torch.autocast``.

References: Balanced Softmax (Ren et al., NeurIPS 2020); logit adjustment (Menon et al., ICLR
2021); LDAM (Cao et al., NeurIPS 2019); class-balanced loss (Cui et al., CVPR 2019); focal loss
(Lin et al., ICCV 2017); TRADES (Zhang et al., ICML 2019); RoBal (Wu et al., CVPR 2021, Eq. 8-12);
REAT (Li et al., Eq. 1-3 and Alg. 1, and its official code).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ltrobust.attacks.iterative import LossFn
from ltrobust.attacks.losses import CrossEntropy
from ltrobust.errors import ConfigError
from ltrobust.train.options import LOSS_NAMES, LossOptions

#: added to the effective numbers of REAT's RBL before inverting them (as the official code
#: does), so that a class no adversarial example was predicted as gets a large finite weight
RBL_EPS = 1e-5


def _vec(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(device=like.device, dtype=torch.float32)


def log_prior(counts: torch.Tensor) -> torch.Tensor:
    """``ln pi_j = ln(n_j / sum n)`` for class counts ``n`` (C), float64."""
    n = counts.to(torch.float64)
    return torch.log(n / n.sum())


@dataclass(frozen=True, eq=False)
class LogitAdjustedCE:
    """``CE(z + tau * ln n_y)`` per sample.

    With ``tau = 1`` this is the Balanced Softmax loss (``bsl``); in general the logit-adjusted
    loss (``la``) of Menon et al. (``ln n`` and ``ln pi`` differ by a constant, which CE ignores).
    """

    counts: torch.Tensor
    tau: float = 1.0
    name: str = "bsl"

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = logits.float() + self.tau * torch.log(_vec(self.counts, logits))
        return F.cross_entropy(z, y, reduction="none")

    def __repr__(self) -> str:
        return self.name if self.name == "bsl" else f"{self.name}(tau={self.tau:g})"


def ldam_margins(counts: torch.Tensor, max_m: float) -> torch.Tensor:
    """LDAM margins ``m_j = max_m * n_j^(-1/4) / max_k n_k^(-1/4)`` (C, float64)."""
    m = counts.to(torch.float64).pow(-0.25)
    return m * (max_m / m.max())


@dataclass(frozen=True, eq=False)
class LDAMLoss:
    """``CE(scale * (z - m_y e_y), y)``: the true class's logit lowered by its LDAM margin."""

    counts: torch.Tensor
    max_m: float = 0.5
    scale: float = 1.0

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        m = _vec(ldam_margins(self.counts, self.max_m), logits)
        z = logits.float() - F.one_hot(y, logits.shape[1]) * m[y][:, None]
        return F.cross_entropy(self.scale * z, y, reduction="none")

    def __repr__(self) -> str:
        return f"ldam(max_m={self.max_m:g}, scale={self.scale:g})"


def class_balanced_weights(counts: torch.Tensor, beta: float) -> torch.Tensor:
    """Cui et al.: ``w_j = 1 / E_j``, ``E_j = (1 - beta^n_j) / (1 - beta)``, rescaled to sum C."""
    n = counts.to(torch.float64)
    effective = (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), n)) / (1.0 - beta)
    w = 1.0 / effective
    return w * (len(n) / w.sum())


def rbl_weights(train_counts: torch.Tensor, adv_counts: torch.Tensor) -> torch.Tensor:
    """REAT Eq. 1: ``w_i = C / (E_i * sum_j 1/E_j)`` (C, float64).

    ``E_i = (1 - beta_i^a_i) / (1 - beta_i)`` with ``beta_i = (n_i - 1) / n_i`` from the training
    counts ``n`` and ``a`` the adversarial examples predicted as class i in the previous epoch
    (``a = n`` in epoch 1). ``1/E_i`` is computed as ``1/(E_i + 1e-5)`` like the official code.
    """
    n = train_counts.to(torch.float64)
    a = adv_counts.to(torch.float64)
    beta = (n - 1.0) / n
    effective = (1.0 - beta.pow(a)) / (1.0 - beta)
    w = 1.0 / (effective + RBL_EPS)
    return w * (len(n) / w.sum())


@dataclass(frozen=True, eq=False)
class ClassWeightedCE:
    """``w_y * CE(z, y)`` per sample (class-balanced loss ``cb``; REAT's RBL)."""

    weights: torch.Tensor
    name: str = "weighted-ce"

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits.float(), y, reduction="none")
        return _vec(self.weights, logits)[y] * ce

    def __repr__(self) -> str:
        return f"{self.name}(w={[round(float(v), 4) for v in self.weights]})"


@dataclass(frozen=True)
class FocalLoss:
    """Softmax focal loss ``(1 - p_y)^gamma * CE(z, y)`` per sample."""

    gamma: float = 2.0

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits.float(), y, reduction="none")
        return (1.0 - torch.exp(-ce)).clamp_min(0.0).pow(self.gamma) * ce

    def __repr__(self) -> str:
        return f"focal(gamma={self.gamma:g})"


def kl_per_sample(ref_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``KL(softmax(ref) || softmax(logits))`` per sample (N); gradients flow into both."""
    log_p = F.log_softmax(ref_logits.float(), dim=1)
    log_q = F.log_softmax(logits.float(), dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


@dataclass(frozen=True, eq=False)
class KLToReference:
    """TRADES' inner loss: ``KL(p_ref || softmax(logits))`` per sample, ``p_ref`` fixed.

    ``ref_logits`` (N x C) are the clean logits, computed once before the attack (detached).
    """

    ref_logits: torch.Tensor

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return kl_per_sample(self.ref_logits.detach(), logits)

    def __repr__(self) -> str:
        return "kl(clean || adv)"


def robal_margins(counts: torch.Tensor, scale: float, m0: float, tau_m: float) -> torch.Tensor:
    """RoBal Eq. 8 times ``s``: ``s * m0 + tau_m * ln(n_j / n_min)`` (C, float64)."""
    n = counts.to(torch.float64)
    return scale * m0 + tau_m * torch.log(n / n.min())


def robal_logits(
    cosine: torch.Tensor,
    y: torch.Tensor,
    *,
    scale: float,
    margins: torch.Tensor,
    bias: torch.Tensor,
) -> torch.Tensor:
    """RoBal's training logits ``s cos_j - 1[j=y] margin_y + bias_j`` (N x C).

    ``bias`` is ``tau_b * ln pi`` (C); see :func:`robal_margins` for ``margins``.
    """
    m = _vec(margins, cosine)[y][:, None] * F.one_hot(y, cosine.shape[1])
    return scale * cosine.float() - m + _vec(bias, cosine)


def tail_weights(counts: torch.Tensor) -> torch.Tensor:
    """REAT's class weights ``omega_i = sqrt(N / n_i)`` (C, float64)."""
    n = counts.to(torch.float64)
    return torch.sqrt(n.sum() / n)


def _pair_terms(
    y: torch.Tensor, omega: torch.Tensor, tail: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``s_ij (omega_yi + omega_yj)`` (B x B), the tail-sample mask (B) and their number."""
    om = omega.to(device=y.device, dtype=torch.float32)[y]
    sign = 1.0 - 2.0 * (y[:, None] == y[None, :]).float()
    signed = sign * (om[:, None] + om[None, :])
    is_tail = tail.to(y.device)[y]
    return signed, is_tail, int(is_tail.sum())


def tail_paper(
    features: torch.Tensor, y: torch.Tensor, omega: torch.Tensor, tail: torch.Tensor
) -> torch.Tensor:
    """TAIL as in REAT's paper (Eq. 3, Alg. 1): ``R / S``, 0 without tail samples.

    ``p = softmax(features)`` (B x D); for each tail sample i,
    ``R -= (1/B) sum_j s_ij (omega_i + omega_j) KL(p_j || p_i)`` with ``s_ij = -1`` for the same
    class and ``+1`` otherwise; ``tail`` is a boolean mask over classes (C).
    """
    signed, is_tail, count = _pair_terms(y, omega, tail)
    if count == 0:
        return features.sum() * 0.0
    log_p = F.log_softmax(features.float(), dim=1)
    p = log_p.exp()
    # kl[i, j] = KL(p_j || p_i) = sum_k p_jk log p_jk - sum_k p_jk log p_ik
    kl = (p * log_p).sum(dim=1)[None, :] - log_p @ p.T
    r = -(signed * kl)[is_tail].sum() / features.shape[0]
    return r / count


def tail_official(
    features: torch.Tensor, y: torch.Tensor, omega: torch.Tensor, tail: torch.Tensor
) -> torch.Tensor:
    """TAIL as REAT's official code computes it.

    For each tail sample i the code takes ``KLDivLoss(log p_j, p_i)`` with the default ``mean``
    reduction over all B x D entries, ``k_i = mean_{j,k} p_ik (log p_ik - log p_jk)`` with
    ``p_i`` detached, and multiplies that one scalar by ``s_ij (omega_i + omega_j)``; the result
    is ``sum_i k_i * mean_j s_ij (omega_i + omega_j) / S`` (note: no minus sign).
    """
    signed, is_tail, count = _pair_terms(y, omega, tail)
    if count == 0:
        return features.sum() * 0.0
    log_p = F.log_softmax(features.float(), dim=1)
    p_ref, log_ref = log_p.exp().detach(), log_p.detach()
    b, d = features.shape
    # k[i] = (1/(B D)) sum_j sum_k p_ik (log p_ik - log p_jk)
    k = (b * (p_ref * log_ref).sum(dim=1) - (p_ref @ log_p.T).sum(dim=1)) / (b * d)
    coef = signed.mean(dim=1)
    return (k * coef)[is_tail].sum() / count


def build_outer_loss(options: LossOptions, counts: torch.Tensor) -> LossFn:
    """The per-sample outer loss named ``options.loss`` for class counts (C)."""
    o = options
    if o.loss == "ce":
        return CrossEntropy()
    if o.loss == "bsl":
        return LogitAdjustedCE(counts, 1.0, "bsl")
    if o.loss == "la":
        return LogitAdjustedCE(counts, o.la_tau, "la")
    if o.loss == "ldam":
        return LDAMLoss(counts, o.ldam_max_m, o.ldam_scale)
    if o.loss == "cb":
        return ClassWeightedCE(class_balanced_weights(counts, o.cb_beta), "cb")
    if o.loss == "focal":
        return FocalLoss(o.focal_gamma)
    raise ConfigError(f"unknown loss {o.loss!r}; valid: {', '.join(LOSS_NAMES)}")
