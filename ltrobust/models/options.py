"""How to read a model file: the options ``ltrobust audit``, ``sweep`` and ``inspect`` pass to
:func:`ltrobust.models.load_model`, declared once. Torch-free."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

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


@dataclass
class LoadOptions:
    """Options of :func:`ltrobust.models.load_model` that a user gives."""

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
    mean: list[float] | None = setting(
        None,
        help="Normalisation mean for a state_dict, e.g. 0.4914,0.4822,0.4465.",
        parse=_floats("--mean"),
        panel=MODEL,
    )
    std: list[float] | None = setting(
        None, help="Normalisation std for a state_dict.", parse=_floats("--std"), panel=MODEL
    )
    unsafe_load: bool = setting(
        False, help="Allow loading a pickled whole module (runs its code).", panel=MODEL
    )
    output_key: str | None = setting(
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

    model_dir: str | None = setting(
        None,
        help="RobustBench's model folder for --arch robustbench:NAME "
        "(reads DIR/cifar10/Linf/NAME.pt; never downloads).",
        panel=MODEL,
    )

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``load_model`` (every field: the names are
        :class:`~ltrobust.models.formats.LoadRequest`'s)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
