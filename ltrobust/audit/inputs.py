"""What an audit reads before its first pass: the evaluation data, the model, and the threat
model, with the one-line errors of bad input raised before any attack runs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from ltrobust.attacks.threat import ThreatModel
from ltrobust.audit.config import AuditConfig
from ltrobust.data.loading import EvalData, eval_data_from_tensors, load_eval_data
from ltrobust.data.specs import is_custom, resolve_threat
from ltrobust.errors import ConfigError, DataError
from ltrobust.models.exported import check_input
from ltrobust.models.formats import LoadedModel
from ltrobust.models.loading import load_model
from ltrobust.models.options import LoadOptions
from ltrobust.readlog import file_digests, recording


def state_dict_sha256(model: nn.Module) -> str:
    """sha256 over a module's state_dict (names, dtypes, shapes and values), for provenance."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


@dataclass
class AuditInputs:
    """The data, the loaded model, the options it was loaded with, and warnings so far."""

    data: EvalData
    loaded: LoadedModel
    load: LoadOptions
    warnings: list[str] = field(default_factory=list)
    #: ``{path: sha256}`` of every file the model loader and the data reader read
    files: dict[str, str] = field(default_factory=dict)


def module_as_loaded(model: nn.Module) -> LoadedModel:
    """A module given directly, described as a :class:`LoadedModel` (format ``module``)."""
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


#: evaluation data held in memory: ``(x, y)`` tensors, a DataLoader (or any iterable of
#: ``(x, y)`` batches), or an :class:`EvalData`
MemoryData = tuple[torch.Tensor, torch.Tensor] | Iterable[Any] | EvalData


def memory_data(
    data: MemoryData, config: AuditConfig, class_names: Sequence[str] | None = None
) -> EvalData:
    """``data`` given to ``ltrobust.audit(data=...)`` as an :class:`EvalData` named ``memory``,
    with ``config.class_counts`` as the training counts (required: they define the groups)."""
    if isinstance(data, EvalData):
        return data
    if config.class_counts is None:
        raise ConfigError(
            "data=(x, y) needs class_counts=[...]: the training images per class, in label "
            "order (they define head/body/tail)"
        )
    if isinstance(config.class_counts, str):
        raise ConfigError("class_counts: give a list of counts (or {class name: count})")
    x, y = _tensor_pair(data)
    return eval_data_from_tensors(
        x, y, config.class_counts, class_names=class_names, n=config.n, seed=config.seed
    )


def _tensor_pair(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from a pair of tensors or from the ``(x, y)`` batches of a DataLoader."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return data[0], torch.as_tensor(data[1])
    if isinstance(data, (str, torch.Tensor)) or not isinstance(data, Iterable):
        raise DataError(f"data: expected (x, y) tensors or a DataLoader, got {type(data).__name__}")
    xs, ys = [], []
    for batch in data:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise DataError("data: each DataLoader batch must be (x, y)")
        xs.append(torch.as_tensor(batch[0]).detach().cpu())
        ys.append(torch.as_tensor(batch[1]).detach().cpu())
    if not xs:
        raise DataError("data: the DataLoader yielded no batches")
    return torch.cat(xs), torch.cat(ys)


def load_inputs(
    model: nn.Module | str, dataset: str | EvalData | None, config: AuditConfig
) -> AuditInputs:
    """Load the data and the model of an audit (:func:`_load`), with the digest of every file
    they were read from."""
    with recording() as read:
        inputs = _load(model, dataset, config)
    inputs.files = file_digests([*read, *inputs.loaded.files])
    return inputs


def _load(
    model: nn.Module | str, dataset: str | EvalData | None, config: AuditConfig
) -> AuditInputs:
    """Load the data and the model of an audit.

    The data comes first when it does not depend on the model (a preset, or custom data with
    ``class_counts``), so that a plain state_dict is built for its input size; otherwise the
    dataset and the class counts (which define head/body/tail) come from an ltrobust
    checkpoint. Class counts: ``config.class_counts``, else the checkpoint's, else the
    dataset's long-tailed profile (docs/METHODS.md §1).
    """

    def read(name: str, counts: list[int] | dict[str, int] | None) -> EvalData:
        return load_eval_data(
            name,
            data_dir=config.data_dir,
            imbalance_ratio=config.imbalance_ratio,
            test_imbalanced=config.test_imbalanced,
            class_counts=counts,
            n=config.n,
            seed=config.seed,
            resize=config.resize,
        )

    given = config.class_counts
    counts = None if given is None else dict(given) if isinstance(given, dict) else list(given)
    data = dataset if isinstance(dataset, EvalData) else None
    if isinstance(dataset, str) and (counts is not None or not is_custom(dataset)):
        data = read(dataset, counts)
    named = data.name if data is not None else dataset if isinstance(dataset, str) else None
    options = replace(config.load, dataset=named, norm=config.norm)  # for robustbench:NAME
    if data is not None:  # a plain state_dict is built for the data's input size, and a
        # format's -tau * ln(pi) takes the data's training counts
        options = replace(
            options, default_input_size=data.shape[1], class_counts=list(data.class_counts)
        )
    loaded = module_as_loaded(model) if isinstance(model, nn.Module) else load_model(model, options)
    warnings = list(loaded.warnings)
    if data is None:
        name = dataset if isinstance(dataset, str) else loaded.dataset
        if not name:
            raise ConfigError("pass --dataset (the model file does not say what it was trained on)")
        data = read(name, counts or loaded.class_counts)
    elif counts is None and loaded.class_counts and loaded.class_counts != data.class_counts:
        if len(loaded.class_counts) == data.num_classes:
            warnings.append(
                "using the checkpoint's training class counts for the groups "
                "(they differ from the dataset's default profile)"
            )
            data.class_counts = list(loaded.class_counts)
    check_input(loaded, data.shape)  # a torch.export program's shape guards, before any pass
    if config.n is not None and config.n > len(data.y):
        warnings.append(
            f"--n {config.n} is more than the {len(data.y)} samples of {data.name}; "
            f"auditing all {len(data.y)}"
        )
    return AuditInputs(data, loaded, options, warnings)


def threat_for(
    data: EvalData, config: AuditConfig, warnings: list[str]
) -> tuple[ThreatModel, float]:
    """The threat model and step size: explicit options, else the dataset's defaults."""
    preset = data.spec.name if data.spec is not None else None
    if preset is None and config.eps is None:
        eps_d, _ = resolve_threat(None, config.norm)
        warnings.append(f"custom data: using eps {eps_d:.4g} ({config.norm}); pass --eps")
    eps, step = resolve_threat(preset, config.norm, config.eps, config.step)
    return ThreatModel(norm=config.norm, eps=eps), step
