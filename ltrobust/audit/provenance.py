"""What a report says about where it came from, and what a resumable batch depends on."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
from typing import TYPE_CHECKING, Any

import torch

import ltrobust
from ltrobust.attacks.threat import ThreatModel
from ltrobust.audit.cache import tensor_sha256
from ltrobust.audit.config import AuditConfig
from ltrobust.models.options import request_keys
from ltrobust.report.sections import Dataset
from ltrobust.runtime.dist import DistContext, resolve_device

if TYPE_CHECKING:
    from ltrobust.audit.attack_plan import AuditPlan
    from ltrobust.audit.inputs import AuditInputs
    from ltrobust.data.loading import EvalData
    from ltrobust.models.formats import LoadedModel

#: load options that change what the model computes (part of the resume key)
LOAD_KEYS = request_keys()


def versions() -> dict[str, str]:
    """ltrobust, torch, Python, torchvision and pyautoattack versions."""
    from importlib.metadata import PackageNotFoundError, version

    out = {
        "ltrobust": ltrobust.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    for pkg in ("torchvision", "pyautoattack"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def cache_material(
    inputs: AuditInputs,
    config: AuditConfig,
    plan: AuditPlan,
    threat: ThreatModel,
    step_size: float,
    ctx: DistContext,
) -> dict[str, Any]:
    """What a finished batch depends on (the resume key): the model, every file the model and
    the data were read from (a changed ONNX weight file, timm ``config.json`` or tensor file
    refuses a resume), the samples, the training counts and every setting that changes
    per-sample results (each attack's as ``plan`` built it). Not in it: thresholds and groups
    (they only change summaries and the verdict) and the number of processes."""
    loaded, data, load = inputs.loaded, inputs.data, inputs.load
    diag = config.diagnostics()
    diag_cfg = diag.to_dict() if diag is not None else None
    if diag_cfg is not None:
        diag_cfg.pop("thresholds")
    found = versions()
    return {
        "model": {
            "sha256": loaded.sha256,
            "format": loaded.format,
            "load_options": {k: getattr(load, k) for k in LOAD_KEYS},
        },
        "files": dict(inputs.files),
        "data": {
            "n": len(data.y),
            "sha256": tensor_sha256(data.x, data.y, data.indices),
            "class_counts": list(data.class_counts),
        },
        "audit": {
            "attacks": plan.settings(config.attacks),
            "norm": threat.norm,
            "eps": threat.eps,
            "step": step_size,
            "seed": config.seed,
            "batch_size": config.batch_size,
            "amp": config.amp,
            "channels_last": config.channels_last,
            "compile": config.compile,
            "aa_tail_targets": config.aa_tail_targets,
            "worst_only": config.worst_only,
        },
        "diagnostics": diag_cfg,
        "device": ctx.device.type,
        "versions": {k: found[k] for k in ("ltrobust", "torch", "pyautoattack")},
    }


def checkpoint_info(loaded: LoadedModel) -> dict[str, Any]:
    """The report's ``provenance.checkpoint``: the file, what it was read as (container,
    format, detected or given), the architecture, head, the format's inference options as
    used, the method and the deployed logit adjustment."""
    info: dict[str, Any] = {
        "path": loaded.path,
        "sha256": loaded.sha256,
        "format": loaded.format,
        "container": loaded.container,
        "arch": loaded.arch,
        "model_args": loaded.meta.get("model_args"),
        "num_classes": loaded.num_classes,
        "head": loaded.head,
        "method": loaded.meta.get("method"),
        "logit_adjustment": loaded.logit_adjustment,
    }
    if loaded.inference:
        info["inference"] = dict(loaded.inference)
    if loaded.meta.get("repository"):
        info["repository"] = loaded.meta["repository"]
    return info


def provenance(
    loaded: LoadedModel,
    data: EvalData,
    config: AuditConfig,
    command: str | None,
    files: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The report's ``provenance``: versions, time, command, checkpoint, device, data source
    and ``files``, the sha256 of every file the model and the data were read from."""
    dev = resolve_device(config.device)
    return {
        "versions": versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(sys.argv),
        "checkpoint": checkpoint_info(loaded),
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else platform.processor() or platform.machine(),
        "data_source": data.source,
        "seed": config.seed,
        "files": [{"path": p, "sha256": h} for p, h in (files or {}).items()],
    }


def dataset_info(data: EvalData, groups: dict[str, list[int]], mode: str) -> Dataset:
    """The report's ``dataset`` section."""
    return {
        "name": data.name,
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "class_counts": list(data.class_counts),
        "test_counts": list(data.test_counts),
        "groups_mode": mode,
        "groups": groups,
        "test_imbalanced": data.test_imbalanced,
        "imbalance_ratio": data.imbalance_ratio,
        "shape": list(data.shape),
        "n": len(data.y),
    }
