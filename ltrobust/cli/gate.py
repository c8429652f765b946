"""``ltrobust gate NEW.json --baseline BASE.json --max-drop worst.tail=1.0 --min aa.tail=0.20``.

Exit 0: every check passed; 1: a regression; 2: unusable input (missing or bad file, unknown
schema version or metric path, incomparable reports).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ltrobust.cli.common import guarded, shown, stdout, warn
from ltrobust.cli.tables import print_gate

if TYPE_CHECKING:
    pass


def gate_command(
    new: Annotated[Path, typer.Argument(help="The report.json to check.")],
    baseline: Annotated[
        Path | None, typer.Option(help="Baseline report.json (needed for --max-drop).")
    ] = None,
    max_drop: Annotated[
        list[str] | None,
        typer.Option(
            help="PATH=POINTS: largest allowed drop vs the baseline in percentage points "
            "(worst.tail=1.0 or 1pp). Repeatable."
        ),
    ] = None,
    min_: Annotated[
        list[str] | None,
        typer.Option(
            "--min",
            help="PATH=FRACTION: lowest allowed value (aa.tail=0.20 or 20%). Repeatable.",
        ),
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level of the drop tests.")] = 0.05,
    junit: Annotated[
        Path | None, typer.Option(help="Write JUnit XML here (one testcase per threshold).")
    ] = None,
) -> None:
    """Fail (exit 1) on robustness regressions. PATH is <outcome>.<scope>: outcome clean, an
    attack (pgd20, aa, ...) or worst; scope overall, a group (head/body/tail), balanced,
    worst_class or class:<index or name>."""

    def run() -> None:
        from ltrobust.errors import ConfigError
        from ltrobust.fileio import atomic_write_text, check_output_file, write_all
        from ltrobust.report import read_report
        from ltrobust.report.compare import stale_cw_warnings
        from ltrobust.report.gate import junit_xml, parse_threshold, run_gate

        if not 0 < alpha < 1:
            raise ConfigError(f"--alpha must be in (0, 1), got {alpha}")
        if junit is not None:
            check_output_file(junit, "--junit")
        thresholds = [parse_threshold(t, "max_drop") for t in max_drop or []]
        thresholds += [parse_threshold(t, "min") for t in min_ or []]
        new_report = read_report(new)
        base = read_report(baseline) if baseline is not None else None
        result = run_gate(new_report, thresholds, base, alpha=alpha)
        checked = [new_report] + ([base] if base is not None else [])
        for line in stale_cw_warnings(checked, ["new", "baseline"][: len(checked)]):
            warn(line)
        print_gate(result)
        if junit is not None:
            write_all([(junit, lambda: atomic_write_text(junit, junit_xml(result)))])
            stdout.print(f"junit: {shown(junit)}", highlight=False)
        if not result.passed:
            raise SystemExit(1)

    guarded(run)
