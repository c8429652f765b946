"""Rebuilding models from loaded checkpoint dicts: ltrobust's own format and plain state_dicts.

Used by :func:`ltrobust.models.load_model`; the file reading and format detection live in
``loading.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..errors import ConfigError, ModelLoadError
from .arguments import check_arguments
from .build import create_model
from .checkpoint import FORMAT_VERSION
from .inputsize import input_size
from .layouts import torchvision_hint
from .metadata import check_metadata
from .options import LoadOptions
from .registry import get_builder, is_known, list_models
from .statedict import (
    StateDict,
    describe_mismatch,
    drop_prefixed,
    find_state_dict,
    scalar_fields,
    split_normalization,
    strip_prefixes,
)
from .wrappers import LogitAdjusted, Normalize, NormalizedModel

_REQUIRED = ("arch", "model_args", "input_spec", "num_classes", "state_dict")
_META_FIELDS = (
    "method",
    "method_config",
    "history",
    "extra",
    "model_args",
    "ltrobust_version",
    "format_version",
)


@dataclass
class LoadedModel:
    """A loaded model and what is known about it.

    ``model`` is in eval mode and maps ``N x C x H x W`` pixels in [0, 1] to ``N x C`` logits
    (the deployed logits, logit adjustment included). ``format`` is what the file holds:
    ``"ltrobust"``, ``"state_dict"``, a paper format (``"robal"``, ``"reat"``, ``"atbsl"``,
    ``"robustlt"``, ``"mcat"``), ``"timm"``, ``"torchscript"``, ``"export"``, ``"onnx"`` or
    ``"pickle"``; ``container`` how it is encoded (``"torch"``, ``"safetensors"``,
    ``"torchscript"``, ``"pt2"``, ``"onnx"``); ``sha256`` is the hex digest of the file.
    ``head`` describes the final layer (kind, scale, gamma) and ``inference`` the format's
    inference options as used (config, scale, tau, where the normalisation came from). Fields
    the file does not determine are None. ``warnings`` are one-line messages for the user.
    ``files`` names every other file the loader read besides ``path`` (an ONNX graph's
    external weights, a timm folder's ``config.json``, a ``--format-config`` file): with
    ``path`` they are hashed into the report's provenance and the resume key.
    """

    model: nn.Module
    format: str
    sha256: str
    path: str
    arch: str | None = None
    num_classes: int | None = None
    input_spec: dict[str, Any] | None = None
    class_counts: list[int] | None = None
    class_names: list[str] | None = None
    dataset: str | None = None
    logit_adjustment: list[float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    container: str = "torch"
    head: dict[str, Any] | None = None
    inference: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def output_guessed(self) -> bool:
        """True once a forward pass had to guess which output of a foreign model is logits."""
        return bool(getattr(self.model, "guessed", False))


#: the options of ``load_model`` as the loaders read them (one declaration: :class:`LoadOptions`)
LoadRequest = LoadOptions


def normalization_warning() -> str:
    """The warning given when a foreign model comes with no normalisation information."""
    return (
        "no input normalisation given: assuming the model takes pixels in [0, 1] "
        "(pass --mean/--std if it expects normalised inputs)"
    )


def _floats(values: Sequence[float] | None) -> list[float] | None:
    return None if values is None else [float(v) for v in values]


def _same(a: Sequence[float] | None, b: Sequence[float] | None) -> bool:
    """Equal lengths and values equal up to float32 rounding (None only equals None)."""
    if a is None or b is None:
        return a is None and b is None
    if len(a) != len(b):
        return False
    return all(math.isclose(x, y, rel_tol=1e-6) for x, y in zip(a, b, strict=True))


def _agree(path: Path, label: str, stored: Any, given: Any) -> None:
    if given is not None and stored is not None and given != stored:
        raise ModelLoadError(f"{path} has {label}={stored} but {label}={given} was given")


def load_strict(net: nn.Module, sd: StateDict, path: Path, arch: str, hint: str = "") -> None:
    """``net.load_state_dict(sd, strict=True)`` with a one-line ModelLoadError on mismatch.

    ``hint`` is appended to the message when tensor shapes clash.
    """
    problem = describe_mismatch(sd, net.state_dict())
    if not problem:
        try:
            net.load_state_dict(sd, strict=True)
            return
        except RuntimeError as exc:
            problem = " ".join(str(exc).split())[:200]
    hint = hint if "shape mismatch" in problem else ""
    raise ModelLoadError(f"{path} does not fit {arch}: {problem}{hint}")


def _version_check(ckpt: Mapping[str, Any], path: Path) -> None:
    version = ckpt.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelLoadError(
            f"{path} is an ltrobust checkpoint of format_version {version!r}; this ltrobust "
            f"({__version__}) reads versions 1 to {FORMAT_VERSION}"
        )
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise ModelLoadError(f"{path} is an ltrobust checkpoint missing {', '.join(missing)}")
    check_metadata(ckpt, path)
    if not is_known(str(ckpt["arch"])):
        valid = ", ".join(list_models())
        raise ModelLoadError(
            f"{path} was saved with architecture '{ckpt['arch']}', unknown here; valid: {valid}"
        )


def _ltrobust_normalization(
    net: nn.Module, spec: dict[str, Any], req: LoadRequest, path: Path
) -> tuple[nn.Module, list[str]]:
    if spec.get("mean") is not None and spec.get("std") is not None:
        if req.mean is not None and not (
            _same(req.mean, spec["mean"]) and _same(req.std, spec["std"])
        ):
            raise ModelLoadError(
                f"{path} stores normalisation mean={spec['mean']} std={spec['std']}; "
                "the given mean/std differ"
            )
        return NormalizedModel(Normalize(spec["mean"], spec["std"]), net), []
    if req.mean is not None and req.std is not None:
        spec.update(mean=_floats(req.mean), std=_floats(req.std))
        note = "checkpoint stores no input normalisation; using the given mean/std"
        return NormalizedModel(Normalize(req.mean, req.std), net), [note]
    return net, []


def _stored_args(ckpt: Mapping[str, Any], spec: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The checkpoint's ``model_args``, checked against the allow-list and its other fields."""
    args = dict(ckpt["model_args"])
    args.setdefault("num_classes", ckpt["num_classes"])
    try:
        check_arguments(str(ckpt["arch"]), args, "checkpoint field model_args.")
    except ConfigError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None
    for key, stored in (
        ("num_classes", ckpt["num_classes"]),
        ("in_channels", spec.get("channels")),
        ("input_size", spec.get("size")),
    ):
        if key in args and stored is not None and args[key] != stored:
            raise ModelLoadError(
                f"{path}: checkpoint field model_args.{key} is {args[key]!r} but the "
                f"checkpoint's {'input_spec' if key != 'num_classes' else 'num_classes'} "
                f"says {stored!r}"
            )
    return args


def _rebuild(arch: str, args: dict[str, Any], sd: StateDict, path: Path) -> nn.Module:
    """``create_model(arch, **args)`` loaded with ``sd``; the shapes are compared on the meta
    device first, so that nothing is allocated for a network the weights do not fit."""
    try:
        with torch.device("meta"):
            probe = create_model(arch, **args)
    except (ConfigError, TypeError) as exc:
        raise ModelLoadError(f"{path}: cannot rebuild {arch}: {exc}") from None
    problem = describe_mismatch(sd, probe.state_dict())
    if problem:
        raise ModelLoadError(f"{path} does not fit {arch}: {problem}")
    net = create_model(arch, **args)
    load_strict(net, sd, path, arch)
    return net


def from_ltrobust(ckpt: Mapping[str, Any], req: LoadRequest, path: Path) -> LoadedModel:
    """Rebuild an ltrobust checkpoint: ``[LogitAdjusted(][NormalizedModel(]net``."""
    _version_check(ckpt, path)
    arch, num_classes = ckpt["arch"], int(ckpt["num_classes"])
    spec = dict(ckpt["input_spec"])
    _agree(path, "arch", arch, req.arch)
    _agree(path, "num_classes", num_classes, req.num_classes)
    _agree(path, "in_channels", spec.get("channels"), req.in_channels)
    _agree(path, "input_size", spec.get("size"), req.input_size)
    net = _rebuild(arch, _stored_args(ckpt, spec, path), ckpt["state_dict"], path)
    model, notes = _ltrobust_normalization(net, spec, req, path)
    adjustment = ckpt.get("logit_adjustment")
    if adjustment is not None:
        model = LogitAdjusted(model, adjustment)
    if req.output_key is not None:
        notes.append("output key ignored: an ltrobust model returns a logits tensor")
    return LoadedModel(
        model=model,
        format="ltrobust",
        sha256="",
        path=str(path),
        arch=arch,
        num_classes=num_classes,
        input_spec=spec,
        class_counts=ckpt.get("class_counts"),
        class_names=ckpt.get("class_names"),
        dataset=ckpt.get("dataset"),
        logit_adjustment=_floats(adjustment),
        meta={k: ckpt.get(k) for k in _META_FIELDS},
        warnings=notes,
    )


def _infer(
    path: Path, sd: StateDict, key: str | None, dim: int, given: int | None, label: str
) -> int | None:
    """``sd[key].shape[dim]``, checked against ``given``; ``given`` when ``key`` is absent."""
    if key is None or key not in sd or sd[key].ndim < 2:
        return given
    found = int(sd[key].shape[dim])
    if given is not None and given != found:
        raise ModelLoadError(
            f"{path} has {label}={found} ({key} has shape {tuple(sd[key].shape)}) "
            f"but {label}={given} was given"
        )
    return found


def _probe(req: LoadRequest) -> nn.Module:
    """The requested architecture on the meta device (no memory, no init cost)."""
    assert req.arch is not None
    with torch.device("meta"):
        return create_model(
            req.arch,
            num_classes=req.num_classes or 10,
            in_channels=req.in_channels or 3,
            input_size=req.build_size,
            head=req.head,
        )


def _first_conv_key(probe: nn.Module) -> str | None:
    return next((k for k, v in probe.state_dict().items() if v.ndim == 4), None)


def _plain_normalization(
    req: LoadRequest, mean: list[float] | None, std: list[float] | None
) -> tuple[list[float] | None, list[float] | None, list[str]]:
    if req.mean is not None and req.std is not None:
        notes = []
        if mean is not None and not (_same(req.mean, mean) and _same(req.std, std)):
            notes.append("using the given mean/std, not the ones stored in the state_dict")
        return _floats(req.mean), _floats(req.std), notes
    if mean is not None:
        return mean, std, [f"using input normalisation stored in the file: mean={mean} std={std}"]
    return None, None, [normalization_warning()]


def _require_state_dict(
    obj: Mapping[str, Any], req: LoadRequest, path: Path
) -> tuple[StateDict, str | None]:
    sd, container = find_state_dict(obj)
    if sd is None:
        keys = ", ".join(str(k) for k in list(obj)[:6]) or "none"
        raise ModelLoadError(f"{path} holds a dict (keys: {keys}) but no state_dict of tensors")
    if req.arch is None:
        valid = ", ".join(list_models())
        raise ModelLoadError(f"{path} is a plain state_dict: pass --arch (one of {valid})")
    get_builder(req.arch)
    return sd, container


def from_state_dict(obj: Mapping[str, Any], req: LoadRequest, path: Path) -> LoadedModel:
    """Build ``req.arch`` and load a (possibly nested, prefixed) foreign state_dict strictly."""
    sd, container = _require_state_dict(obj, req, path)
    assert req.arch is not None
    sd, found_mean, found_std, norm_keys = split_normalization(sd)
    probe = _probe(req)
    sd, stripped = strip_prefixes(sd, set(probe.state_dict()))
    unused: tuple[str, ...] = getattr(probe, "unused_prefixes", ())
    sd, dropped = drop_prefixed(sd, unused)
    head_path = getattr(probe, "head_path", None)
    head_key = None if head_path is None else f"{head_path}.weight"
    num_classes = _infer(path, sd, head_key, 0, req.num_classes, "num_classes") or 10
    in_channels = _infer(path, sd, _first_conv_key(probe), 1, req.in_channels, "in_channels") or 3
    given = req.input_size or req.default_input_size
    size, hint = input_size(req.arch, sd, given, num_classes, in_channels, req.head)
    hint = torchvision_hint(sd) or hint
    net = create_model(
        req.arch, num_classes=num_classes, in_channels=in_channels, input_size=size, head=req.head
    )
    load_strict(net, sd, path, req.arch, hint)
    mean, std, notes = _plain_normalization(req, found_mean, found_std)
    model = net if mean is None else NormalizedModel(Normalize(mean, std or []), net)
    if dropped:
        notes.append(f"ignored {dropped} unused key(s) starting with {', '.join(unused)}")
    if req.output_key is not None:
        notes.append("output key ignored: a state_dict model returns a logits tensor")
    meta = {
        "container_key": container,
        "stripped_prefixes": stripped,
        "normalization_keys": norm_keys,
        "fields": scalar_fields(obj) if container is not None else {},
    }
    return LoadedModel(
        model=model,
        format="state_dict",
        sha256="",
        path=str(path),
        arch=req.arch,
        num_classes=num_classes,
        input_spec={"channels": in_channels, "size": size, "mean": mean, "std": std},
        meta=meta,
        warnings=notes,
    )
