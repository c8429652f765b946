"""The training-method interface and the model views a method works with.

A method exposes ``prepare(model, class_counts, data=...)``, ``begin_epoch(epoch, model)`` and
``training_step(model, x, y) -> {"loss", "logits", named terms}``; the loop never knows which
method it runs. Methods that need more than the batch (a class-balanced source of patches, the
whole training set) read it from the :class:`TrainData` given to ``prepare``. The ``model`` a step gets
is a :class:`TrainView` (wrapped in ``DistributedDataParallel`` under torchrun): calling it
gives logits, ``model(x, parts=True)`` gives features, logits and, for a cosine head, the
unscaled cosines. Inner attacks run on the bare classifier, :func:`classifier` ``(model)``, with
the library's attack objects, so training maximises exactly what the audit evaluates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

import torch
from torch import nn

from ltrobust.attacks.iterative import IterativeAttack, LossFn
from ltrobust.attacks.threat import ThreatModel
from ltrobust.models.base import ImageClassifier
from ltrobust.models.heads import CosineHead, CosPlusHead
from ltrobust.train.augment import Augmentation
from ltrobust.train.options import MethodOptions
from ltrobust.train.schedule import step_schedule

if TYPE_CHECKING:
    from ltrobust.train.config import TrainConfig

#: a method's options class
Opts = TypeVar("Opts", bound=MethodOptions)


@dataclass
class TrainData:
    """The training set as the loop holds it, for methods that draw beyond the batch.

    ``x`` (N x C x H x W in [0, 1]) and ``y`` (N) stay on the CPU; ``augment(x)`` applies the
    current epoch's augmentation with the training generator (a new tensor on the CPU);
    ``device`` is where the model runs and ``batch_size`` the per-process batch.
    """

    x: torch.Tensor
    y: torch.Tensor
    augment: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device
    batch_size: int


class TrainView(nn.Module):
    """Forward of the classifier ``net`` for training steps (the module DDP wraps).

    ``forward(x)`` returns logits N x C; ``forward(x, parts=True)`` returns a dict with
    ``features`` (N x D, penultimate), ``logits`` (N x C) and, with a cosine head, ``cosine``
    (N x C, unscaled; ``logits = scale * cosine``).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = cast(ImageClassifier, net)

    def forward(self, x: torch.Tensor, parts: bool = False) -> Any:
        if not parts:
            return self.net(x)
        features = self.net.features(x)
        head = self.net.head
        if isinstance(head, CosineHead):
            cosine = head.cosine(features)
            logits = head.scale * cosine
            if isinstance(head, CosPlusHead):
                logits = logits + head.bias
            return {"features": features, "cosine": cosine, "logits": logits}
        return {"features": features, "logits": head(features)}


class CosineView(nn.Module):
    """The unscaled cosines ``head.cosine(features(x))`` of a cosine-head classifier (N x C)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = cast(ImageClassifier, net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = cast(CosineHead, self.net.head)
        return head.cosine(self.net.features(x))


def classifier(model: nn.Module) -> nn.Module:
    """The bare classifier inside ``[DDP(] [TrainView(] net``: what inner attacks run on."""
    inner = getattr(model, "module", model)
    return inner.net if isinstance(inner, TrainView) else inner


class TrainMethod(Generic[Opts]):
    """Base class of the training methods (docs/METHODS.md §4), generic in the method's options
    class ``Opts`` (:mod:`ltrobust.train.method_options`; ``self.options``, checked when the
    configuration was made).

    A method's defaults and the class of its hyper-parameters are declared in its row of
    :data:`ltrobust.train.registry.METHODS`. Subclasses implement :meth:`training_step` and may
    override :meth:`common_defaults`, :meth:`check_config`, :meth:`setup`,
    :meth:`model_kwargs`, :meth:`logit_adjustment`, :meth:`end_epoch`, :meth:`state_dict` /
    :meth:`load_state_dict`. Randomness (the attacks' random starts) comes from the generator
    given to :meth:`prepare`.
    """

    name: ClassVar[str] = ""
    #: whether ``--eps``-ball examples are made in every step (``--attack-step(s)`` apply)
    inner_attack: ClassVar[bool] = True

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.options = cast(Opts, config.options)  # TrainConfig made it the method's class
        self.generator: torch.Generator | None = None
        self.counts = torch.ones(1, dtype=torch.float64)
        self.data: TrainData | None = None

    @classmethod
    def common_defaults(cls, options: Opts, dataset: str) -> dict[str, Any]:
        """Values of common options (``TrainConfig`` fields) that the resolved ``options``
        imply, e.g. a preset's architecture; explicit values override them."""
        return {}

    @classmethod
    def check_config(cls, config: TrainConfig) -> None:
        """Raise ConfigError for a combination of common and method options that cannot run."""

    def model_kwargs(self) -> dict[str, Any]:
        """Extra ``create_model`` arguments (e.g. the cosine head); stored as model_args."""
        return {}

    def prepare(
        self,
        model: nn.Module,
        class_counts: list[int],
        *,
        generator: torch.Generator | None = None,
        data: TrainData | None = None,
    ) -> None:
        """Bind the class counts (C), the generator and the training data; check the model
        fits the method."""
        self.counts = torch.tensor(class_counts, dtype=torch.float64)
        self.generator = generator
        self.data = data
        self.setup(classifier(model))

    def setup(self, net: nn.Module) -> None:
        """Method-specific preparation with the bare classifier (default: nothing)."""

    def lr_factor(self) -> Callable[[int], float]:
        """``epochs done -> factor of --lr`` (docs/METHODS.md §4.1: warm-up, then steps)."""
        c = self.config
        return step_schedule(c.epochs, c.warmup_epochs, c.lr_steps)

    def augmentation(self, epoch: int, base: Augmentation) -> Augmentation:
        """The augmentation of ``epoch`` (1-based); ``base`` is the configured one."""
        return base

    def begin_epoch(self, epoch: int, model: nn.Module) -> dict[str, float]:
        """Called before every epoch (1-based) with the model; returns values for the epoch's
        history row (default: nothing)."""
        return {}

    def training_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        """One step on a batch (x N x C x H x W in [0,1], y N): ``{"loss", "logits", ...}``.

        ``loss`` is the scalar to minimise, ``logits`` (N x C, detached) the training forward's
        logits on the adversarial batch; other scalar entries are named loss terms.
        """
        raise NotImplementedError

    def logit_adjustment(self) -> list[float] | None:
        """Per-class bias added to the deployed logits (stored in the checkpoint), or None."""
        return None

    def end_epoch(self, adv_counts: torch.Tensor) -> None:
        """Called after every epoch with the C x C (true, predicted) counts of the training
        adversarial examples, summed over all processes."""

    def state_dict(self) -> dict[str, Any]:
        """What resuming needs besides the weights (tensors and plain data)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""

    def threat(self) -> ThreatModel:
        """The training threat model: L-inf ball of radius ``eps``."""
        return ThreatModel("linf", self.config.eps)

    def make_attack(self, loss: LossFn) -> IterativeAttack:
        """PGD with ``loss``, ``attack_steps`` steps of ``attack_step``, uniform random start."""
        steps = self.config.attack_steps
        return IterativeAttack(
            self.threat(),
            loss,
            steps=steps,
            step_size=self.config.attack_step,
            random_start=True,
            name=f"pgd{steps}",
        )
