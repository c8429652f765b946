"""What several commands share: the model argument, ``--quiet``, the architectures' help, the
command line as typed and the default report folder (a command imports no other command)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from ltrobust.audit.config import OUTPUT as OUTPUT_PANEL
from ltrobust.cli.options import argument, flag_option
from ltrobust.models.registry import list_models

#: the --arch help text: every registered architecture
ARCHS = {"arch": "Architectures: " + ", ".join(list_models()) + "."}
#: the model file every model command takes
MODEL = argument(
    "model",
    str | None,  # type: ignore[arg-type]  # --print-config needs none; --config may name it
    "Model file: ltrobust checkpoint, state_dict (.pt, .safetensors), a paper's checkpoint, "
    "torch.export (.pt2), ONNX, TorchScript (docs/FORMATS.md).",
    metavar="MODEL",
).replace(default=None)
QUIET = flag_option(
    "quiet", bool, False, "--quiet", help="No plan and no progress.", rich_help_panel=OUTPUT_PANEL
)


def default_out_dir(model: str, dataset: str) -> Path:
    """``reports/<model stem>-<dataset>`` (custom dataset names sanitised)."""
    stem = Path(model).stem or "model"
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset.split(":", 1)[-1].strip("/")) or "data"
    return Path("reports") / f"{stem}-{tag}"


def command_line() -> str:
    """The command as the user typed it (recorded in the provenance)."""
    return shlex.join(["ltrobust", *sys.argv[1:]])
