"""The training methods as one declarative table (docs/METHODS.md §4): ``at``, ``trades``,
``robal``, ``reat`` (adversarial training) and ``ce``, ``cmo``, ``afr`` (clean training).

Each row names the method's class as ``"module:attribute"`` (imported on first use), a one-line
description and its :class:`MethodSpec`: the class of its hyper-parameters
(:mod:`ltrobust.train.method_options`, from which the CLI builds ``ltrobust train``'s options and
``--help``) and the values it gives the common options (batch size, weight decay, inner-attack
steps; the clean methods also epochs and lr schedule). The methods never import this table.
This module is torch-free.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ltrobust.registry import Entry, Registry
from ltrobust.train.method_options import (
    METHOD_OPTIONS,
    AfrOptions,
    CmoOptions,
    ReatOptions,
    RobalOptions,
    TradesOptions,
)
from ltrobust.train.options import LossOptions, MethodOptions
from ltrobust.train.schedule import RECIPE_LR_STEPS

if TYPE_CHECKING:
    from ltrobust.train.base import TrainMethod
    from ltrobust.train.config import TrainConfig


@dataclass(frozen=True)
class MethodSpec:
    """A training method's row: the class of its options and the values it gives the common
    options (:class:`~ltrobust.train.config.TrainConfig` fields; None: the common default)."""

    options: type[MethodOptions]
    batch_size: int | None = None
    weight_decay: float | None = None
    attack_steps: int | None = None
    epochs: int | None = None
    warmup_epochs: int | None = None
    lr_steps: str | None = None

    def defaults(self) -> dict[str, Any]:
        """The common options this method sets, by field name (``batch_size``,
        ``weight_decay``, ``attack_steps``; the clean methods also ``epochs``,
        ``warmup_epochs`` and ``lr_steps``)."""
        common = (f.name for f in dataclasses.fields(self) if f.name != "options")
        return {k: getattr(self, k) for k in common if getattr(self, k) is not None}


def _clean(options: type[MethodOptions], epochs: int) -> MethodSpec:
    """A clean method's row: the CIFAR recipe of LDAM-DRW and CMO (docs/METHODS.md §4.1)."""
    return MethodSpec(
        options,
        batch_size=128,
        weight_decay=2e-4,
        epochs=epochs,
        warmup_epochs=5,
        lr_steps=RECIPE_LR_STEPS,
    )


METHODS: Registry[MethodSpec] = Registry(
    "training method",
    [
        Entry(
            "at",
            "ltrobust.train.at:AdversarialTraining",
            "PGD adversarial training with a long-tailed outer loss (--loss bsl is AT-BSL)",
            MethodSpec(LossOptions, batch_size=128, weight_decay=5e-4, attack_steps=10),
        ),
        Entry(
            "trades",
            "ltrobust.train.trades:Trades",
            "TRADES: natural CE + beta KL(clean || adversarial), KL inner attack",
            MethodSpec(TradesOptions, batch_size=128, weight_decay=2e-4, attack_steps=10),
        ),
        Entry(
            "robal",
            "ltrobust.train.robal:RoBal",
            "RoBal: cosine head, class-aware margins and bias, inference-time bias",
            MethodSpec(RobalOptions, batch_size=64, weight_decay=2e-4, attack_steps=5),
        ),
        Entry(
            "reat",
            "ltrobust.train.reat:Reat",
            "REAT: re-balanced adversarial examples (RBL) and tail feature alignment (TAIL)",
            MethodSpec(ReatOptions, batch_size=128, weight_decay=5e-4, attack_steps=10),
        ),
        Entry(
            "ce",
            "ltrobust.train.ce:CleanTraining",
            "no attack: --loss on clean images (--loss bsl is Balanced Softmax)",
            _clean(LossOptions, 200),
        ),
        Entry(
            "cmo",
            "ltrobust.train.cmo:Cmo",
            "no attack: CMO, class-balanced CutMix patches on the long-tailed batch, --loss",
            _clean(CmoOptions, 200),
        ),
        Entry(
            "afr",
            "ltrobust.train.afr:Afr",
            "no attack: AFR, stage 1 BS+CMO, stage 2 fine-tunes with majority samples moved "
            "towards their class's minority features by targeted PGD (the paper's gaps and our "
            "decisions: docs/METHODS.md §4.7); the last epoch is kept, the paper's best test "
            "epoch never",
            _clean(AfrOptions, 250),
        ),
    ],
)


def method_spec(name: str) -> MethodSpec:
    """The row of method ``name``; ConfigError listing the methods otherwise."""
    entry, _ = METHODS.lookup(name)
    return entry.settings


def method_params(name: str) -> tuple[dataclasses.Field[Any], ...]:
    """The hyper-parameters of method ``name`` as the fields of its options class (name,
    default, and the :class:`~ltrobust.settings.Setting` in the metadata)."""
    return dataclasses.fields(method_spec(name).options)


def get_method_class(name: str) -> type[TrainMethod[Any]]:
    """The class of method ``name`` (imported on first use)."""
    entry, _ = METHODS.lookup(name)
    cls: type[TrainMethod[Any]] = entry.load()  # type: ignore[assignment]
    return cls


def build_method(config: TrainConfig) -> TrainMethod[Any]:
    """An instance of ``config.method`` configured by ``config``."""
    return get_method_class(config.method)(config)


def _check_agreement() -> None:
    """Every row names the options class :data:`METHOD_OPTIONS` reads stored configs with."""
    rows = {e.name: e.settings.options for e in METHODS.entries(hidden=True)}
    if rows != METHOD_OPTIONS:
        raise ValueError(f"METHODS and METHOD_OPTIONS disagree: {rows} != {METHOD_OPTIONS}")


_check_agreement()
