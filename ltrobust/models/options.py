"""How to read a model file: every option of :func:`ltrobust.models.load_model`, declared once
in :class:`LoadOptions`, which ``load_model`` takes whole. Torch-free."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from ltrobust.errors import ConfigError
from ltrobust.models.paper_formats import format_names
from ltrobust.settings import setting
from ltrobust.values import parse_numbers

MODEL = "Model"
#: formats of whole models (graph and weights in one file)
WHOLE_MODEL_FORMATS = ("torchscript", "export", "onnx")


def format_choices() -> tuple[str, ...]:
    """Every value of ``--format``: ltrobust's own, a plain state_dict, the paper formats and
    the whole-model formats."""
    return ("ltrobust", "state_dict", *format_names(), *WHOLE_MODEL_FORMATS)


def _floats(flag_name: str) -> Any:
    return lambda text: parse_numbers(text, name=flag_name)


#: the fields of :class:`LoadOptions` that say how and where a model is loaded, not what it
#: computes: left out of an audit's resume key (:func:`request_keys`)
NOT_KEYS = ("model_dir", "unsafe_load", "map_location")


@dataclass(frozen=True)
class LoadOptions:
    """Every option of :func:`ltrobust.models.load_model` (None = not given), declared once.

    The fields with a setting are what a user gives (``ltrobust audit``, ``sweep`` and
    ``inspect`` offer them; ``ltrobust.audit(load={...})`` takes them); the plain fields are
    filled by the caller from what it knows: the data's size, training counts, dataset and
    threat model, and where the tensors go. Every field but :data:`NOT_KEYS` changes what the
    loaded model computes and is part of an audit's resume key.
    """

    arch: str | None = setting(
        None,
        help="Architecture of a plain state_dict (or timm:NAME, torchvision:NAME, "
        "robustbench:NAME).",
        panel=MODEL,
    )
    format: str | None = setting(
        None,
        help="What the file holds (default: detected from the file and its keys).",
        choices=format_choices(),
        panel=MODEL,
    )
    num_classes: int | None = setting(
        None, help="Classes of a plain state_dict (default: inferred).", panel=MODEL
    )
    mean: Sequence[float] | None = setting(
        None,
        help="Normalisation mean for a state_dict, e.g. 0.4914,0.4822,0.4465.",
        parse=_floats("--mean"),
        panel=MODEL,
    )
    std: Sequence[float] | None = setting(
        None, help="Normalisation std for a state_dict.", parse=_floats("--std"), panel=MODEL
    )
    unsafe_load: bool = setting(
        False, help="Allow loading a pickled whole module (runs its code).", panel=MODEL
    )
    output_key: str | int | None = setting(
        None,
        help="Key or index of the logits when the model returns a tuple/dict.",
        panel=MODEL,
    )
    format_config: str | None = setting(
        None,
        help="A paper format's evaluation config, e.g. RoBal's cifar10-R (docs/FORMATS.md).",
        panel=MODEL,
    )
    scale: float | None = setting(
        None,
        help="Logit scale of a paper format's cosine head (default: its config's).",
        panel=MODEL,
    )
    tau: float | None = setting(
        None,
        help="Strength of a paper format's deployed logit adjustment -tau*ln(pi) "
        "(default: its config's; RoBal's tau_p).",
        panel=MODEL,
    )
    model_dir: str | os.PathLike[str] | None = setting(
        None,
        help="RobustBench's model folder for --arch robustbench:NAME "
        "(reads DIR/cifar10/Linf/NAME.pt; never downloads).",
        panel=MODEL,
    )
    #: input channels of a plain state_dict's architecture (inferred from its first conv
    #: when None)
    in_channels: int | None = None
    #: input side to build an architecture with (default: ``default_input_size``, else 32)
    input_size: int | None = None
    #: the head of a plain state_dict's architecture: linear, cosine or cosplus
    head: str = "linear"
    #: the data's input side, used when ``input_size`` is not given; never checked against a
    #: checkpoint
    default_input_size: int | None = None
    #: the training class counts pi of a paper format's deployed ``-tau * ln(pi)``
    class_counts: Sequence[int] | None = None
    #: dataset and threat model of ``robustbench:NAME`` (``<dataset>/<threat>``)
    dataset: str | None = None
    norm: str = "linf"
    #: where the loaded tensors and model go
    map_location: Any = "cpu"

    @property
    def build_size(self) -> int:
        """Input side to build an architecture with: given, else the data's, else 32."""
        return self.input_size or self.default_input_size or 32

    def given(self, **changes: Any) -> LoadOptions:
        """These options with ``changes`` applied; an unknown name is a :class:`ConfigError`
        suggesting the nearest."""
        names = [f.name for f in fields(self)]
        for name in changes:
            if name not in names:
                near = difflib.get_close_matches(name, names, n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"valid: {', '.join(names)}"
                raise ConfigError(f"unknown load option {name!r}; {hint}")
        return replace(self, **changes) if changes else self


def request_keys() -> tuple[str, ...]:
    """The :class:`LoadOptions` fields that change what the loaded model computes."""
    return tuple(f.name for f in fields(LoadOptions) if f.name not in NOT_KEYS)
