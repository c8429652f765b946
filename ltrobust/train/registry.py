"""The registry of training methods: ``at``, ``trades``, ``robal``, ``reat``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltrobust.errors import ConfigError
from ltrobust.train.at import AdversarialTraining
from ltrobust.train.base import TrainMethod
from ltrobust.train.reat import Reat
from ltrobust.train.robal import RoBal
from ltrobust.train.trades import Trades

if TYPE_CHECKING:
    from ltrobust.train.config import TrainConfig

METHODS: dict[str, type[TrainMethod]] = {
    cls.name: cls for cls in (AdversarialTraining, Trades, RoBal, Reat)
}


def get_method_class(name: str) -> type[TrainMethod]:
    """The method class called ``name``; ConfigError listing the valid names otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; valid: {', '.join(METHODS)}") from None


def build_method(config: TrainConfig) -> TrainMethod:
    """An instance of ``config.method`` configured by ``config``."""
    return get_method_class(config.method)(config)
