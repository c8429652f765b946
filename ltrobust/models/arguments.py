"""The arguments an architecture may be built with: an allow-list with types and bounds.

A checkpoint's ``model_args`` are data from outside: they reach :func:`create_model` (and, for
``timm:NAME``, ``timm.create_model``, whose ``checkpoint_path`` would open any local file and
``pretrained`` would download). Every argument is checked here against :data:`BOUNDS` before
anything is built, so that a stored ``input_size`` of 400000 cannot size a layer and an
unknown name never reaches a third-party builder. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ltrobust.errors import ConfigError


@dataclass(frozen=True)
class Bound:
    """What one argument may be: an int or float in ``[low, high]``, or one of ``choices``."""

    kind: str  # "int", "float" or "choice"
    low: float = -math.inf
    high: float = math.inf
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is refused (a phrase), or None."""
        if self.kind == "choice":
            ok = isinstance(value, str) and value in self.choices
            return None if ok else f"one of {', '.join(self.choices)}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            ok = False
        elif self.kind == "int":
            ok = isinstance(value, int) and self.low <= value <= self.high
        else:
            ok = math.isfinite(value) and self.low <= value <= self.high
        noun = "an integer" if self.kind == "int" else "a number"
        return None if ok else f"{noun} in [{self.low:g}, {self.high:g}]"


#: the sizes every builder takes
CORE = ("num_classes", "in_channels", "input_size")

#: every argument any architecture takes (the builders' own checks come after these)
BOUNDS: dict[str, Bound] = {
    "num_classes": Bound("int", 1, 100_000),
    "in_channels": Bound("int", 1, 64),
    "input_size": Bound("int", 1, 4096),
    "head": Bound("choice", choices=("linear", "cosine", "cosplus")),
    "head_scale": Bound("float", 1e-6, 1e6),
    "head_gamma": Bound("float", -1e6, 1e6),
    "width": Bound("int", 1, 4096),
    "stem": Bound("choice", choices=("cifar", "imagenet")),
    "drop": Bound("float", 0.0, 1.0),
    "drop_rate": Bound("float", 0.0, 1.0),
    "drop_path_rate": Bound("float", 0.0, 1.0),
    "depth": Bound("int", 1, 1000),
    "widen_factor": Bound("int", 1, 64),
    "dropout": Bound("float", 0.0, 1.0),
}

#: the options ``timm:NAME`` accepts beyond the core sizes: nothing that names a file or a
#: download (``checkpoint_path``, ``pretrained``, ``pretrained_cfg_overlay``, ...)
TIMM_OPTIONS = ("drop_rate", "drop_path_rate")

#: the options ``torchvision:NAME`` accepts beyond the core sizes: never ``weights`` or
#: ``weights_backbone`` (downloads)
TORCHVISION_OPTIONS = ("dropout",)

#: each prefixed family, its name in messages and its options beyond the core sizes
_FAMILY_OPTIONS = {
    "timm:": ("timm", TIMM_OPTIONS),
    "torchvision:": ("torchvision", TORCHVISION_OPTIONS),
    "robustbench:": ("robustbench", ()),  # the zoo entry fixes depth and width
}


def check_arguments(arch: str, args: Mapping[str, Any], where: str = "") -> None:
    """Raise :class:`ConfigError` naming the first argument of ``args`` outside
    :data:`BOUNDS` (or, for ``timm:`` architectures, outside :data:`TIMM_OPTIONS` and the core
    sizes; for ``torchvision:``, :data:`TORCHVISION_OPTIONS`). ``where`` prefixes the message
    (e.g. ``"PATH: model_args."``)."""
    family = next((v for k, v in _FAMILY_OPTIONS.items() if arch.startswith(k)), None)
    for name, value in args.items():
        if family is not None and name not in (*family[1], *CORE, "head"):
            allowed = ", ".join((*CORE, *family[1]))
            raise ConfigError(
                f"{where}{name} is not an option ltrobust passes to {family[0]} ({allowed})"
            )
        bound = BOUNDS.get(name)
        if bound is None:
            raise ConfigError(f"{where}{name} is not an architecture option ltrobust knows")
        problem = bound.problem(value)
        if problem is not None:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise ConfigError(f"{where}{name} must be {problem}, got {shown}")
