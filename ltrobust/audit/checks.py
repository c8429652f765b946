"""Checks on a model's outputs before an audit spends time attacking it."""

from __future__ import annotations

import re

import torch
from torch import nn

from ltrobust.errors import ModelOutputError

_ERROR_LINE = re.compile(r"^\w*(Error|Exception): (.+)$")
_MATMUL = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")


def _reason(exc: BaseException) -> str:
    """The line of an exception that says what went wrong: for a TorchScript error the last
    ``...Error: ...`` line of its traceback, else the first line; plus what a layer expected."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    found = [m.group(2) for m in map(_ERROR_LINE.match, lines) if m]
    text = found[-1] if found and "TorchScript" in lines[0] else lines[0]
    matmul = _MATMUL.search(text)
    if matmul and matmul.group(2) != matmul.group(3):
        text += f"; a linear layer expects {matmul.group(3)} values per sample, it got {matmul.group(2)}"
    return text[:300]


def _output_description(model: nn.Module) -> str | None:
    """What a tuple/dict output held, when the logits were picked from it by guess."""
    for m in model.modules():
        if getattr(m, "guessed", False):
            return str(getattr(m, "outputs", "")) or "several outputs"
    return None


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
            f"model cannot take {dataset} inputs of shape {shape}: {_reason(exc)}"
        ) from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelOutputError(f"model must return N x classes logits; got {got}")
    guessed = _output_description(model)
    if out.shape[1] != num_classes:
        if guessed is not None:
            raise ModelOutputError(
                f"model returned {guessed}; the first is not N x "
                f"{num_classes} logits for {dataset}: choose the logits with --output-key "
                "(an index or a key)"
            )
        raise ModelOutputError(
            f"model outputs {out.shape[1]} classes but {dataset} has {num_classes}"
        )
    check_finite(out, "clean inputs")
    warnings = []
    if guessed is not None:
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
