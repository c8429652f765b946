"""Training of adversarially robust models on long-tailed data (METHODS.md §4).

``train(resolve_config("at", "cifar10-lt", {"loss": "bsl"}), RunOptions(out=Path(...)))``
runs PGD-AT with the Balanced Softmax loss; methods: ``at`` (losses ce, bsl, la, ldam, cb,
focal), ``trades``, ``robal``, ``reat``. See ``docs/TRAINING.md``.
"""

from ltrobust.train.base import TrainMethod, TrainView, classifier
from ltrobust.train.config import TrainConfig, resolve_config, resume_differences
from ltrobust.train.loop import RunOptions, TrainCallback, TrainResult, train
from ltrobust.train.registry import METHODS, build_method, get_method_class

__all__ = [
    "METHODS",
    "RunOptions",
    "TrainCallback",
    "TrainConfig",
    "TrainMethod",
    "TrainResult",
    "TrainView",
    "build_method",
    "classifier",
    "get_method_class",
    "resolve_config",
    "resume_differences",
    "train",
]
