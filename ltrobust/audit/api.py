"""The Python entry point: ``ltrobust.audit(model, dataset=..., attacks=...) -> AuditReport``."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

import ltrobust
from ltrobust.attacks import ThreatModel, build_attack, parse_attack_list
from ltrobust.audit.cache import open_cache, tensor_sha256
from ltrobust.audit.diagnostics import DiagnosticsConfig, Thresholds
from ltrobust.audit.runner import AuditConfig, ProgressCallback, assemble_report, run_audit
from ltrobust.data import EvalData, class_groups, is_custom, load_eval_data
from ltrobust.errors import ConfigError
from ltrobust.models import LoadedModel, load_model
from ltrobust.report.schema import AuditReport
from ltrobust.train import ddp

CUSTOM_EPS = {"linf": (8 / 255, 2 / 255), "l2": (0.5, 0.125)}
#: where finished batches go: a folder, or a function of the dataset name giving one
CacheDir = str | os.PathLike[str] | Callable[[str], str | os.PathLike[str]] | None
#: load options that change what the model computes (part of the resume key)
_LOAD_KEYS = ("arch", "num_classes", "mean", "std", "output_key", "default_input_size")


def _versions() -> dict[str, str]:
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


def threat_for(
    data: EvalData, config: AuditConfig, warnings: list[str]
) -> tuple[ThreatModel, float]:
    """The threat model and step size: explicit options, else the dataset's defaults."""
    spec = data.spec
    if spec is not None:
        eps_d, step_d = (
            (spec.eps_linf, spec.step_linf)
            if config.norm == "linf"
            else (spec.eps_l2, spec.step_l2)
        )
    else:
        eps_d, step_d = CUSTOM_EPS[config.norm]
        if config.eps is None:
            warnings.append(f"custom data: using eps {eps_d:.4g} ({config.norm}); pass --eps")
    eps = config.eps if config.eps is not None else eps_d
    step = (
        config.step
        if config.step is not None
        else (step_d if config.eps is None else eps * step_d / eps_d)
    )
    return ThreatModel(norm=config.norm, eps=eps), step


