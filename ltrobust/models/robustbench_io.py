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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ltrobust.errors import ConfigError, ModelLoadError
from ltrobust.readlog import note_read

from .base import ImageClassifier
from .formats import LoadedModel, LoadRequest, load_strict
from .readers import read_torch
from .registry import get_builder
from .statedict import drop_prefixed, find_state_dict, strip_wrappers
from .wrappers import Normalize, NormalizedModel

PREFIX = "robustbench:"
#: the zoo's classes per dataset folder
CLASSES = {"cifar10": 10}
#: ``--norm`` value -> RobustBench's threat-model folder
THREATS = {"linf": "Linf", "l2": "L2"}
#: the statistics of RobustBench's ``Rice2020OverfittingNet`` (CIFAR-10 mean and std)
_RICE = ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616))
#: ``Rony2019DecouplingNet``'s rounded CIFAR-10 statistics
_RONY = ((0.491, 0.482, 0.447), (0.247, 0.243, 0.262))
#: ``Hendrycks2019UsingNet``'s ``2x - 1``
_HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True)
class ZooEntry:
    """One RobustBench entry: ltrobust's architecture (registry name and options), the
    normalisation RobustBench's model class applies (None: pixels in [0, 1])."""

    arch: str
    options: dict[str, int] = field(default_factory=dict)
    norm: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def describe(self) -> str:
        """``wrn28_10`` or ``wideresnet(depth=34, widen_factor=20)``."""
        args = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.arch}({args})" if args else self.arch


_W28 = ZooEntry("wrn28_10")
_W34 = ZooEntry("wrn34_10")
_W34_20 = ZooEntry("wideresnet", {"depth": 34, "widen_factor": 20})
_R18 = ZooEntry("resnet18")

#: (dataset, threat model) -> entry name -> how ltrobust rebuilds it
ZOO: dict[tuple[str, str], dict[str, ZooEntry]] = {
    ("cifar10", "Linf"): {
        "Standard": _W28,
        "Carmon2019Unlabeled": _W28,
        "Sehwag2020Hydra": _W28,
        "Wang2020Improving": _W28,
        "Wu2020Adversarial_extra": _W28,
        "Zhang2020Geometry": _W28,
        "Hendrycks2019Using": ZooEntry("wrn28_10", norm=_HALF),
        "Zhang2019Theoretically": _W34,
        "Huang2020Self": _W34,
        "Zhang2019You": _W34,
        "Zhang2020Attacks": _W34,
        "Sitawarin2020Improving": _W34,
        "Cui2020Learnable_34_10": _W34,
        "Sehwag2021Proxy": _W34,
        "Addepalli2021Towards_WRN34": _W34,
        "Cui2020Learnable_34_20": _W34_20,
        "Rice2020Overfitting": ZooEntry("wideresnet", {"depth": 34, "widen_factor": 20}, _RICE),
        "Sehwag2021Proxy_R18": _R18,
        "Addepalli2021Towards_RN18": _R18,
    },
    ("cifar10", "L2"): {
        "Standard": _W28,
        "Rony2019Decoupling": ZooEntry("wrn28_10", norm=_RONY),
    },
}

_DM = "DeepMind's Swish WideResNet (DMWideResNet) is not an ltrobust architecture"
_DM_R18 = "DeepMind's Swish PreAct ResNet-18 (DMPreActResNet) is not an ltrobust architecture"
#: zoo entries ltrobust refuses, and why
REFUSED: dict[str, str] = {
    "Engstrom2019Robustness": "its ResNet-50 (Bottleneck blocks) is not an ltrobust architecture",
    "Augustin2020Adversarial": "its ResNet-50 (Bottleneck blocks) is not an ltrobust architecture",
    "Chen2020Adversarial": "it is an ensemble of three ResNet-50 branches",
    "Pang2020Boosting": "its BoostingWideResNet (normalised features and head) is not ltrobust's",
    "Ding2020MMA": "it normalises each image by its own mean and std",
    "Wu2020Adversarial": "RobustBench itself loads it non-strictly (keys differ from the model)",
    "Andriushchenko2020Understanding": "its file nests the weights under 'last' (not verified)",
    "Wong2020Fast": "its PreAct ResNet-18 parameter names are not verified against ltrobust's",
    "Gowal2020Uncovering_70_16": _DM,
    "Gowal2020Uncovering_28_10_extra": _DM,
    "Rebuffi2021Fixing_28_10_cutmix_ddpm": _DM,
    "Rebuffi2021Fixing_70_16_cutmix_extra": _DM,
    "Rebuffi2021Fixing_R18_ddpm": _DM_R18,
    "Gowal2021Improving_28_10_ddpm_100m": _DM,
    "Huang2021Exploring": "its RobustWideResNet (per-stage depths and widths) is not ltrobust's",
    "Dai2021Parameterizing": "its PSSiLU WideResNet is not an ltrobust architecture",
}


def zoo_dataset(dataset: str | None) -> tuple[str, str | None]:
    """RobustBench's dataset folder for ``--dataset`` (none: ``cifar10``, RobustBench's default)
    and a warning when a dataset of another kind is audited with a CIFAR-10 entry."""
    name = (dataset or "").lower()
    if name.startswith("cifar100"):
        raise ConfigError(
            "robustbench: ltrobust's RobustBench table has CIFAR-10 entries only, not cifar100"
        )
    if name.startswith("cifar10"):
        return "cifar10", None
    if dataset is None:
        return "cifar10", None  # RobustBench's default dataset
    return "cifar10", f"robustbench: {dataset} is no RobustBench dataset; reading the cifar10 entry"


def zoo_entry(name: str, dataset: str, threat: str) -> ZooEntry:
    """The :data:`ZOO` entry ``name`` of ``dataset``/``threat``; ConfigError otherwise."""
    table = ZOO.get((dataset, threat), {})
    if name in table:
        return table[name]
    if name in REFUSED:
        raise ConfigError(f"robustbench:{name} cannot be loaded by ltrobust: {REFUSED[name]}")
    known = ", ".join(table) or "none"
    raise ConfigError(
        f"robustbench:{name} is not in ltrobust's RobustBench table for {dataset} {threat} "
        f"(known: {known}; docs/FORMATS.md)"
    )


def robustbench_builder(
    name: str, *, num_classes: int = 10, in_channels: int = 3, input_size: int = 32
) -> ImageClassifier:
    """ltrobust's architecture of the CIFAR-10 Linf (else L2) entry ``name``, untrained."""
    entry = ZOO[("cifar10", "Linf")].get(name) or zoo_entry(name, "cifar10", "L2")
    builder = get_builder(entry.arch)
    net: ImageClassifier = builder(
        num_classes=num_classes, in_channels=in_channels, input_size=input_size, **entry.options
    )
    return net


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
