"""Checks on a model's outputs before an audit spends time attacking it."""

from __future__ import annotations

import torch
from torch import nn

from ltrobust.errors import ModelOutputError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def probe_model(model: nn.Module, x: torch.Tensor, num_classes: int, dataset: str) -> list[str]:
    """Run ``model`` on a few inputs (N x C x H x W) and check it fits the dataset.

    Raises :class:`ModelOutputError` (one line) for inputs the model cannot take, outputs that
    are not N x ``num_classes`` logits, or NaN/infinite outputs. Returns warnings: outputs that
    look like probabilities, or an output picked from a tuple/dict by guess.
    """
    shape = "x".join(str(s) for s in x.shape[1:])
    try:
        with torch.no_grad():
            out = model(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise ModelOutputError(
            f"model cannot take {dataset} inputs of shape {shape}: {_first_line(exc)}"
        ) from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelOutputError(f"model must return N x classes logits; got {got}")
    if out.shape[1] != num_classes:
        raise ModelOutputError(
            f"model outputs {out.shape[1]} classes but {dataset} has {num_classes}"
        )
    check_finite(out, "clean inputs")
    warnings = []
    if any(getattr(m, "guessed", False) for m in model.modules()):
        warnings.append(
            "model returned a tuple/dict; using its first tensor as logits (set --output-key)"
        )
    probs = out.float()
    if probs.min() >= 0 and torch.allclose(probs.sum(1), torch.ones(len(probs)), atol=1e-4):
        warnings.append(
            "model outputs look like probabilities (non-negative rows summing to 1); attacks "
            "need logits, and CE on probabilities can mask gradients"
        )
    return warnings


def check_finite(logits: torch.Tensor, where: str) -> None:
    """Raise :class:`ModelOutputError` if ``logits`` hold NaN or infinite values."""
    if not bool(torch.isfinite(logits).all()):
        raise ModelOutputError(f"model returned NaN or infinite logits on {where}")
