"""Building the deployed model of a paper format (:mod:`ltrobust.models.paper_formats`).

The state_dict is found (nested or bare, ``module.``/``model.`` prefixes removed), matched
against the format's keys, renamed onto an ltrobust architecture whose depth, width and stem
come from the tensors (:mod:`ltrobust.models.archinfer`), loaded strictly, and wrapped with the
format's normalisation and inference-time adjustment: ``[LogitAdjusted(][NormalizedModel(]net``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ltrobust.errors import ConfigError, ModelLoadError

from .archinfer import ArchGuess, infer_arch
from .build import create_model
from .formats import LoadedModel, LoadRequest, load_strict
from .layouts import guess_torchvision
from .paper_formats import detect, paper_format
from .paper_spec import DROP, HEAD, Match, PaperConfig, PaperFormat, match
from .statedict import StateDict, find_state_dict, scalar_fields, strip_wrappers
from .wrappers import LogitAdjusted, Normalize, NormalizedModel


def prior_adjustment(tau: float, counts: Sequence[int] | None, num_classes: int) -> list[float]:
    """``-tau * ln(pi)`` with ``pi = counts / sum(counts)`` (RoBal's ``PostProc_Classifier``)."""
    if counts is None:
        raise ConfigError(
            f"the inference-time bias -{tau:g} * ln(pi) needs the training class counts: pass "
            "--class-counts or a preset --dataset (or --tau 0 to deploy without it)"
        )
    if len(counts) != num_classes or min(counts) <= 0:
        raise ConfigError(
            f"the inference-time bias needs {num_classes} positive training class counts, "
            f"got {list(counts)[:6]}"
        )
    total = float(sum(counts))
    return [-tau * math.log(n / total) for n in counts]


def _layout(
    obj: Mapping[str, Any], req: LoadRequest, path: Path
) -> tuple[PaperFormat, StateDict, dict[str, Any]]:
    """The format (given or detected), the unwrapped state_dict and what was found."""
    sd, container = find_state_dict(obj)
    if sd is None:
        shown = ", ".join(str(k) for k in list(obj)[:6]) or "none"
        raise ModelLoadError(f"{path} holds a dict (keys: {shown}) but no state_dict of tensors")
    sd, stripped = strip_wrappers(sd)
    keys = list(sd)
    info: dict[str, Any] = {"container_key": container, "stripped_prefixes": stripped}
    if req.format is not None:
        fmt = paper_format(req.format)
        found = match(fmt, keys, container)
        if not found.full:
            raise ModelLoadError(f"{path} does not have the {fmt.name} layout: {_why(found)}")
        info["detected"] = False
        return fmt, sd, info
    try:
        fmt_or_none, found, note = detect(keys, container)
    except ConfigError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None
    if fmt_or_none is None:
        _torchvision_hint(keys, path)
        raise ModelLoadError(
            f"{path} is a state_dict of no known layout (closest format: {found.name}, "
            f"{_why(found)}); pass --arch for a plain state_dict or --format"
        )
    info.update(detected=True, detection_note=note.strip())
    return fmt_or_none, sd, info


def _torchvision_hint(keys: list[str], path: Path) -> None:
    """Raise the one-line hint for a torchvision ResNet's state_dict (no paper format)."""
    name = guess_torchvision(keys)
    if name is not None:
        raise ModelLoadError(
            f"{path} is a state_dict in torchvision's ResNet layout (downsample, fc): pass "
            f"--arch torchvision:{name}"
        )


def _why(found: Match) -> str:
    parts = []
    if found.missing:
        parts.append(f"missing {', '.join(found.missing)}")
    if found.forbidden:
        parts.append(f"unexpected {', '.join(found.forbidden)}")
    return "; ".join(parts)


def _rename(
    fmt: PaperFormat, sd: StateDict, config: PaperConfig
) -> tuple[StateDict, list[str], ArchGuess]:
    """``sd`` in ltrobust's names for the inferred architecture, and the dropped keys."""
    unused = {k for k in sd if any(re.search(p, k) for p in config.unused)}
    renamed = {k: DROP if k in unused else fmt.rename(k) for k in sd}
    dropped = [k for k, new in renamed.items() if new == DROP]
    out = {new: sd[k] for k, new in renamed.items() if new != DROP}
    guess = infer_arch({k: v for k, v in out.items() if not k.startswith(HEAD)}, fmt.families)
    head = guess.head_path + "."
    final = {(head + k[len(HEAD) :] if k.startswith(HEAD) else k): v for k, v in out.items()}
    return final, dropped, guess


def _head_args(config: PaperConfig, req: LoadRequest, fmt: PaperFormat) -> dict[str, Any]:
    if config.head == "linear":
        if req.scale is not None:
            raise ConfigError(
                f"--scale applies to cosine heads; {fmt.name} config {config.name} has a linear one"
            )
        return {"head": "linear"}
    scale = config.scale if req.scale is None else req.scale
    return {"head": config.head, "head_scale": scale, "head_gamma": config.gamma}


def _normalization(
    fmt: PaperFormat, req: LoadRequest, num_classes: int
) -> tuple[list[float] | None, list[float] | None, str]:
    if req.mean is not None and req.std is not None:
        return [float(v) for v in req.mean], [float(v) for v in req.std], "given"
    if not fmt.needs_normalization:
        return None, None, "none (the repository feeds pixels in [0, 1])"
    if num_classes not in fmt.normalization:
        raise ConfigError(
            f"{fmt.name} models normalise with their dataset's mean/std, known for "
            f"{', '.join(map(str, fmt.normalization))} classes; pass --mean/--std for "
            f"{num_classes}"
        )
    mean, std = fmt.normalization[num_classes]
    return list(mean), list(std), f"{fmt.name}'s data module for {num_classes} classes"


def _check_given(req: LoadRequest, guess: ArchGuess, num_classes: int, path: Path) -> None:
    for label, found, given in (
        ("arch", guess.arch, req.arch),
        ("num_classes", num_classes, req.num_classes),
        ("in_channels", guess.in_channels, req.in_channels),
    ):
        if given is not None and given != found:
            raise ModelLoadError(f"{path} has {label}={found} but {label}={given} was given")


def from_paper(obj: Mapping[str, Any], req: LoadRequest, path: Path) -> LoadedModel:
    """Rebuild a paper format's deployed model (``req.format`` or detected from the keys)."""
    fmt, sd, info = _layout(obj, req, path)
    head_keys = [k for k in sd if fmt.rename(k).startswith(HEAD) and sd[k].ndim == 2]
    num_classes = int(sd[head_keys[0]].shape[0]) if head_keys else 0
    config = fmt.config(req.format_config, list(sd), num_classes)
    sd, dropped, guess = _rename(fmt, sd, config)
    _check_given(req, guess, num_classes, path)
    args = {
        "num_classes": num_classes,
        "in_channels": guess.in_channels,
        "input_size": req.build_size,
        **guess.args,
        **_head_args(config, req, fmt),
    }
    net = create_model(guess.arch, **args)
    load_strict(net, sd, path, f"{fmt.name} ({guess.arch})")
    mean, std, norm_source = _normalization(fmt, req, num_classes)
    model: torch.nn.Module = net
    if mean is not None and std is not None:
        model = NormalizedModel(Normalize(mean, std), net)
    tau = config.tau if req.tau is None else float(req.tau)
    adjustment = prior_adjustment(tau, req.class_counts, num_classes) if tau else None
    if adjustment is not None:
        model = LogitAdjusted(model, adjustment)
    inference = {**config.describe(), "tau": tau, "normalization": norm_source}
    if args.get("head_scale") is not None:
        inference["scale"] = float(args["head_scale"])
    inference["detected"] = info.pop("detected")
    notes = [] if req.output_key is None else ["output key ignored: the model returns logits"]
    meta = {
        **info,
        "repository": f"{fmt.repo}@{fmt.commit[:12]}",
        "dropped_keys": dropped[:8] + ([f"+{len(dropped) - 8} more"] if len(dropped) > 8 else []),
        "model_args": args,
        "fields": scalar_fields(obj) if info["container_key"] is not None else {},
    }
    return LoadedModel(
        model=model,
        format=fmt.name,
        sha256="",
        path=str(path),
        arch=guess.arch,
        num_classes=num_classes,
        input_spec={
            "channels": guess.in_channels,
            "size": req.build_size,
            "mean": mean,
            "std": std,
        },
        logit_adjustment=adjustment,
        meta=meta,
        warnings=notes,
        inference=inference,
    )
