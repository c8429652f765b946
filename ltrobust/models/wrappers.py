"""Wrapper modules: input normalisation, deployed-logit adjustment, output selection.

Inputs to every ltrobust model are pixels in [0, 1]; normalisation lives inside the model
(:class:`Normalize`, :class:`NormalizedModel`), so attacks never see normalised space. A fixed
inference-time logit adjustment (e.g. RoBal's ``-tau_p * ln(pi)``) is a module too
(:class:`LogitAdjusted`), so attacks run on the deployed logits. :class:`OutputSelect` turns a
foreign model's tuple/dict outputs into a logits tensor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn

from ..errors import ConfigError, ModelOutputError
from .base import ImageClassifier


def _as_channel_tensor(values: Sequence[float] | torch.Tensor, label: str) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float32).detach().flatten()
    if t.numel() == 0:
        raise ConfigError(f"{label} needs at least one value")
    if not torch.isfinite(t).all():
        raise ConfigError(f"{label} values must be finite, got {t.tolist()}")
    return t.reshape(1, -1, 1, 1).clone()


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel.

    Buffers ``mean`` and ``std`` have shape ``1 x C x 1 x 1`` (``C`` = number of values given,
    1 broadcasts over all channels). Input and output are ``N x C x H x W``.

    Raises:
        ConfigError: empty, non-finite, mismatched-length or non-positive ``std`` values.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
    ) -> None:
        super().__init__()
        mean_t = _as_channel_tensor(mean, "mean")
        std_t = _as_channel_tensor(std, "std")
        if mean_t.numel() != std_t.numel():
            raise ConfigError(
                f"mean and std need the same number of values, got {mean_t.numel()} "
                f"and {std_t.numel()}"
            )
        if (std_t <= 0).any():
            raise ConfigError(f"std values must be positive, got {std_t.flatten().tolist()}")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised inputs, same shape as ``x``."""
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class _Forwarding(nn.Module):
    """Forwards ``features`` and ``head`` to the wrapped classifier ``self._inner()``."""

    def _inner(self) -> nn.Module:
        raise NotImplementedError

    @property
    def head(self) -> nn.Module:
        """The wrapped classifier's final layer."""
        head = getattr(self._inner(), "head", None)
        if not isinstance(head, nn.Module):
            raise AttributeError("the wrapped model exposes no head")
        return head

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "head":
            self._inner().head = value
            return
        super().__setattr__(name, value)


class NormalizedModel(_Forwarding):
    """``net(normalize(x))``: a classifier taking pixels in [0, 1].

    Submodules ``normalize`` (:class:`Normalize`) and ``net``. ``features`` and ``head`` are
    those of ``net`` (``features`` applies the normalisation first).
    """

    def __init__(self, normalize: Normalize, net: nn.Module) -> None:
        super().__init__()
        self.normalize = normalize
        self.net = net

    def _inner(self) -> nn.Module:
        return self.net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``net`` for pixel inputs ``x`` (``N x C x H x W``)."""
        return self.net(self.normalize(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``net.features(normalize(x))``, ``N x D``."""
        return cast(ImageClassifier, self.net).features(self.normalize(x))


class LogitAdjusted(_Forwarding):
    """Deployed logits ``model(x) + bias`` with a fixed per-class bias.

    ``bias`` is a buffer of shape ``C`` (e.g. RoBal's ``-tau_p * ln(pi_j)``). ``features`` and
    ``head`` are the wrapped model's; the bias is not part of the head.
    """

    bias: torch.Tensor

    def __init__(self, model: nn.Module, bias: Sequence[float] | torch.Tensor) -> None:
        super().__init__()
        self.model = model
        bias_t = torch.as_tensor(bias, dtype=torch.float32).detach().flatten().clone()
        if not torch.isfinite(bias_t).all():
            raise ConfigError("logit adjustment values must be finite")
        self.register_buffer("bias", bias_t)

    def _inner(self) -> nn.Module:
        return self.model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``N x C`` of the wrapped model plus ``bias``."""
        logits = self.model(x)
        if logits.shape[-1] != self.bias.numel():
            raise ModelOutputError(
                f"model gives {logits.shape[-1]} logits but the logit adjustment has "
                f"{self.bias.numel()} values"
            )
        return logits + self.bias

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped model's penultimate features, ``N x D``."""
        return cast(ImageClassifier, self.model).features(x)


def _describe(out: object) -> str:
    return type(out).__name__


