"""``create_model``: a registered architecture with its head and input normalisation."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

from torch import nn

from ltrobust.errors import ConfigError
from ltrobust.models.arguments import CORE, check_arguments
from ltrobust.models.heads import HEADS, CosineHead, CosPlusHead
from ltrobust.models.registry import Builder, get_builder
from ltrobust.models.wrappers import Normalize, NormalizedModel

logger = logging.getLogger(__name__)


def _check_options(name: str, builder: Builder, kwargs: dict[str, Any]) -> None:
    params = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [p for p in params if p not in CORE]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for architecture '{name}'; "
            f"valid: {', '.join(valid + ['head_scale', 'head_gamma']) or 'none'}"
        )


def create_model(
    name: str,
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    head: str = "linear",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered architecture.

    Args:
        name: a name from :func:`list_models` (``include_test=True`` for ``test_*``).
        num_classes: number of logits ``C``.
        in_channels, input_size: the input is ``N x in_channels x input_size x input_size``,
            pixels in [0, 1].
        head: ``"linear"``, ``"cosine"`` or ``"cosplus"``; the last two replace the final layer,
            under the same attribute name, with :class:`CosineHead` or :class:`CosPlusHead`
            (options ``head_scale``, default 10, and ``head_gamma``, default 0).
        mean, std: per-channel normalisation (length 1 or ``in_channels``); when given the result
            is ``NormalizedModel(Normalize(mean, std), net)``, otherwise the bare network.
        kwargs: architecture options (e.g. ``drop_rate`` for WideResNets).

    Returns:
        A module mapping ``N x C x H x W`` inputs in [0, 1] to ``N x num_classes`` logits.

    Raises:
        ConfigError: unknown architecture, head or option, or a size or option outside
            :data:`ltrobust.models.arguments.BOUNDS`.
    """
    builder = get_builder(name)
    head_scale = kwargs.pop("head_scale", None)
    head_gamma = kwargs.pop("head_gamma", None)
    if head not in HEADS:
        raise ConfigError(f"unknown head '{head}'; valid: {', '.join(HEADS)}")
    if head == "linear" and (head_scale is not None or head_gamma is not None):
        raise ConfigError("head_scale and head_gamma apply only to cosine heads")
    sizes = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
    heads = {"head_scale": head_scale, "head_gamma": head_gamma}
    check_arguments(name, {**sizes, **{k: v for k, v in heads.items() if v is not None}})
    _check_options(name, builder, kwargs)
    check_arguments(name, kwargs)
    net = builder(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs)
    if head != "linear":
        in_features = getattr(net.head, "in_features", None)
        if not isinstance(in_features, int):
            raise TypeError(f"the head of '{name}' has no integer in_features")
        cls = CosineHead if head == "cosine" else CosPlusHead
        net.replace_head(
            cls(
                in_features,
                num_classes,
                scale=10.0 if head_scale is None else float(head_scale),
                gamma=0.0 if head_gamma is None else float(head_gamma),
            )
        )
    logger.debug("created %s (num_classes=%d, head=%s)", name, num_classes, head)
    if mean is None and std is None:
        return net
    if mean is None or std is None:
        raise ConfigError("give both mean and std for input normalisation, or neither")
    if len(mean) not in (1, in_channels) or len(std) not in (1, in_channels):
        raise ConfigError(
            f"mean and std need 1 or {in_channels} values, got {len(mean)} and {len(std)}"
        )
    return NormalizedModel(Normalize(mean, std), net)
