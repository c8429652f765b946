"""MALT targeting (Melamed, Yehudai & Shamir, "MALT Powers Up Adversarial Attacks", NeurIPS 2024)
with targeted APGD (docs/METHODS.md §2.10).

AutoAttack's targeted components aim at the classes with the highest clean logits. MALT ranks
the candidate classes by their linearised distance instead: for class ``c`` the distance to the
hyperplane where ``z_c`` overtakes ``z_y`` under the linear model of the logits at ``x``,

    d_c = (z_y - z_c) / ||grad_x (z_y - z_c)||_*

(``*`` the dual norm: L1 for an L-inf threat, L2 for L2). The candidates are the ``candidates``
(100) classes with the highest logits other than ``y`` (every other class when C <= 101); the
``max_targets`` (9) with the smallest ``d_c`` are attacked, nearest first, each with targeted
APGD on the samples still classified correctly.

Written for ltrobust after the paper's official code (``odeliamel/MALT``, ``targeting.py``),
with two deliberate differences: the numerator uses the true class (the official code uses the
predicted one; they agree on every sample that is attacked), and a class whose gradient
difference is exactly zero is ranked last (distance ``inf``), not first.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ltrobust.attacks.base import Attack, AttackOutput, GradObserver
from ltrobust.attacks.threat import ThreatModel


def malt_scores(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    candidates: int = 100,
    rows: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate classes (N, K) and their linearised distances (N, K), highest logit first.

    ``K = min(candidates, C - 1)``. The gradients of ``z_y - z_c`` are computed for ``rows``
    (sample, class) pairs per backward pass; ``x`` is not modified.
    """
    if norm not in ("linf", "l2"):
        raise ValueError(f"unknown norm {norm!r}")
    dual = 1.0 if norm == "linf" else 2.0
    x = x.detach()
    with torch.no_grad():
        logits = model(x)
    n, c = logits.shape
    k = max(0, min(candidates, c - 1))
    masked = logits.scatter(1, y[:, None], float("-inf"))
    cand = masked.topk(k, dim=1).indices
    gap = logits.gather(1, y[:, None]) - logits.gather(1, cand)
    pairs_sample = torch.arange(n, device=x.device).repeat_interleave(k)
    pairs_class = cand.flatten()
    norms = torch.empty(n * k, dtype=logits.dtype, device=x.device)
    for lo in range(0, n * k, rows):
        idx = slice(lo, min(lo + rows, n * k))
        s = pairs_sample[idx]
        xs = x[s].clone().requires_grad_(True)
        with torch.enable_grad():
            out = model(xs)
            weight = torch.zeros_like(out)
            weight.scatter_(1, y[s][:, None], 1.0)
            weight.scatter_(1, pairs_class[idx][:, None], -1.0)
            grad = torch.autograd.grad((out * weight).sum(), xs)[0]
        norms[idx] = grad.flatten(1).norm(p=dual, dim=1).to(norms.dtype)
    norms = norms.view(n, k)
    dist = torch.where(norms > 0, gap / norms.clamp_min(1e-30), torch.full_like(gap, math.inf))
    return cand, dist


def malt_targets(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    k: int = 9,
    candidates: int = 100,
    rows: int = 256,
) -> torch.Tensor:
    """MALT's targets (N, min(k, candidates, C - 1)) int64: the candidate classes with the
    smallest linearised distance, nearest first (ties: the higher logit first)."""
    cand, dist = malt_scores(model, x, y, norm=norm, candidates=candidates, rows=rows)
    t = max(0, min(k, cand.shape[1]))
    order = torch.sort(dist, dim=1, stable=True).indices[:, :t]
    return cand.gather(1, order)


def targeted_apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    targets: torch.Tensor,
    threat: ThreatModel,
    *,
    n_iter: int,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """pyautoattack's APGD-T (one restart) towards ``targets[:, 0]``, then ``targets[:, 1]``, ...
    on the samples still classified correctly (-1: no target at that rank), as
    :class:`~ltrobust.attacks.autoattack.TailTargetedAPGD` runs it. Returns the adversarial
    batch and, per sample, the rank of the target whose run broke it (-1 for none)."""
    from pyautoattack.autopgd_base import APGDAttack_targeted

    with torch.no_grad():
        robust = model(x).argmax(1) == y
    x_adv = x.clone()
    broke = torch.full_like(y, -1)
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        apgd = APGDAttack_targeted(
            model,
            n_iter=n_iter,
            norm={"linf": "Linf", "l2": "L2"}[threat.norm],
            eps=threat.eps,
            seed=seed,
            n_restarts=1,
            device=x.device,
        )
        apgd.init_hyperparam(x)
        torch.random.manual_seed(seed)
        if x.device.type == "cuda":
            torch.cuda.random.manual_seed(seed)
        for rank in range(targets.shape[1]):
            idx = (robust & (targets[:, rank] >= 0)).nonzero().flatten()
            if len(idx) == 0:
                continue
            apgd.y_target = targets[idx, rank]
            _, acc, _, adv = apgd.attack_single_run(x[idx], y[idx])
            won = acc == 0
            x_adv[idx[won]] = adv[won].to(x.dtype)
            robust[idx[won]] = False
            broke[idx[won]] = rank
    return x_adv, broke


class MALTAttack(Attack):
    """Targeted APGD towards MALT's targets (see the module docstring).

    Like AutoAttack, the random starts come from torch's RNG seeded with ``seed`` (in a forked
    RNG), so the result depends on how samples are batched. Needs at least 4 classes (the
    targeted DLR loss uses the 4th largest logit). ``details``: ``targets`` (N x T, the classes
    aimed at, nearest first) and ``broken_by_rank`` (N, the rank of the target that broke the
    sample, -1 for none), both on the CPU.
    """

    def __init__(
        self,
        threat: ThreatModel,
        *,
        max_targets: int = 9,
        candidates: int = 100,
        n_iter: int = 100,
        seed: int = 0,
        rows: int = 256,
        name: str = "malt",
    ) -> None:
        super().__init__(threat, name)
        if max_targets < 1 or candidates < 1 or n_iter < 1 or rows < 1:
            raise ValueError("max_targets, candidates, n_iter and rows must be >= 1")
        self.max_targets, self.candidates = int(max_targets), int(candidates)
        self.n_iter, self.seed, self.rows = int(n_iter), int(seed), int(rows)
        self._freeze()

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        start: torch.Tensor,
        observer: GradObserver | None,
    ) -> AttackOutput:
        if len(x) == 0:
            return AttackOutput(x.clone())
        with torch.no_grad():
            classes = int(model(x[:1]).shape[1])
        if classes < 4:
            raise ValueError("targeted APGD needs at least 4 classes")
        targets = malt_targets(
            model,
            x,
            y,
            norm=self.threat.norm,
            k=self.max_targets,
            candidates=self.candidates,
            rows=self.rows,
        )
        x_adv, broke = targeted_apgd(
            model, x, y, targets, self.threat, n_iter=self.n_iter, seed=self.seed
        )
        return AttackOutput(x_adv, {"targets": targets.cpu(), "broken_by_rank": broke.cpu()})

    def settings(self) -> dict[str, object]:
        return {
            **super().settings(),
            "implementation": "ltrobust MALT targeting + pyautoattack APGDAttack_targeted",
            "max_targets": self.max_targets,
            "candidates": self.candidates,
            "n_iter": self.n_iter,
            "seed": self.seed,
        }
