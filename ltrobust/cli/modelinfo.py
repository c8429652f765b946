"""One line (and a table) saying what ltrobust made of a model file: the audit prints the line
from the report's ``provenance.checkpoint``, ``ltrobust inspect`` the table."""

from __future__ import annotations

from typing import Any

from ltrobust.cli.common import shown


def _head(head: Any) -> str:
    if not isinstance(head, dict):
        return ""
    text = str(head.get("kind", "?"))
    if head.get("scale") is not None:
        text += f" head, scale {head['scale']:g}, gamma {head.get('gamma', 0):g}"
    else:
        text += " head"
    return text


def _adjustment(info: dict[str, Any]) -> str:
    tau = (info.get("inference") or {}).get("tau")
    if info.get("logit_adjustment") is None:
        return ""
    if isinstance(tau, (int, float)) and tau:
        return f"logits - {tau:g}*ln(pi)"
    return "fixed logit adjustment"


def _arch(info: dict[str, Any]) -> str:
    arch = info.get("arch") or ""
    args = info.get("model_args") or {}
    extra = {k: v for k, v in args.items() if k in ("depth", "widen_factor", "width", "stem")}
    return arch + (f" ({', '.join(f'{k}={v}' for k, v in extra.items())})" if extra else "")


def model_line(info: dict[str, Any]) -> str:
    """``model: robal (detected from the keys, config cifar10-N) · wideresnet · cosine head,
    scale 10, gamma 0.03125 · logits - 0.1*ln(pi)`` from a checkpoint summary."""
    inference = info.get("inference") or {}
    detected = info.get("detected") or inference.get("detected")
    how = "detected from the keys" if detected else ""
    config = inference.get("config")
    details = ", ".join(x for x in (how, f"config {config}" if config else "") if x)
    fmt = str(info.get("format", "?")) + (f" ({details})" if details else "")
    if info.get("container") not in (None, "torch", fmt):
        fmt += f" in {info['container']}"
    parts = [fmt, _arch(info), _head(info.get("head")), _adjustment(info)]
    return "model: " + " · ".join(shown(p) for p in parts if p)


def _input(spec: Any) -> str:
    if not isinstance(spec, dict):
        return "not recorded (pixels in [0, 1] assumed)"
    shape = "x".join(str(spec.get(k) or "?") for k in ("channels", "size", "size"))
    mean, std = spec.get("mean"), spec.get("std")
    norm = f"normalised inside: mean {mean}, std {std}" if mean is not None else "no normalisation"
    return f"{shape}, pixels in [0, 1], {norm}"


def summary_lines(info: dict[str, Any]) -> list[str]:
    """The lines of ``ltrobust inspect`` (rich markup; values shown as data)."""
    skip = ("detected", "head", "scale", "gamma")  # the head row shows those
    inference = {k: v for k, v in (info.get("inference") or {}).items() if k not in skip}
    adjustment = info.get("logit_adjustment")
    rows = [
        ("file", info.get("path")),
        ("sha256", info.get("sha256")),
        ("format", model_line(info).removeprefix("model: ").split(" · ")[0]),
        ("source", (info.get("meta") or {}).get("repository")),
        ("architecture", _arch(info) or "whole model (graph and weights)"),
        ("classes", info.get("num_classes")),
        ("input", _input(info.get("input_spec"))),
        ("head", _head(info.get("head")) or "not exposed"),
        ("inference", ", ".join(f"{k}={v}" for k, v in inference.items())),
        (
            "adjustment",
            _adjustment(info) + (f": {[round(v, 4) for v in adjustment]}" if adjustment else ""),
        ),
        ("parameters", f"{info.get('parameters', 0):,}"),
        ("dataset", info.get("dataset")),
        ("method", info.get("method")),
    ]
    return [f"[bold]{name:<13}[/]{shown(value)}" for name, value in rows if value not in (None, "")]
