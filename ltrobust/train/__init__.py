"""Training of adversarially robust models on long-tailed data (docs/METHODS.md §4).

``train(resolve_config("at", "cifar10-lt", {"loss": "bsl"}), RunOptions(out=Path(...)))``
runs PGD-AT with the Balanced Softmax loss; methods: ``at`` (losses ce, bsl, la, ldam, cb,
focal), ``trades``, ``robal``, ``reat`` (the table :data:`METHODS`). See ``docs/TRAINING.md``.
Names load lazily: the configuration and the method table are torch-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltrobust.lazy import exports

if TYPE_CHECKING:
    from ltrobust.train.base import TrainMethod, TrainView, classifier
    from ltrobust.train.config import RunOptions, TrainConfig
    from ltrobust.train.loop import TrainResult, train
    from ltrobust.train.registry import METHODS, build_method, get_method_class
    from ltrobust.train.resolve import resolve_config, resume_differences

_WHERE = {
    **dict.fromkeys(("TrainMethod", "TrainView", "classifier"), "ltrobust.train.base"),
    **dict.fromkeys(("RunOptions", "TrainConfig"), "ltrobust.train.config"),
    **dict.fromkeys(("resolve_config", "resume_differences"), "ltrobust.train.resolve"),
    **dict.fromkeys(("TrainResult", "train"), "ltrobust.train.loop"),
    **dict.fromkeys(("METHODS", "build_method", "get_method_class"), "ltrobust.train.registry"),
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, globals(), _WHERE)
