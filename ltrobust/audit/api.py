"""The Python entry point: ``ltrobust.audit(model, dataset=..., attacks=...) -> AuditReport``.

Its options are the fields of :class:`~ltrobust.audit.config.AuditConfig`, given as a
``config`` or as keywords (declared once, there).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from ltrobust.attacks.registry import build_attack
from ltrobust.attacks.threat import ThreatModel
from ltrobust.audit.cache import open_cache, prepare_cache
from ltrobust.audit.config import AuditConfig
from ltrobust.audit.inputs import load_inputs, threat_for
from ltrobust.audit.protocol_run import plan_attacks
from ltrobust.audit.provenance import cache_material, dataset_info, provenance
from ltrobust.audit.runner import assemble_report, run_audit
from ltrobust.audit.session import AuditSession, DataInfo
from ltrobust.data.loading import EvalData
from ltrobust.data.profile import class_groups, resolve_group_mode
from ltrobust.errors import ConfigError
from ltrobust.models.options import LoadOptions
from ltrobust.report.compare import Facts, fact_problems
from ltrobust.report.gate import Threshold, refuse_incomparable
from ltrobust.report.schema import AuditReport
from ltrobust.runtime import dist
from ltrobust.runtime.progress import Progress

#: where finished batches go: a folder, or a function of the dataset name giving one
CacheDir = str | os.PathLike[str] | Callable[[str], str | os.PathLike[str]] | None


def make_config(
    config: AuditConfig | None = None,
    attacks: Sequence[str] | str | None = None,
    **options: Any,
) -> AuditConfig:
    """``config`` (default: all defaults) with ``attacks`` and the keyword ``options`` applied,
    validated. ``attacks`` and ``worst_only`` may be comma-separated text, ``load`` a dict."""
    base = config if config is not None else AuditConfig()
    names = {f.name for f in dataclasses.fields(AuditConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ConfigError(
            f"unknown audit option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
        )
    if attacks is not None:
        options["attacks"] = attacks
    for key in ("attacks", "worst_only", "protocols"):
        if isinstance(options.get(key), str):
            options[key] = options[key].split(",")
        elif options.get(key) is not None:
            options[key] = list(options[key])
    if isinstance(options.get("load"), Mapping):
        options["load"] = LoadOptions(**options["load"])
    if options.get("kappas") is not None:
        options["kappas"] = tuple(float(k) for k in options["kappas"])
    merged = dataclasses.replace(base, **options)
    merged.validate()
    return merged


def audit(
    model: nn.Module | str,
    dataset: str | EvalData | None = None,
    attacks: Sequence[str] | str | None = None,
    *,
    config: AuditConfig | None = None,
    progress: Progress | None = None,
    command: str | None = None,
    cache_dir: CacheDir = None,
    baseline: AuditReport | None = None,
    **options: Any,
) -> AuditReport:
    """Audit ``model`` (a module taking [0, 1] pixels, or a checkpoint path) on ``dataset``.

    ``dataset`` defaults to the one an ltrobust checkpoint was trained on. Every other option
    is a field of :class:`~ltrobust.audit.config.AuditConfig`, given in ``config`` or as a
    keyword (e.g. ``eps=8/255, n=500, diagnose=False``). ``progress`` receives progress,
    ``command`` is recorded in the provenance, and ``cache_dir`` stores every finished batch
    (with ``resume=True`` an audit of the same model, data and settings reuses them; a
    different setup is refused with one line). With a ``baseline`` report, a setup whose worst
    case could not be compared with it (dataset, norm, eps, test set, groups, attacks and their
    settings) is refused before the first batch. Under ``torchrun`` the batches are shared among
    the processes and every process returns the same report. Raises
    :class:`ltrobust.errors.LtRobustError` subclasses on bad input, before any attack runs.
    """
    if isinstance(dataset, str):
        options["dataset"] = dataset
    cfg = make_config(config, attacks, **options)
    if cfg.resume and cache_dir is None:
        raise ConfigError("resume needs cache_dir, the folder that holds the finished batches")
    inputs = load_inputs(model, dataset if isinstance(dataset, EvalData) else cfg.dataset, cfg)
    data, loaded, warnings = inputs.data, inputs.loaded, inputs.warnings
    threat, step = threat_for(data, cfg, warnings)
    attacks, rows = plan_attacks(cfg, threat, step, dataset=data.name)
    cfg = replace(cfg, attacks=attacks, groups=resolve_group_mode(data.class_counts, cfg.groups))
    groups = class_groups(data.class_counts, cfg.groups)
    info = DataInfo(
        data.name, data.num_classes, list(data.class_names), groups, list(data.class_counts)
    )
    report_config = cfg.report_config(threat.eps, step, len(data.y))
    dataset_section = dataset_info(data, groups, cfg.groups)
    if baseline is not None:
        plan = Facts(dataset_section, report_config, {}, None, len(data.y), data.indices.tolist())
        check_baseline(baseline, plan, cfg, threat, step)
    ctx = dist.setup(cfg.device)
    try:
        cache = None
        if cache_dir is not None:
            root = Path(cache_dir(data.name) if callable(cache_dir) else cache_dir)
            material = cache_material(inputs, cfg, threat, step, ctx)
            cache = open_cache(root, material, resume=cfg.resume, ctx=ctx)
        session = AuditSession(
            loaded.model,
            data.x,
            data.y,
            data.indices,
            info,
            cfg,
            threat=threat,
            step_size=step,
            ctx=ctx,
            cache=cache,
            progress=progress,
        )
        parts = run_audit(
            session, cfg, data.indices, on_ready=lambda: prepare_cache(cache, ctx), rows=rows
        )
    finally:
        dist.teardown(ctx)
    parts.warnings[:0] = warnings
    prov = provenance(loaded, data, cfg, command, inputs.files)
    prov["execution"] = {
        **session.execution(),
        "cache": str(cache.dir) if cache else None,
        "resume": cfg.resume,
    }
    return assemble_report(parts, provenance=prov, config=report_config, dataset=dataset_section)


def check_baseline(
    baseline: AuditReport, plan: Facts, cfg: AuditConfig, threat: ThreatModel, step: float
) -> None:
    """Refuse, before the first batch, an audit whose worst case could not be compared with
    ``baseline`` (``plan``: the new report's facts known before it runs)."""
    attacks = {a: build_attack(a, threat, step, seed=cfg.seed).settings() for a in cfg.reported()}
    problems = fact_problems(Facts.of(baseline), replace(plan, attacks=attacks), "baseline", "new")
    refuse_incomparable(problems, [Threshold("max_drop", "worst.overall", 0.0)])


def _signature() -> inspect.Signature:
    """``audit``'s signature with every :class:`AuditConfig` field as a keyword (for help(),
    IDEs and introspection), instead of ``**options``."""
    sig = inspect.signature(audit)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    taken = {p.name for p in params}
    for f in dataclasses.fields(AuditConfig):
        if f.name in taken:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default))
    return sig.replace(parameters=params)


audit.__signature__ = _signature()  # type: ignore[attr-defined]
