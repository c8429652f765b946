"""How to read a model file: the options ``ltrobust audit`` (and later ``inspect``) pass to
:func:`ltrobust.models.load_model`, declared once. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ltrobust.settings import setting
from ltrobust.values import parse_numbers

MODEL = "Model loading"


def _floats(flag_name: str) -> Any:
    return lambda text: parse_numbers(text, name=flag_name)


@dataclass
class LoadOptions:
    """Options of :func:`ltrobust.models.load_model` that a user gives."""

    arch: str | None = setting(None, help="Architecture of a plain state_dict.", panel=MODEL)
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

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``load_model``."""
        return {
            "arch": self.arch,
            "num_classes": self.num_classes,
            "mean": self.mean,
            "std": self.std,
            "unsafe_load": self.unsafe_load,
            "output_key": self.output_key,
        }
