"""The Python entry point: ``ltrobust.audit(model, dataset=..., attacks=...) -> AuditReport``.

Its options are the fields of :class:`~ltrobust.audit.config.AuditConfig`, given as a
``config`` or as keywords (declared once, there).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import os
import re
import typing
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from ltrobust.audit.adversarial import AdversarialKeeper
from ltrobust.audit.attack_plan import make_plan
from ltrobust.audit.cache import open_cache, prepare_cache
from ltrobust.audit.config import AuditConfig, DiagnosticPasses, Thresholds
from ltrobust.audit.inputs import AuditInputs, MemoryData, load_inputs, memory_data, threat_for
from ltrobust.audit.provenance import cache_material, dataset_info, provenance
from ltrobust.audit.runner import assemble_report, run_audit
from ltrobust.audit.session import AuditSession, DataInfo
from ltrobust.data.loading import EvalData
from ltrobust.data.profile import class_groups, resolve_group_mode
from ltrobust.errors import ConfigError, LtRobustError
from ltrobust.fileio import check_output_file
from ltrobust.models.options import LoadOptions
from ltrobust.report.compare import Facts, fact_problems
from ltrobust.report.gate import Threshold, refuse_incomparable
from ltrobust.report.schema import AuditReport
from ltrobust.runtime import dist
from ltrobust.runtime.progress import Progress
from ltrobust.settings import params_of, precision_of_amp

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
    if "amp" in options:  # the old spelling of precision
        warnings.warn("audit option amp is deprecated; use precision", DeprecationWarning, 2)
        options.setdefault("precision", precision_of_amp(options.pop("amp")))
    names = {f.name for f in dataclasses.fields(AuditConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ConfigError(unknown_option(unknown[0], sorted(names)))
    if attacks is not None:
        options["attacks"] = attacks
    for key in ("attacks", "worst_only", "protocols", "save_adv"):
        if isinstance(options.get(key), str):
            options[key] = options[key].split(",")
        elif options.get(key) is not None:
            options[key] = list(options[key])
    if isinstance(options.get("load"), Mapping):
        options["load"] = LoadOptions().given(**options["load"])
    for key, kind in (("thresholds", Thresholds), ("passes", DiagnosticPasses)):
        if isinstance(options.get(key), Mapping):
            options[key] = _nested(kind, key, options[key])
    if options.get("kappas") is not None:
        options["kappas"] = tuple(float(k) for k in options["kappas"])
    merged = dataclasses.replace(base, **options)
    merged.validate()
    return merged


def _nested(kind: type[Any], key: str, given: Mapping[str, Any]) -> Any:
    """The dataclass ``kind`` from the keywords of option ``key`` (an unknown one refused)."""
    valid = sorted(f.name for f in dataclasses.fields(kind))
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(f"unknown {key} option {unknown[0]!r}; valid: {', '.join(valid)}")
    return kind(**given)


def unknown_option(name: str, valid: list[str]) -> str:
    """One line for an unknown keyword: the nearest valid one, an option of a nested config
    (``arch`` -> ``load={'arch': ...}``), or the list of valid keywords."""
    near = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if near:
        return f"unknown audit option {name!r}; did you mean {near[0]!r}?"
    for field_, _ in params_of(AuditConfig):
        nested = typing.get_type_hints(AuditConfig)[field_.name]
        if dataclasses.is_dataclass(nested) and name in {
            f.name for f in dataclasses.fields(nested)
        }:
            return f"unknown audit option {name!r}; it belongs in {field_.name}={{{name!r}: ...}}"
    return f"unknown audit option {name!r}; valid: {', '.join(valid)}"


@functools.cache
def _keywords() -> dict[str, str]:
    """CLI flag -> the keyword of the Python API (``--class-counts`` -> ``class_counts``,
    ``--arch`` -> ``load.arch``), from the declared settings."""
    out: dict[str, str] = {}

    def walk(cls: type, prefix: str, flag_prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f, spec in params_of(cls):
            if spec.nested and dataclasses.is_dataclass(hints[f.name]):
                sub = flag_prefix + (spec.prefix + "-" if spec.prefix else "")
                walk(hints[f.name], f"{prefix}{f.name}.", sub)
                continue
            flags = spec.flags or (f"--{flag_prefix}{f.name.replace('_', '-')}",)
            for flag in flags:
                out[flag] = prefix + f.name
                out["--no-" + flag[2:]] = f"{prefix}{f.name}=False"

    walk(AuditConfig, "", "")
    out["--dataset"] = "dataset (or data=(x, y))"
    return out


def api_wording(message: str) -> str:
    """``message`` with every CLI flag it names replaced by the API keyword."""
    names = _keywords()
    return re.sub(r"--[a-z][a-z0-9-]*", lambda m: names.get(m.group(0), m.group(0)), message)


#: set while the command line runs an audit: its errors keep naming the flags
_CLI_WORDING: ContextVar[bool] = ContextVar("ltrobust_cli_wording", default=False)


@contextmanager
def cli_wording() -> Iterator[None]:
    """Within this block, :func:`audit`'s errors name the command line's flags."""
    token = _CLI_WORDING.set(True)
    try:
        yield
    finally:
        _CLI_WORDING.reset(token)


@contextmanager
def _api_errors() -> Iterator[None]:
    """Re-raise bad-input errors with the API's keywords instead of the CLI's flags."""
    try:
        yield
    except LtRobustError as exc:
        if _CLI_WORDING.get():
            raise
        text = str(exc)
        worded = api_wording(text)
        if worded == text:
            raise
        try:
            again = type(exc)(worded)
        except TypeError:  # an error type with other arguments keeps its message
            raise exc from None
        raise again from None


def audit(
    model: nn.Module | str,
    dataset: str | EvalData | None = None,
    attacks: Sequence[str] | str | None = None,
    *,
    data: MemoryData | None = None,
    class_names: Sequence[str] | None = None,
    config: AuditConfig | None = None,
    progress: Progress | None = None,
    command: str | None = None,
    cache_dir: CacheDir = None,
    baseline: AuditReport | None = None,
    save_adv_to: CacheDir = None,
    **options: Any,
) -> AuditReport:
    """Audit ``model`` (a module taking [0, 1] pixels, or a checkpoint path) on ``dataset``
    or on ``data`` held in memory.

    ``dataset`` defaults to the one an ltrobust checkpoint was trained on. ``data`` is
    ``(x, y)`` tensors (``x`` ``(N, C, H, W)`` in [0, 1]), a DataLoader of ``(x, y)`` batches
    or an :class:`EvalData`; with tensors or a DataLoader, ``class_counts`` (the training
    images per class, which define head/body/tail) is required and ``class_names`` optional.
    Every other option is a field of :class:`~ltrobust.audit.config.AuditConfig`, given in
    ``config`` or as a keyword (e.g. ``eps=8/255, n=500, diagnose=False``). ``progress``
    receives progress, ``command`` is recorded in the provenance, and ``cache_dir`` stores every
    finished batch (with ``resume=True`` an audit of the same model, data and settings reuses
    them; a different setup is refused with one line). With a ``baseline`` report, a setup
    whose worst case could not be compared with it (dataset, norm, eps, test set, groups,
    attacks and their settings) is refused before the first batch. With ``save_adv`` (``"all"``,
    ``"worst"`` or attack names) the adversarial images go to the safetensors file
    ``save_adv_to`` (a path, or a function of the dataset name giving one;
    :mod:`ltrobust.audit.adversarial`). Under ``torchrun`` the
    batches are shared among the processes and every process returns the same report. Raises
    :class:`ltrobust.errors.LtRobustError` subclasses on bad input, before any attack runs;
    their messages name these keywords.
    """
    with _api_errors():
        if data is not None and dataset is not None:
            raise ConfigError("give dataset or data, not both")
        if isinstance(dataset, str):
            options["dataset"] = dataset
        cfg = make_config(config, attacks, **options)
        if cfg.resume and cache_dir is None:
            raise ConfigError("resume needs cache_dir, the folder that holds the finished batches")
        source = memory_data(data, cfg, class_names) if data is not None else dataset
        inputs = load_inputs(model, source if isinstance(source, EvalData) else cfg.dataset, cfg)
        adv = _adv_file(cfg, save_adv_to, inputs.data.name)
        return _run(inputs, cfg, progress, command, (cache_dir, adv), baseline)


def _run(
    inputs: AuditInputs,
    cfg: AuditConfig,
    progress: Progress | None,
    command: str | None,
    where: tuple[CacheDir, Path | None],
    baseline: AuditReport | None,
) -> AuditReport:
    """The audit of loaded ``inputs`` (:func:`audit`); ``where``: the cache folder and the
    ``--save-adv`` file."""
    cache_dir, adv_file = where
    data, loaded, warnings = inputs.data, inputs.loaded, inputs.warnings
    threat, step = threat_for(data, cfg, warnings)
    plan = make_plan(cfg, threat, step, dataset=data.name)
    cfg = replace(
        cfg, attacks=list(plan.names), groups=resolve_group_mode(data.class_counts, cfg.groups)
    )
    groups = class_groups(data.class_counts, cfg.groups)
    info = DataInfo(
        data.name, data.num_classes, list(data.class_names), groups, list(data.class_counts)
    )
    report_config = cfg.report_config(threat.eps, step, len(data.y))
    dataset_section = dataset_info(data, groups, cfg.groups)
    if baseline is not None:
        facts = Facts(dataset_section, report_config, {}, None, len(data.y), data.indices.tolist())
        check_baseline(baseline, facts, plan.settings(cfg.reported()))
    ctx = dist.setup(cfg.device)
    keeper = (
        AdversarialKeeper(cfg.save_adv, cfg.attacks, data.y, data.indices) if adv_file else None
    )
    try:
        if keeper is not None and ctx.distributed:
            raise ConfigError("save_adv runs in one process (not under torchrun)")
        cache = None
        if cache_dir is not None:
            root = Path(cache_dir(data.name) if callable(cache_dir) else cache_dir)
            material = cache_material(inputs, cfg, plan, threat, step, ctx)
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
        session.adversarial = keeper
        parts = run_audit(
            session, cfg, data.indices, on_ready=lambda: prepare_cache(cache, ctx), plan=plan
        )
    finally:
        dist.teardown(ctx)
    parts.warnings[:0] = warnings
    if keeper is not None and adv_file is not None:
        keeper.save(adv_file)
        if session.engine.reused:
            parts.warnings.append("save_adv: batches reused by resume have no images in the file")
    prov = provenance(loaded, data, cfg, command, inputs.files)
    prov["execution"] = {
        **session.execution(),
        "cache": str(cache.dir) if cache else None,
        "resume": cfg.resume,
        "timing": parts.timing,
    }
    return assemble_report(parts, provenance=prov, config=report_config, dataset=dataset_section)


def _adv_file(cfg: AuditConfig, save_adv_to: CacheDir, name: str) -> Path | None:
    """The ``--save-adv`` file, checked writable before any work (None without save_adv)."""
    if not cfg.save_adv:
        return None
    if save_adv_to is None:
        raise ConfigError("save_adv needs save_adv_to, the .safetensors file to write")
    target = Path(save_adv_to(name) if callable(save_adv_to) else save_adv_to)
    return check_output_file(target, "save_adv_to")


def check_baseline(
    baseline: AuditReport, facts: Facts, attacks: Mapping[str, Mapping[str, Any]]
) -> None:
    """Refuse, before the first batch, an audit whose worst case could not be compared with
    ``baseline`` (``facts``: the new report's facts known before it runs; ``attacks``: the
    settings of its reported attacks, from the audit's plan)."""
    new = replace(facts, attacks=dict(attacks))
    problems = fact_problems(Facts.of(baseline), new, "baseline", "new")
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
