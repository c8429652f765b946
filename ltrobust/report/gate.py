"""The CI gate: thresholds on metric paths, absolute minimums and maximum drops vs a baseline.

Conventions (one per option, so no value is ambiguous):

* ``--max-drop PATH=D``: D is in **percentage points** (``1.0`` or ``1pp`` = one point of
  recall); ``%`` is refused because it could be read as a relative drop.
* ``--min PATH=V``: V is a **fraction** (``0.20``) or a percentage with ``%`` (``20%``); a bare
  number above 1 is refused.

Statistics for a maximum drop (``drop = baseline - new``):

* both reports hold per-sample results on the same samples (same dataset indices and labels):
  exact two-sided McNemar test on the discordant pairs among the metric's samples; the check
  fails only if the drop exceeds the tolerance **and** p < alpha.
* otherwise: Wilson intervals at level 1 - alpha; the check fails only if the drop exceeds the
  tolerance **and** the intervals are disjoint (new upper bound below the baseline's lower
  bound), a conservative test.
* ``balanced`` on a long-tailed test set has neither (it is a mean of recalls): the tolerance
  alone decides. ``worst_class`` tests the samples of the new report's worst class.

A minimum compares the point estimate: it fails when the value is below the limit.

A check passes only on numbers it compared: a value that is missing (the baseline has no such
outcome or class; a class or group without samples), null, or not a fraction in [0, 1] fails
the check (method ``not compared``) with the reason in its detail, and so does a drop whose
Wilson interval cannot be computed. Reports read from files are validated first
(:mod:`ltrobust.report.validate`), so NaN never gets this far from a file.
Library code: raises :class:`ltrobust.errors.LtRobustError` (CLI exit 2) for unusable input.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ltrobust.errors import ConfigError, LtRobustError
from ltrobust.metrics.fields import brief, is_int, is_number
from ltrobust.report.compare import HARD, Problem, comparability_problems
from ltrobust.report.paths import (
    MetricPath,
    MetricValue,
    metric_value,
    outcome_names,
    parse_metric_path,
    resolve,
    sample_flags,
)
from ltrobust.report.schema import AuditReport
from ltrobust.report.significance import mcnemar_exact, wilson_at

EPS = 1e-9  # slack for float noise in "drop > tolerance"


class IncomparableReports(LtRobustError):
    """The baseline was made under settings that make the metric meaningless to compare."""


@dataclass(frozen=True)
class Threshold:
    """``kind`` is ``min`` (limit a fraction) or ``max_drop`` (limit in percentage points)."""

    kind: str
    path: str
    limit: float

    @property
    def label(self) -> str:
        if self.kind == "min":
            return f"min {self.path} >= {self.limit:g}"
        return f"max-drop {self.path} <= {self.limit:g}pp"


_NUMBER = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)$")


def parse_threshold(text: str, kind: str) -> Threshold:
    """Parse ``PATH=VALUE`` for ``--min`` (kind ``min``) or ``--max-drop`` (``max_drop``)."""
    option = "--min" if kind == "min" else "--max-drop"
    path, eq, raw = text.partition("=")
    value = raw.strip().lower()
    if not eq or not path.strip() or not value:
        example = "aa.tail=0.20" if kind == "min" else "worst.tail=1.0"
        raise ConfigError(f"{option} {text!r} must be PATH=VALUE, e.g. {option} {example}")
    if kind == "min":
        pct = value.endswith("%")
        number = value[:-1].strip() if pct else value
        if not _NUMBER.match(number):
            raise ConfigError(f"{option} {text!r}: {raw!r} is not a number (0.20 or 20%)")
        limit = float(number) / 100 if pct else float(number)
        if not pct and limit > 1:
            raise ConfigError(
                f"{option} {text!r} is ambiguous: minimums are fractions; write "
                f"{limit / 100:g} or {limit:g}%"
            )
        if limit > 1:
            raise ConfigError(f"{option} {text!r}: a recall cannot exceed 100%")
    else:
        if value.endswith("%"):
            raise ConfigError(
                f"{option} {text!r}: drops are in percentage points; write "
                f"{value[:-1].strip()} or {value[:-1].strip()}pp (not %)"
            )
        number = value[:-2].strip() if value.endswith("pp") else value
        if not _NUMBER.match(number):
            raise ConfigError(f"{option} {text!r}: {raw!r} is not a number of points (1.0 or 1pp)")
        limit = float(number)
        if limit > 100:
            raise ConfigError(f"{option} {text!r}: a drop cannot exceed 100 points")
    return Threshold(kind, path.strip(), limit)


def default_thresholds(report: AuditReport) -> list[Threshold]:
    """What ``audit --baseline`` checks without explicit thresholds: no significant drop of
    the worst case, overall and in any group (tolerance 0 points)."""
    scopes = ["overall", *report.dataset.get("groups", {})]
    outcome = "worst" if report.worst_case is not None else "clean"
    return [Threshold("max_drop", f"{outcome}.{s}", 0.0) for s in scopes]


@dataclass
class CheckResult:
    """One threshold's outcome; numbers are fractions, ``delta_pp`` in percentage points."""

    threshold: Threshold
    passed: bool
    value: float | None
    baseline: float | None = None
    delta_pp: float | None = None
    p_value: float | None = None
    method: str = "point"
    detail: str = ""
    discordant: tuple[int, int] | None = None