def state_dict_sha256(model: nn.Module) -> str:
    """sha256 over a module's state_dict (names, dtypes, shapes and values), for provenance."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _resolve_model(model: nn.Module | str, load_options: dict[str, Any]) -> LoadedModel:
    if isinstance(model, nn.Module):
        return LoadedModel(
            model=model.eval(),
            format="module",
            sha256=state_dict_sha256(model),
            path="",
            arch=None,
            num_classes=None,
            input_spec=None,
            class_counts=None,
            class_names=None,
            dataset=None,
            logit_adjustment=None,
            meta={},
            warnings=[],
        )
    return load_model(str(model), **load_options)


def audit(
    model: nn.Module | str,
    dataset: str | EvalData | None = None,
    attacks: Sequence[str] | str | None = None,
    *,
    norm: str = "linf",
    eps: float | None = None,
    step: float | None = None,
    batch_size: int = 256,
    seed: int = 0,
    groups: str = "thirds",
    device: str = "auto",
    n: int | None = None,
    data_dir: str | None = None,
    imbalance_ratio: float | None = None,
    test_imbalanced: bool = False,
    class_counts: Sequence[int] | None = None,
    load_options: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    command: str | None = None,
    diagnose: bool = True,
    sweep: bool = True,
    kappas: Sequence[float] | None = None,
    thresholds: Thresholds | None = None,
    aa_tail_targets: bool = False,
    amp: str = "none",
    channels_last: bool = False,
    compile: bool = False,
    cache_dir: CacheDir = None,
    resume: bool = False,
    worst_only: Sequence[str] | str | None = None,
) -> AuditReport:
    """Audit ``model`` (a module taking [0, 1] pixels, or a checkpoint path) on ``dataset``.

    ``dataset`` defaults to the one an ltrobust checkpoint was trained on.

    Class counts (which define head/body/tail) come from ``class_counts``, else the
    checkpoint, else the dataset's long-tailed profile (METHODS §1). With ``diagnose`` (the
    default) the audit also measures zero-gradient ratios, runs the kappa sweep (unless
    ``sweep=False``) and an unbounded attack, and fills ``report.verdict``. With
    ``aa_tail_targets`` targeted APGD towards the tail classes runs on the samples every other
    attack left correct and joins the worst case (see :mod:`ltrobust.audit.tail_targets`). Raises
    :class:`ltrobust.errors.LtRobustError` subclasses on bad input.

    Long audits: ``amp="bf16"`` runs the iterative attacks under bfloat16 autocast and
    classifies every final adversarial example in float32 (``diagnostics["amp"]`` counts the
    verdicts that flipped); ``channels_last`` and ``compile`` (``torch.compile``) speed up
    convolutional models. ``cache_dir`` stores every finished batch; with ``resume`` an audit
    of the same model, data and settings reuses them (a different setup is refused with one
    line). Under ``torchrun`` the batches are shared among the processes and every process
    returns the same report. See :mod:`ltrobust.audit.engine`. Attacks named in
    ``worst_only`` (a subset of ``attacks``) only feed the worst case: each attacks only the
    samples still robust at its turn, and gets no row of its own (``diagnostics["worst_only"]``
    says how many samples it attacked and broke).
    """
    if isinstance(attacks, str):
        attacks = parse_attack_list(attacks)
    config = AuditConfig(
        norm=norm,
        eps=eps,
        step=step,
        batch_size=batch_size,
        seed=seed,
        groups=groups,
        device=device,
        aa_tail_targets=aa_tail_targets,
        amp=amp,
        channels_last=channels_last,
        compile=compile,
    )
    if attacks is not None:
        config.attacks = parse_attack_list(",".join(attacks))
    if worst_only:
        text = worst_only if isinstance(worst_only, str) else ",".join(worst_only)
        config.worst_only = parse_attack_list(text)
    config.validate()
    if resume and cache_dir is None:
        raise ConfigError("resume needs cache_dir, the folder that holds the finished batches")
    data_options = {
        "data_dir": data_dir,
        "imbalance_ratio": imbalance_ratio,
        "test_imbalanced": test_imbalanced,
        "n": n,
        "seed": seed,
    }
    counts = list(class_counts) if class_counts is not None else None
    data = dataset if isinstance(dataset, EvalData) else None
    if data is None and dataset is not None and (counts is not None or not is_custom(dataset)):
        data = load_eval_data(dataset, class_counts=counts, **data_options)
    options = dict(load_options or {})
    if data is not None:  # a plain state_dict is built for the data's input size
        options.setdefault("default_input_size", data.shape[1])
    loaded = _resolve_model(model, options)
    warnings = list(loaded.warnings)
    if data is None:
        name = dataset if dataset is not None else loaded.dataset
        if not name:
            raise ConfigError("pass --dataset (the model file does not say what it was trained on)")
        data = load_eval_data(name, class_counts=counts or loaded.class_counts, **data_options)
    elif counts is None and loaded.class_counts and loaded.class_counts != data.class_counts:
        if len(loaded.class_counts) == data.num_classes:
            warnings.append(
                "using the checkpoint's training class counts for the groups "
                "(they differ from the dataset's default profile)"
            )
            data.class_counts = list(loaded.class_counts)
    threat, step_size = threat_for(data, config, warnings)
    group_map = class_groups(data.class_counts, groups)
    info = {
        "name": data.name,
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "groups": group_map,
    }
    diag = None
    if diagnose:
        diag = DiagnosticsConfig(sweep=sweep, thresholds=thresholds or Thresholds())
        if kappas is not None:
            diag.kappas = tuple(sorted(set(float(k) for k in kappas)))
    ctx = _dist_context(device)
    execution: dict[str, Any] = {}
    try:
        cache = None
        if cache_dir is not None:
            root = cache_dir(data.name) if callable(cache_dir) else cache_dir
            material = _cache_material(loaded, data, config, threat, step_size, diag, options, ctx)
            cache = open_cache(root, material, resume=resume, ctx=ctx)
        parts, run_warnings = run_audit(
            loaded.model,
            data.x,
            data.y,
            data.indices,
            info,
            config,
            threat=threat,
            step_size=step_size,
            progress=progress,
            diagnostics=diag,
            ctx=ctx,
            cache=cache,
            execution=execution,
        )
    finally:
        ddp.teardown(ctx)
    execution.update(cache=str(cache.dir) if cache else None, resume=resume)
    warnings.extend(run_warnings)
    cfg = {
        **asdict(config),
        "eps": threat.eps,
        "step": step_size,
        "n": len(data.y),
        "diagnostics": _diag_config(diag),
    }
    provenance = _provenance(loaded, data, config, command)
    provenance["execution"] = execution
    return assemble_report(
        parts,
        provenance=provenance,
        config=cfg,
        dataset=_dataset_info(data, group_map, groups),
        warnings=warnings,
    )


def _dist_context(device: str) -> ddp.DistContext:
    """This process's place: under torchrun (``WORLD_SIZE`` > 1) it joins the process group
    (NCCL on CUDA, gloo on CPU, device ``cuda:LOCAL_RANK``); alone it just resolves ``device``."""
    return ddp.setup(device)


def _cache_material(
    loaded: LoadedModel,
    data: EvalData,
    config: AuditConfig,
    threat: ThreatModel,
    step_size: float,
    diag: DiagnosticsConfig | None,
    load_options: dict[str, Any],
    ctx: ddp.DistContext,
) -> dict[str, Any]:
    """What a finished batch depends on (the resume key): the model, the samples and every
    setting that changes per-sample results. Not in it: thresholds and groups (they only
    change summaries and the verdict) and the number of processes."""
    diag_cfg = _diag_config(diag)
    if diag_cfg is not None:
        diag_cfg.pop("thresholds")
    versions = _versions()
    return {
        "model": {
            "sha256": loaded.sha256,
            "format": loaded.format,
            "load_options": {k: load_options.get(k) for k in _LOAD_KEYS},
        },
        "data": {"n": len(data.y), "sha256": tensor_sha256(data.x, data.y, data.indices)},
        "audit": {
            "attacks": {
                name: build_attack(name, threat, step_size, seed=config.seed).settings()
                for name in config.attacks
            },
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
        "versions": {k: versions[k] for k in ("ltrobust", "torch", "pyautoattack")},
    }


def _diag_config(diag: DiagnosticsConfig | None) -> dict[str, Any] | None:
    if diag is None:
        return None
    out = asdict(diag)
    out["kappas"] = list(diag.kappas)
    return out


def _provenance(
    loaded: LoadedModel, data: EvalData, config: AuditConfig, command: str | None
) -> dict[str, Any]:
    dev = ddp.resolve_device(config.device)
    return {
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(sys.argv),
        "checkpoint": {
            "path": loaded.path,
            "sha256": loaded.sha256,
            "format": loaded.format,
            "arch": loaded.arch,
            "method": loaded.meta.get("method"),
            "logit_adjustment": loaded.logit_adjustment,
        },
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else platform.processor() or platform.machine(),
        "data_source": data.source,
        "seed": config.seed,
    }


def _dataset_info(data: EvalData, group_map: dict[str, list[int]], mode: str) -> dict[str, Any]:
    return {
        "name": data.name,
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "class_counts": list(data.class_counts),
        "test_counts": list(data.test_counts),
        "groups_mode": mode,
        "groups": group_map,
        "test_imbalanced": data.test_imbalanced,
        "imbalance_ratio": data.imbalance_ratio,
        "shape": list(data.shape),
        "n": len(data.y),
    }
