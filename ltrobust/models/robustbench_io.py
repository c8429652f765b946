"""RobustBench model-zoo checkpoints (``--arch robustbench:NAME``) from a local folder, without
the ``robustbench`` package and never downloading.

RobustBench's ``load_model`` reads ``MODEL_DIR/<dataset>/<threat_model>/<NAME>.pt``: a dict
with ``state_dict`` (or the state_dict itself), keys possibly prefixed ``module.``/``model.``.
:data:`ZOO` lists the entries whose architecture ltrobust builds with the same parameter names
(TRADES WideResNets, kuangliu's ResNet-18) and the input normalisation each entry puts in front
(RobustBench keeps it in ``mu``/``sigma`` buffers of the model class; a file carrying those keys
has them win, as they would in RobustBench). :data:`REFUSED` names zoo entries ltrobust cannot
rebuild and why. The dataset folder comes from ``--dataset`` (a CIFAR-10 dataset reads
``cifar10``), the threat model from ``--norm`` (``linf`` reads ``Linf``, ``l2`` ``L2``).
See docs/FORMATS.md ("RobustBench model zoo").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from ltrobust.errors import ConfigError, ModelLoadError
from ltrobust.readlog import note_read

from .formats import LoadedModel, LoadRequest, load_strict
from .readers import read_torch
from .registry import get_builder
from .robustbench_zoo import CLASSES, PREFIX, THREATS, ZooEntry, zoo_dataset, zoo_entry
from .statedict import drop_prefixed, find_state_dict, strip_wrappers
from .wrappers import Normalize, NormalizedModel


def zoo_root(
    path: str | os.PathLike[str] | None, arch: str, model_dir: str | os.PathLike[str] | None
) -> Path:
    """The RobustBench ``model_dir``: ``--model-dir``, else MODEL (the folder); MODEL may also
    be ``robustbench:NAME``, the folder or a file inside it, when ``--model-dir`` is given."""
    shown = None if path is None else str(path)
    if model_dir is None:
        if shown is None or shown.startswith(PREFIX):
            raise ConfigError(f"{arch} needs --model-dir (RobustBench's model folder)")
        return Path(shown)
    root = Path(model_dir)
    if shown is not None and not shown.startswith(PREFIX):
        given = Path(shown)
        inside = root.resolve() in given.resolve().parents  # the entry's file itself
        if given.resolve() != root.resolve() and not inside:
            raise ConfigError(f"MODEL {given} and --model-dir {root} name different folders")
    return root


def _normalisation(
    sd: dict[str, Any], entry: ZooEntry
) -> tuple[tuple[list[float], list[float]] | None, str]:
    """The entry's normalisation (the file's ``mu``/``sigma`` when it has them) and its source."""
    if "mu" in sd and "sigma" in sd:
        mean, std = sd.pop("mu"), sd.pop("sigma")
        return (mean.flatten().tolist(), std.flatten().tolist()), "file: mu/sigma"
    if entry.norm is not None:
        return (list(entry.norm[0]), list(entry.norm[1])), "robustbench model zoo entry"
    return None, "none (the entry takes pixels in [0, 1])"


def _read_state_dict(file: Path, label: str) -> tuple[dict[str, Any], str | None, list[str]]:
    note_read(file)
    obj = read_torch(file, False, "cpu")  # weights_only: never unpickles objects
    sd, container = find_state_dict(obj) if isinstance(obj, dict) else (None, None)
    if sd is None:
        raise ModelLoadError(f"{label}: {file} holds no state_dict of tensors")
    sd, stripped = strip_wrappers(dict(sd))
    return dict(sd), container, stripped


def load_robustbench(root: Path, req: LoadRequest, dataset: str | None, norm: str) -> LoadedModel:
    """Load the zoo entry ``req.arch`` from RobustBench's layout under ``root``."""
    assert req.arch is not None
    name = req.arch[len(PREFIX) :]
    folder, note = zoo_dataset(dataset)
    threat = THREATS.get(norm)
    if threat is None:
        raise ConfigError(f"{req.arch}: RobustBench has no {norm} folder (linf or l2)")
    entry = zoo_entry(name, folder, threat)
    if req.mean is not None or req.std is not None:
        raise ConfigError(f"{req.arch} brings its own normalisation; drop --mean/--std")
    file = root / folder / threat / f"{name}.pt"
    if not file.is_file():
        raise ModelLoadError(
            f"{req.arch}: no checkpoint at {file} (RobustBench's layout "
            f"MODEL_DIR/{folder}/{threat}/{name}.pt; ltrobust never downloads)"
        )
    sd, container, stripped = _read_state_dict(file, req.arch)
    classes = CLASSES[folder]
    if req.num_classes is not None and req.num_classes != classes:
        raise ModelLoadError(f"{req.arch} has {classes} classes, not num_classes={req.num_classes}")
    normalisation, source = _normalisation(sd, entry)
    net = get_builder(entry.arch)(num_classes=classes, **entry.options)
    sd, unused = drop_prefixed(sd, net.unused_prefixes)  # TRADES' unused sub_block1
    load_strict(net, sd, file, req.arch)
    mean, std = normalisation if normalisation is not None else (None, None)
    model: nn.Module = (
        net if normalisation is None else NormalizedModel(Normalize(*normalisation), net)
    )
    return LoadedModel(
        model=model,
        format="robustbench",
        sha256="",
        path=str(file),
        arch=req.arch,
        num_classes=classes,
        input_spec={"channels": 3, "size": 32, "mean": mean, "std": std},
        meta={
            "robustbench": {"entry": name, "dataset": folder, "threat_model": threat},
            "architecture": entry.describe(),
            "container_key": container,
            "stripped_prefixes": stripped,
            "dropped_unused_keys": unused,
        },
        warnings=[] if note is None else [note],
        inference={"normalization": source},
    )