class OutputSelect(nn.Module):
    """Returns a logits tensor from a model whose forward may give a tuple, list or dict.

    A tensor output is returned as is. From a tuple/list ``key`` picks index ``int(key)``; from
    a dict (or any mapping) it picks ``key``. With ``key=None`` a dict's ``"logits"`` entry is
    taken if present, otherwise the first tensor (in order); when that choice was a guess among
    several entries, ``self.guessed`` becomes True, for the caller to warn about after a forward.

    Raises:
        ModelOutputError: the output holds no tensor, or ``key`` does not select one.
    """

    def __init__(self, model: nn.Module, key: str | int | None = None) -> None:
        super().__init__()
        self.model = model
        self.key = key
        self.guessed = False
        #: what the guessed output held (``a tuple of 2 outputs: 4x10, 4x512``)
        self.outputs = ""

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The selected output tensor (``N x C`` logits for a classifier)."""
        return self.select(self.model(*args, **kwargs))

    def select(self, out: object) -> torch.Tensor:
        """Pick the logits tensor from a raw model output ``out``."""
        if isinstance(out, torch.Tensor):
            return out
        if isinstance(out, Mapping):
            return self._from_mapping(out)
        if isinstance(out, (tuple, list)):
            return self._from_sequence(out)
        raise ModelOutputError(f"model returned a {_describe(out)}, not a tensor of logits")

    def _from_sequence(self, out: Sequence[object]) -> torch.Tensor:
        if self.key is not None:
            try:
                value = out[int(self.key)]
            except (ValueError, IndexError):
                raise ModelOutputError(
                    f"output key {self.key!r} does not index the model's {len(out)}-element "
                    f"{_describe(out)}"
                ) from None
            return self._check(value)
        tensors = [v for v in out if isinstance(v, torch.Tensor)]
        if not tensors:
            raise ModelOutputError(f"model returned a {_describe(out)} with no tensor in it")
        self._note_guess(out, list(out))
        return tensors[0]

    def _from_mapping(self, out: Mapping[Any, object]) -> torch.Tensor:
        if self.key is not None:
            if self.key not in out:
                keys = ", ".join(str(k) for k in out)
                raise ModelOutputError(
                    f"output key {self.key!r} not in the model's output; keys: {keys}"
                )
            return self._check(out[self.key])
        if isinstance(out.get("logits"), torch.Tensor):
            return out["logits"]  # type: ignore[return-value]
        tensors = [v for v in out.values() if isinstance(v, torch.Tensor)]
        if not tensors:
            raise ModelOutputError("model returned a dict with no tensor in it")
        self._note_guess(out, list(out.values()))
        return tensors[0]

    def _note_guess(self, out: object, values: list[object]) -> None:
        if len(values) < 2:
            return
        shapes = ", ".join(
            "x".join(map(str, v.shape)) if isinstance(v, torch.Tensor) else _describe(v)
            for v in values
        )
        self.guessed = True
        self.outputs = f"a {_describe(out)} of {len(values)} outputs ({shapes})"

    def _check(self, value: object) -> torch.Tensor:
        if not isinstance(value, torch.Tensor):
            raise ModelOutputError(
                f"output key {self.key!r} selects a {_describe(value)}, not a tensor"
            )
        return value

    def extra_repr(self) -> str:
        return f"key={self.key!r}"


class FixedBatch(nn.Module):
    """Runs a model traced for exactly ``batch`` inputs (an exported program or ONNX graph with
    a static batch dimension) on any number of inputs.

    The input is cut into chunks of ``batch``; a short last chunk is padded with copies of its
    last sample, whose outputs are dropped. Every sample's output is the model's output for it
    (in eval mode the samples of a batch do not interact), and gradients reach the real inputs
    only.
    """

    def __init__(self, model: nn.Module, batch: int) -> None:
        super().__init__()
        self.model = model
        self.batch = int(batch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``N x ...`` for inputs ``N x C x H x W``, any N."""
        if x.shape[0] == self.batch:
            return self.model(x)
        outs = []
        for chunk in x.split(self.batch):
            n = chunk.shape[0]
            if n < self.batch:
                pad = chunk[-1:].expand(self.batch - n, *chunk.shape[1:])
                chunk = torch.cat([chunk, pad])
            outs.append(self.model(chunk)[:n])
        return torch.cat(outs)

    def extra_repr(self) -> str:
        return f"batch={self.batch}"


class ModeFixed(nn.Module):
    """A module whose train/eval mode was fixed when it was traced (a ``torch.export``
    program): ``train()`` and ``eval()`` set this wrapper's flag only and never reach the
    graph, which refuses them."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def train(self, mode: bool = True) -> ModeFixed:
        self.training = mode
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The traced graph's outputs."""
        return self.model(*args, **kwargs)
