"""The one validation of a report.json, run by every reader before anything else touches it.

``AuditReport.from_dict`` (so ``from_json``, ``load``, :func:`ltrobust.report.read_report` and
:func:`ltrobust.report.load`, and through them ``report``, ``compare`` and ``gate``) calls
:func:`parse_report`, in three steps:

1. the schema: the data is read into the report's dataclasses
   (:class:`~ltrobust.report.schema.AuditReport` and the sections it holds) by one pydantic
   ``TypeAdapter``: types, fractions in [0, 1], differences in [-1, 1], counts >= 0, integers
   that fit a double (|n| <= 2**53), no NaN or infinity, no key the schema does not declare;
2. finite numbers in the open parts (settings, ``config``, ``provenance``);
3. the integrity rules, plain functions over the data: lengths match the number of classes
   and of samples, class indices in range, and every number that can be recomputed from
   another part (:mod:`ltrobust.report.validate_shape`, :mod:`ltrobust.report.validate_rules`,
   :mod:`ltrobust.report.validate_protocols`).

The first problem raises :class:`ReportSchemaError`, one line naming the field by its JSON path:
``report.json does not match the report schema: attacks.pgd20.summary.groups.tail.recall must
be a number in [0, 1] or null, got "0.5"``; a key the schema does not declare:
``... unknown key diagnostics.foo``. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from ltrobust.errors import LtRobustError
from ltrobust.metrics.fields import brief, is_int, is_number
from ltrobust.report.findings import keep_order
from ltrobust.report.jsonpath import PathPart, format_path
from ltrobust.report.text import visible
from ltrobust.report.validate_shape import check_rules

#: the version of the report format this ltrobust writes (2: an attack's worst class is chosen
#: among the classes with clean recall above zero)
SCHEMA_VERSION = 2
#: the versions it reads (1: the worst class was chosen among every class)
READ_VERSIONS = (1, 2)
#: the keys of every report (``protocols`` only with ``--protocol``)
REQUIRED = (
    "provenance",
    "config",
    "dataset",
    "clean",
    "attacks",
    "worst_case",
    "per_sample",
    "diagnostics",
    "verdict",
    "schema_version",
)
#: the report's dataclass (:class:`~ltrobust.report.schema.AuditReport` puts itself here on
#: import: it calls this module, which therefore cannot import it)
REPORT_TYPE: list[type] = []
_ADAPTER: list[TypeAdapter[Any]] = []


class ReportSchemaError(LtRobustError):
    """A report whose content does not match the schema; ``detail`` names the first bad field,
    ``source`` the file (None for data that came from no file)."""

    def __init__(self, detail: str, source: str | None = None) -> None:
        self.detail, self.source = detail, source
        where = visible(source) if source is not None else "the report"
        super().__init__(f"{where} does not match the report schema: {detail}")

    def with_source(self, source: str) -> ReportSchemaError:
        return ReportSchemaError(self.detail, source)


def report_adapter() -> TypeAdapter[Any]:
    """The pydantic adapter of the report's dataclasses (built once)."""
    if not _ADAPTER:
        assert REPORT_TYPE, "ltrobust.report.schema registers the report type on import"
        _ADAPTER.append(TypeAdapter(REPORT_TYPE[0]))
    return _ADAPTER[0]


_OBJECT = "must be an object, got {got}"
#: pydantic's error types as one sentence about the value (``{got}``: the value, in brief)
_WORDS = {
    "dataclass_type": _OBJECT,
    "dataclass_args_type": _OBJECT,
    "dataclass_exact_type": _OBJECT,
    "dict_type": _OBJECT,
    "model_type": _OBJECT,
    "typed_dict_type": _OBJECT,
    "list_type": "must be a list, got {got}",
    "finite_number": "must be a finite number, got {got}",
    "float_type": "must be a number, got {got}",
    "int_type": "must be an integer, got {got}",
    "string_type": "must be a string, got {got}",
    "bool_type": "must be true or false, got {got}",
    "none_required": "must be null, got {got}",
}


def _path(data: Any, loc: tuple[int | str, ...]) -> tuple[PathPart, ...]:
    """The JSON path of an error's location: its steps that exist in ``data`` (the others
    are pydantic's names for the branch of a union it tried), and a missing key at the end."""
    out: list[PathPart] = []
    for i, step in enumerate(loc):
        if isinstance(data, Mapping) and isinstance(step, str) and step in data:
            data = data[step]
        elif isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data):
            data = data[step]
        elif not (i == len(loc) - 1 and isinstance(data, Mapping)):
            continue
        out.append(step)
    return tuple(out)


def describe(error: ErrorDetails, data: Any) -> str:
    """One pydantic error as the report's one-line sentence."""
    path = format_path(_path(data, tuple(error["loc"])))
    kind = error["type"]
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"unknown key {path}"
    if kind == "missing":
        return f"{path} is missing"
    got = brief(error.get("input"))
    if kind == "report_value":
        return f"{path} {error['msg']}"
    if kind in _WORDS:
        return f"{path} {_WORDS[kind].format(got=got)}"
    return f"{path} is invalid ({error['msg'][:1].lower()}{error['msg'][1:]}), got {got}"


def first_non_finite(data: Any) -> str | None:
    """The first number anywhere that is NaN, infinite or beyond a double, as a sentence."""
    stack: list[tuple[Any, tuple[PathPart, ...]]] = [(data, ())]
    while stack:
        x, where = stack.pop()
        if isinstance(x, Mapping):
            stack.extend((x[k], (*where, k)) for k in reversed(list(x)))
        elif isinstance(x, list):
            if all(type(v) is int and -(2**63) < v < 2**63 for v in x):
                continue  # per-sample lists: nothing to look into
            stack.extend((x[i], (*where, i)) for i in reversed(range(len(x))))
        elif isinstance(x, int | float) and not isinstance(x, bool) and not is_number(x):
            return f"{format_path(where)} must be a finite number, got {brief(x)}"
    return None


def _version(data: Any, where: str) -> None:
    if not isinstance(data, Mapping):
        raise LtRobustError(f"{where}report is not a JSON object")
    version = data.get("schema_version")
    if not is_int(version) or version not in READ_VERSIONS:
        reads = " and ".join(map(str, READ_VERSIONS))
        raise LtRobustError(
            f"{where}unsupported report schema_version {brief(version)}; this ltrobust reads "
            f"{reads}"
        )


def parse_report(data: Any, source: str | None = None) -> Any:
    """Check a report's JSON data (as ``json.load`` returns it) and read it into an
    :class:`~ltrobust.report.schema.AuditReport` (``data`` itself is never changed).

    Raises :class:`LtRobustError` for data that is no object or of an unsupported
    ``schema_version``, and :class:`ReportSchemaError` (a subclass) for the first field that
    is missing, unknown, of the wrong type, out of range or inconsistent; ``source`` (a file
    name) starts the message.
    """
    _version(data, f"{visible(source)}: " if source is not None else "")
    missing = next((k for k in REQUIRED if k not in data), None)
    if missing is not None:
        raise ReportSchemaError(f"{missing} is missing", source)
    try:
        report = report_adapter().validate_python(data)
    except ValidationError as exc:
        raise ReportSchemaError(describe(exc.errors()[0], data), source) from None
    except RecursionError:
        raise ReportSchemaError("its data is nested too deeply", source) from None
    problem = first_non_finite(data) or check_rules(data)
    if problem is not None:
        raise ReportSchemaError(problem, source)
    return keep_order(report, data)


def validate_report(data: Any, source: str | None = None) -> None:
    """:func:`parse_report` for its checks alone."""
    parse_report(data, source)
