"""ltrobust's table of RobustBench's model zoo (``--arch robustbench:NAME``), as data: which
ltrobust architecture rebuilds each entry and the normalisation its model class applies, and the
entries ltrobust refuses with the reason. Torch-free: the architecture table
(:mod:`ltrobust.models.registry`) resolves ``robustbench:NAME`` from it, and
:mod:`ltrobust.models.robustbench_io` reads the zoo's files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ltrobust.errors import ConfigError

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


def zoo_architecture(name: str) -> ZooEntry:
    """The entry ``name`` of CIFAR-10 Linf, else of L2 (the architecture is the same for every
    threat model); ConfigError otherwise."""
    return ZOO[("cifar10", "Linf")].get(name) or zoo_entry(name, "cifar10", "L2")
