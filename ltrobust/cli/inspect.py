"""``ltrobust inspect MODEL``: what ltrobust sees in a model file, without running an audit.

Format (and whether it was detected), architecture, classes, input spec, head, the format's
inference options, the deployed logit adjustment, the parameter count and the file's sha256;
``--json`` prints the same as JSON. The options are the audit's model-loading options, plus
``--dataset``/``--class-counts`` for a format's ``-tau * ln(pi)`` (and the input size), and
``--input-size`` for the side of a plain state_dict's architecture (default: the dataset's,
else inferred from the weights where they fix it, else 32).
"""

from __future__ import annotations

import json
from typing import Any

from ltrobust.audit.config import AuditConfig
from ltrobust.cli.common import stdout, warn
from ltrobust.cli.modelinfo import summary_lines
from ltrobust.cli.options import OptionSet, argument, command, flag_option
from ltrobust.cli.shared import ARCHS

OPTIONS = OptionSet(
    AuditConfig, only=("dataset", "imbalance_ratio", "class_counts", "load"), extra_help=ARCHS
)
MODEL = argument("model", str, "Model file (or a folder with a timm model.safetensors).")
AS_JSON = flag_option("as_json", bool, False, "--json", help="Print the summary as JSON.")
INPUT_SIZE = flag_option(
    "input_size",
    int | None,
    None,
    "--input-size",
    min=1,
    max=4096,
    help="Input side of a plain state_dict's architecture (default: --dataset's, else inferred "
    "from the weights, else 32).",
)


def _data_hints(config: AuditConfig) -> tuple[list[int] | None, int | None]:
    """Training class counts and input side: given (by name: matched to a preset's class
    names), else a preset dataset's."""
    from ltrobust.data.custom import match_class_counts
    from ltrobust.data.profile import lt_counts
    from ltrobust.data.specs import get_spec, is_custom

    given = config.class_counts
    preset = config.dataset is not None and not is_custom(config.dataset)
    spec = get_spec(config.dataset) if preset and config.dataset is not None else None
    counts: list[int] | None = None
    if isinstance(given, dict):
        names = list(spec.class_names) if spec is not None else []
        counts = match_class_counts(given, names, "--class-counts")
    elif given is not None:
        counts = list(given)
    if spec is None:
        return counts, None
    if counts is None:
        ratio = config.imbalance_ratio or spec.default_ir
        counts = lt_counts(spec.n_max, ratio, spec.num_classes)
    return counts, spec.shape[1]


@command({"options": OPTIONS}, fixed=[MODEL, AS_JSON, INPUT_SIZE])
def inspect_command(
    model: str, as_json: bool, input_size: int | None, options: dict[str, Any]
) -> None:
    """Show what ltrobust sees in a model file: format, architecture, head, adjustments."""
    from ltrobust.models import load_model
    from ltrobust.models.summary import describe

    config: AuditConfig = OPTIONS.build(options)
    counts, size = _data_hints(config)
    load = config.load.given(
        class_counts=counts,
        default_input_size=size,
        input_size=input_size,
        dataset=config.dataset,  # for robustbench:NAME
        norm=config.norm,
    )
    info = describe(load_model(model, load))
    if as_json:
        print(json.dumps(info, indent=1, default=str))
        return
    for line in info["warnings"]:
        warn(line)
    for line in summary_lines(info):
        stdout.print(line, highlight=False, soft_wrap=True)
