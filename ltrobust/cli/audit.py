"""``ltrobust audit MODEL --dataset NAME``: attack a model, print the table, write the report.

The options are :class:`ltrobust.audit.config.AuditConfig`'s fields (declared there, once) plus
the CLI's own: the report folder, ``--quiet`` and the gate against a baseline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from ltrobust.attacks.registry import DEFAULT_ATTACKS
from ltrobust.audit.config import CACHE_DIRNAME, GATE, AuditConfig
from ltrobust.audit.config import OUTPUT as OUTPUT_PANEL
from ltrobust.cli.common import fail, shown, stderr, stdout, warn
from ltrobust.cli.config_file import CONFIG_FILE, PRINT_CONFIG, configured
from ltrobust.cli.modelinfo import model_line
from ltrobust.cli.options import OptionSet, command, flag_option
from ltrobust.cli.progress import make_progress
from ltrobust.cli.shared import ARCHS, MODEL, QUIET, command_line, default_out_dir
from ltrobust.cli.tables import print_gate, print_report_table
from ltrobust.fileio import check_output_dir, write_all
from ltrobust.report.text import visible

#: where --save-adv writes the adversarial images, in the report folder
ADV_FILE = "adversarial.safetensors"
#: the audit's default attack list as the CLI shows it
DEFAULT_ATTACK_TEXT = ",".join(DEFAULT_ATTACKS)
OPTIONS = OptionSet(AuditConfig, extra_help=ARCHS)
OUT = flag_option(
    "out",
    Path | None,
    None,
    "--out",
    help="Report directory (default: reports/<model>-<dataset>).",
    rich_help_panel=OUTPUT_PANEL,
    metavar="DIR",
)
BASELINE = flag_option(
    "baseline",
    Path | None,
    None,
    "--baseline",
    help="Gate against this report.json: no significant drop of the worst case, overall or "
    "in any group (for custom thresholds use `ltrobust gate`).",
    rich_help_panel=GATE,
    metavar="REPORT.JSON",
)
FAIL_ON_REGRESSION = flag_option(
    "fail_on_regression",
    bool,
    False,
    "--fail-on-regression",
    help="Exit 1 when the --baseline gate finds a regression.",
    rich_help_panel=GATE,
)


@command(
    {"options": OPTIONS},
    fixed=[MODEL, OUT, QUIET, BASELINE, FAIL_ON_REGRESSION, CONFIG_FILE, PRINT_CONFIG],
)
def audit_command(
    model: str | None,
    out: Path | None,
    quiet: bool,
    baseline: Path | None,
    fail_on_regression: bool,
    config_file: Path | None,
    print_config: bool,
    options: dict[str, Any],
) -> None:
    """Audit a model's clean and robust recall per class and per head/body/tail group."""
    from ltrobust.audit import audit
    from ltrobust.audit.api import cli_wording
    from ltrobust.report import write_per_class_csv, write_report_files

    config: AuditConfig
    config, fixed = configured(OPTIONS, options, config_file, print_config, model=model, out=out)
    model, out = fixed["model"], Path(fixed["out"]) if fixed["out"] is not None else None
    if model is None:
        fail("Missing argument 'MODEL' (the model file, or model = ... in --config)")
    check_output_dir(out if out is not None else default_out_dir(model, config.dataset or "data"))
    base = read_baseline(baseline, fail_on_regression)
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 talks

    caches: list[Path] = []

    def cache_dir(name: str) -> Path:
        folder = out if out is not None else check_output_dir(default_out_dir(model, name))
        caches.append(folder / CACHE_DIRNAME)
        return caches[-1]

    try:
        with make_progress(enabled=not quiet and main_process) as progress, cli_wording():
            report = audit(
                model,
                config=config,
                progress=progress,
                command=command_line(),
                cache_dir=cache_dir,
                baseline=base,
                save_adv_to=lambda name: cache_dir(name).parent / ADV_FILE,
            )
    except KeyboardInterrupt:
        interrupted(caches, main_process)
    if not main_process:
        return
    target = out if out is not None else default_out_dir(model, report.dataset["name"])
    done = write_all([(target / "report.json", lambda: report.save(str(target / "report.json")))])
    print_audit(report, config.resume)
    write_all(
        [
            (
                target / "per_class.csv",
                lambda: write_per_class_csv(report, str(target / "per_class.csv")),
            ),
            (target / "report.html and report.md", lambda: write_report_files(report, target)),
        ],
        written=done,
    )
    stdout.print(
        f"report: {shown(target / 'report.json')}  per-class: {shown(target / 'per_class.csv')}  "
        f"rendered: {shown(target / 'report.html')}, {shown(target / 'report.md')}"
    )
    if config.save_adv:
        stdout.print(f"adversarial images: {shown(target / ADV_FILE)}")
    if base is not None:
        gate_against(report, base, fail_on_regression)


