"""JSON paths of report data, as the validation's messages name a field:
``attacks.pgd20.summary.per_class[3].recall``. Torch-free."""

from __future__ import annotations

import json
import re
from typing import Any

PathPart = str | int
Path = tuple[PathPart, ...]
#: a rule's finding: the path below the object it checks, and what is wrong there
Problem = tuple[Path, str]
#: what the rules check sizes and cross-references against (:mod:`ltrobust.report.validate_shape`)
Context = dict[str, Any]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def format_path(path: Path) -> str:
    """``("attacks", "pgd20", "confusion", 2)`` -> ``attacks.pgd20.confusion[2]``; keys that are
    not plain names are quoted: ``extra_pred["pgd20@kappa=1"]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "the report"
