"""The architectures as one declarative table (timm-style ``create_model`` in
:mod:`ltrobust.models.build`).

A builder is called as ``builder(num_classes=..., in_channels=..., input_size=..., **kwargs)``
and returns an :class:`~ltrobust.models.base.ImageClassifier`. The table names each builder as
``"module:function"`` (imported on first use, so listing and validating names needs no torch);
:func:`register_model` adds one more from code. Names starting with ``test_`` are tiny models for
the test suite, hidden from :func:`list_models` by default. ``timm:NAME`` stands for timm's
architecture NAME (:mod:`ltrobust.models.timm_arch`, optional timm package) and
``torchvision:NAME`` for torchvision's classifier NAME (:mod:`ltrobust.models.torchvision_arch`),
``robustbench:NAME`` for the architecture of RobustBench's zoo entry NAME
(:mod:`ltrobust.models.robustbench_zoo`); they are not listed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ltrobust.models.robustbench_zoo import zoo_architecture
from ltrobust.registry import Entry, Registry

if TYPE_CHECKING:
    from ltrobust.models.base import ImageClassifier

Builder = Callable[..., "ImageClassifier"]
B = TypeVar("B", bound=Callable[..., Any])


def _arch(name: str, module: str, description: str) -> Entry[None]:
    """A builder's row: its defaults live in its signature, not in the table."""
    return Entry(
        name, f"ltrobust.models.{module}:{name}", description, hidden=name.startswith("test_")
    )


MODELS: Registry[None] = Registry(
    "architecture",
    [
        _arch("preact_resnet18", "resnet", "PreAct ResNet-18 (Rice et al. 2020)"),
        _arch(
            "resnet18", "resnet", "CIFAR ResNet-18 (kuangliu/pytorch-cifar, TRADES, RoBal, REAT)"
        ),
        _arch(
            "resnet32",
            "cifar_resnet",
            "CIFAR ResNet-32 of the long-tailed literature (LDAM-DRW, CMO, AFR), 0.46 M params",
        ),
        _arch("resnet34", "resnet", "CIFAR ResNet-34 (kuangliu/pytorch-cifar parameter names)"),
        _arch("resnet50", "imagenet_resnet", "ResNet-50 (torchvision's definition and names)"),
        _arch("small_cnn", "small", "TRADES SmallCNN for 28x28 / 32x32 inputs"),
        _arch("wrn28_10", "wideresnet", "WideResNet-28-10 (TRADES / RobustBench)"),
        _arch(
            "wrn34_10",
            "wideresnet",
            "WideResNet-34-10 (TRADES / RobustBench / RoBal)",
        ),
        _arch(
            "wideresnet",
            "wideresnet",
            "WideResNet of any depth and width (options depth, widen_factor)",
        ),
        _arch("test_cnn", "small", "tiny two-conv CNN for tests"),
        _arch("test_linear", "small", "tiny flatten + linear model for tests"),
        _arch("test_mlp", "small", "tiny MLP for tests"),
    ],
)


def register_model(name: str, description: str = "") -> Callable[[B], B]:
    """Decorator adding ``builder`` to :data:`MODELS` as ``name``; a taken name is a
    ``ValueError``."""

    def decorator(builder: B) -> B:
        MODELS.add(Entry(name, builder, description or (builder.__doc__ or "").split("\n")[0]))
        return builder

    return decorator


def list_models(include_test: bool = False) -> list[str]:
    """Sorted names of the architectures; ``test_*`` ones only with ``include_test``."""
    return sorted(e.name for e in MODELS.entries(hidden=include_test))


#: the prefix of timm architectures (``timm:resnet18``)
TIMM_PREFIX = "timm:"
#: the prefix of torchvision architectures (``torchvision:resnet18``)
TORCHVISION_PREFIX = "torchvision:"
#: the prefix of RobustBench zoo entries (``robustbench:Carmon2019Unlabeled``)
ROBUSTBENCH_PREFIX = "robustbench:"
#: the prefixed families of builders and the builder each family's names go to (RobustBench's
#: names resolve through its zoo table, :func:`_zoo_builder`)
_FAMILIES = {
    TIMM_PREFIX: "ltrobust.models.timm_arch:timm_builder",
    TORCHVISION_PREFIX: "ltrobust.models.torchvision_arch:torchvision_builder",
    ROBUSTBENCH_PREFIX: "",
}


def _family(name: str) -> str | None:
    """The prefix of a prefixed family name (``timm:NAME``, ``torchvision:NAME``,
    ``robustbench:NAME``), or None."""
    return next((p for p in _FAMILIES if name.startswith(p) and len(name) > len(p)), None)


def is_known(name: str) -> bool:
    """Whether ``name`` is a registered architecture (``test_*`` included), ``timm:NAME`` or
    ``torchvision:NAME``."""
    return name in MODELS or _family(name) is not None


def get_builder(name: str) -> Builder:
    """The builder registered as ``name`` (or a prefixed family's, ``timm:NAME``,
    ``torchvision:NAME``, ``robustbench:NAME``); an unknown name raises ``ConfigError``."""
    prefix = _family(name)
    if prefix == ROBUSTBENCH_PREFIX:
        zoo = zoo_architecture(name[len(prefix) :])
        return functools.partial(get_builder(zoo.arch), **zoo.options)
    if prefix is not None:
        family_builder = Entry(name, _FAMILIES[prefix], "").load()
        return functools.partial(family_builder, name[len(prefix) :])
    entry, _ = MODELS.lookup(name)
    builder: Builder = entry.load()
    return builder