def interrupted(caches: list[Path], main_process: bool) -> NoReturn:
    """Ctrl-C: say where the finished batches are and how to go on (exit 130)."""
    if main_process:
        line = "ltrobust: interrupted"
        if caches:
            line += (
                f"; finished batches are kept in {visible(caches[-1])}: rerun the same command "
                "with --resume"
            )
        print(line, file=sys.stderr, flush=True)
    raise SystemExit(130)


def print_audit(report: Any, resume: bool) -> None:
    """Warnings, how the run went, the table, the verdict and AutoAttack's tail targets."""
    from ltrobust.cli.verdict import (
        print_aa_targets,
        print_escalation,
        print_protocols,
        print_verdict,
    )

    for w in report.diagnostics.get("warnings", []):
        warn(w)
    checkpoint = report.provenance.get("checkpoint") or {}
    if checkpoint.get("format"):
        stdout.print(model_line(checkpoint), highlight=False, soft_wrap=True)
    print_execution(report, resume)
    print_report_table(report)
    print_verdict(report)
    print_protocols(report)
    print_escalation(report)
    print_aa_targets(report)


def print_execution(report: Any, resume: bool) -> None:
    """On stderr: how many finished batches a resumed audit reused, and the amp re-check."""
    ex = report.provenance.get("execution") or {}
    if resume and ex.get("batches") is not None:
        stderr.print(
            f"resume: reused {ex['reused']} of {ex['batches']} batches from {shown(ex['cache'])}",
            highlight=False,
            soft_wrap=True,
        )
    flips = (report.diagnostics.get("amp") or {}).get("flips") or {}
    if flips:
        total = sum(f["flipped"] for f in flips.values())
        each = ", ".join(f"{k}: {v['flipped']}" for k, v in flips.items())
        stderr.print(
            f"amp: the float32 re-check changed {total} verdicts of bfloat16 attacks ({each})",
            highlight=False,
            soft_wrap=True,
        )


def read_baseline(baseline: Path | None, fail_on_regression: bool) -> Any:
    """Read the baseline before auditing, so a bad file fails fast (exit 2)."""
    if baseline is None:
        if fail_on_regression:
            fail("--fail-on-regression needs --baseline REPORT.json")
        return None
    from ltrobust.report import read_report

    return read_report(baseline)


def gate_against(report: Any, base: Any, fail_on_regression: bool) -> None:
    """Run the default gate (ltrobust.report.gate.default_thresholds); exit 1 on regression
    with --fail-on-regression, else warn."""
    from ltrobust.report.compare import stale_cw_warnings
    from ltrobust.report.gate import default_thresholds, run_gate

    result = run_gate(report, default_thresholds(report), base)
    for line in stale_cw_warnings([base], ["baseline"]):
        warn(line)
    print_gate(result, title="gate vs baseline")
    if not result.passed:
        if fail_on_regression:
            raise SystemExit(1)
        warn("regression vs the baseline (pass --fail-on-regression to exit 1)")