@dataclass
class GateResult:
    checks: list[CheckResult]
    alpha: float
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every check passed (and there was at least one)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]


def run_gate(
    new: AuditReport,
    thresholds: list[Threshold],
    baseline: AuditReport | None = None,
    alpha: float = 0.05,
) -> GateResult:
    """Evaluate every threshold on ``new`` (and ``baseline`` for drops).

    Raises ConfigError for a bad path, alpha or a drop without baseline, and
    IncomparableReports when the baseline's settings differ (dataset, norm, eps, test set,
    groups; attack settings or the attack set for checks that use them).
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"--alpha must be in (0, 1), got {alpha:g}")
    if not thresholds:
        raise ConfigError("nothing to check: give --min and/or --max-drop")
    for t in thresholds:
        if t.kind not in ("min", "max_drop") or not is_number(t.limit):
            raise ConfigError(f"threshold {t.kind} {t.path}={t.limit!r}: not a finite number")
    paths = [resolve(new, t.path) for t in thresholds]
    notes: list[str] = []
    if baseline is not None:
        problems = comparability_problems(baseline, new, "baseline", "new")
        refuse_incomparable(problems, thresholds)
        notes = [p.message for p in problems if p.key == "samples"]
    checks = []
    for t, p in zip(thresholds, paths, strict=True):
        if t.kind == "min":
            checks.append(_check_min(new, t, p))
            continue
        if baseline is None:
            raise ConfigError(f"--max-drop {t.path} needs --baseline")
        checks.append(_check_drop(new, baseline, t, p, alpha))
    return GateResult(checks, alpha, notes)


def refuse_incomparable(problems: list[Problem], thresholds: list[Threshold]) -> None:
    """Raise :class:`IncomparableReports` when a setting in ``problems`` makes every metric,
    or a drop threshold's metric, meaningless to compare with the baseline (a drop of the worst
    case needs the same attacks; a drop of an attack, its settings)."""
    hard = [p for p in problems if p.key in HARD]
    if hard:
        raise IncomparableReports(
            "reports are not comparable: " + "; ".join(p.message for p in hard)
        )
    for t in thresholds:
        if t.kind != "max_drop":
            continue
        outcome = parse_metric_path(t.path).outcome
        for prob in problems:
            if (
                outcome == "worst"
                and (prob.key in ("attacks", "worst") or prob.key.startswith("attack:"))
            ) or prob.key == f"attack:{outcome}":
                raise IncomparableReports(f"{t.path}: reports are not comparable: {prob.message}")


def _why_not(v: object, which: str) -> str | None:
    """Why a metric's value cannot be compared, or None if it is a fraction in [0, 1] (every
    metric a path names is a recall or an accuracy)."""
    if v is None:
        return f"no value in the {which} report (no samples, or no class is recognised clean)"
    if not (is_number(v) and 0 <= v <= 1):
        return f"the {which} report's value {brief(v)} is not a fraction in [0, 1]"
    return None


def _not_compared(
    t: Threshold, reason: str, value: object = None, baseline: object = None
) -> CheckResult:
    """A failed check: the gate cannot pass on a value it could not compare."""
    return CheckResult(
        t,
        False,
        float(value) if is_number(value) else None,
        float(baseline) if is_number(baseline) else None,
        method="not compared",
        detail=f"cannot compare: {reason}",
    )


def _check_min(new: AuditReport, t: Threshold, p: MetricPath) -> CheckResult:
    value = metric_value(new, p).value
    why = _why_not(value, "new")
    if why is not None or value is None:
        return _not_compared(t, why or "no value", value)
    ok = value >= t.limit - EPS
    rel = ">=" if ok else "<"
    return CheckResult(t, ok, value, method="minimum", detail=f"{value:.4f} {rel} {t.limit:g}")


def _paired_counts(
    new: AuditReport, base: AuditReport, p: MetricPath, classes: list[int] | None
) -> tuple[int, int] | None:
    """(b, c): samples correct in base only, in new only; None if not on the same samples."""
    fb, fn = sample_flags(base, p.outcome), sample_flags(new, p.outcome)
    if fb is None or fn is None or fb.keys() != fn.keys():
        return None
    if any(fb[i][0] != fn[i][0] for i in fb):
        return None
    keep = set(classes) if classes is not None else None
    b = c = 0
    for i, (label, ok_base) in fb.items():
        if keep is not None and label not in keep:
            continue
        ok_new = fn[i][1]
        b += ok_base and not ok_new
        c += ok_new and not ok_base
    return b, c


def _part(base: AuditReport, p: MetricPath) -> str:
    """The part of ``p`` the baseline lacks, in the words of the path (no names from the
    report, which the CLI prints with markup)."""
    if p.outcome not in outcome_names(base):
        return f"outcome {p.outcome!r}"
    return f"class {p.class_ref!r}" if p.scope == "class" else f"group {p.scope!r}"


def _counted(mv: MetricValue) -> tuple[int, int] | None:
    """(correct, n) when the value is a proportion of samples with counts to test."""
    k, n = mv.correct, mv.n
    return (k, n) if is_int(k) and is_int(n) and 0 <= k <= n else None


def _check_drop(
    new: AuditReport, base: AuditReport, t: Threshold, p: MetricPath, alpha: float
) -> CheckResult:
    mv_new = metric_value(new, p)
    try:
        mv_base = metric_value(base, resolve(base, p.text))
    except ConfigError:
        return _not_compared(t, f"the baseline has no {_part(base, p)}", mv_new.value)
    v_new, v_base = mv_new.value, mv_base.value
    why = _why_not(v_new, "new") or _why_not(v_base, "baseline")
    if why is not None or v_new is None or v_base is None:
        return _not_compared(t, why or "no value", v_new, v_base)
    delta_pp = 100 * (v_new - v_base)
    drop_pp = -delta_pp
    over = drop_pp > t.limit + EPS
    head = f"drop {drop_pp:.2f}pp {'>' if over else '<='} {t.limit:g}pp"
    res = CheckResult(t, True, v_new, v_base, delta_pp)
    new_k, base_k = _counted(mv_new), _counted(mv_base)
    counts = _paired_counts(new, base, p, mv_new.classes) if new_k and base_k else None
    if counts is not None:
        b, c = counts
        res.p_value = mcnemar_exact(b, c)
        res.method, res.discordant = "mcnemar", (b, c)
        sig = res.p_value < alpha
        res.passed = not (over and sig)
        stat = f"McNemar b={b} c={c} p={res.p_value:.3g} {'<' if sig else '>='} {alpha:g}"
        res.detail = f"{head}; {stat}"
        return res
    if new_k is None or base_k is None:
        res.method, res.passed = "tolerance", not over
        res.detail = f"{head}; no interval for a mean of recalls: tolerance only"
        return res
    lo_b, _ = wilson_at(*base_k, alpha)
    _, hi_n = wilson_at(*new_k, alpha)
    if lo_b is None or hi_n is None or not (math.isfinite(lo_b) and math.isfinite(hi_n)):
        return _not_compared(t, "no Wilson interval (no samples)", v_new, v_base)
    disjoint = hi_n < lo_b
    res.method, res.passed = "wilson", not (over and disjoint)
    conf = f"{100 * (1 - alpha):g}%"
    res.detail = (
        f"{head}; Wilson {conf}: new upper {hi_n:.4f} {'<' if disjoint else '>='} "
        f"baseline lower {lo_b:.4f} ({'disjoint' if disjoint else 'overlap'})"
    )
    return res


def junit_xml(result: GateResult, suite: str = "ltrobust gate") -> str:
    """JUnit XML: one testcase per threshold, a ``failure`` with the numbers for each failed one."""
    root = ET.Element("testsuites")
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(result.checks)),
        failures=str(len(result.failures)),
        errors="0",
        skipped="0",
    )
    for c in result.checks:
        case = ET.SubElement(ts, "testcase", classname="ltrobust.gate", name=c.threshold.label)
        text = _junit_text(c, result.alpha)
        if c.passed:
            ET.SubElement(case, "system-out").text = text
        else:
            ET.SubElement(
                case, "failure", message=c.detail, type="RobustnessRegression"
            ).text = text
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_text(c: CheckResult, alpha: float) -> str:
    parts = [f"value={c.value:.6f}" if c.value is not None else "value=none"]
    if c.baseline is not None:
        parts.append(f"baseline={c.baseline:.6f}")
    if c.delta_pp is not None:
        parts.append(f"delta_pp={c.delta_pp:+.3f}")
    if c.p_value is not None:
        parts.append(f"p={c.p_value:.6g}")
    parts += [f"method={c.method}", f"alpha={alpha:g}", c.detail]
    return " ".join(parts)
