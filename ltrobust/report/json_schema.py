"""The report's JSON Schema: generated from the dataclasses that declare the report
(:mod:`ltrobust.report.schema`) and shipped with the package as ``report.schema.json``, for
readers of report.json that do not use ltrobust (``ltrobust schema`` prints it).

The JSON Schema holds what a schema language can say: the objects, their keys (no other key is
allowed but in the open ``config``, ``provenance`` and settings objects), the types and the
bounds. The integrity rules (lengths that match the number of classes and samples, numbers
recomputed from the per-sample records) are ltrobust's own (:mod:`ltrobust.report.validate`).
After a change to the dataclasses, regenerate the file with
``ltrobust schema --out ltrobust/report/report.schema.json`` (a test compares the two).
Torch-free.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ltrobust.report.validate import READ_VERSIONS, REQUIRED, report_adapter

#: the schema file in the package
SCHEMA_FILE = Path(__file__).with_name("report.schema.json")
#: the JSON Schema dialect of the file
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of report.json, from the report's dataclasses."""
    generated = report_adapter().json_schema(mode="validation")
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "title": "ltrobust audit report",
        "description": (
            "report.json as written by ltrobust audit (schema versions "
            + ", ".join(map(str, READ_VERSIONS))
            + "). Integrity rules beyond types and bounds (lengths, recomputed numbers) are "
            "checked by ltrobust itself."
        ),
        **{k: v for k, v in generated.items() if k not in ("title", "description")},
    }
    schema["required"] = list(REQUIRED)
    schema["properties"]["schema_version"] = {"enum": list(READ_VERSIONS)}
    return schema


def schema_text() -> str:
    """:func:`report_json_schema` as the file holds it (sorted keys, two-space indent)."""
    return json.dumps(report_json_schema(), indent=2, sort_keys=True) + "\n"
