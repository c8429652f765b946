"""``ltrobust audit MODEL --dataset NAME``: attack a model, print the table, write the report."""

from __future__ import annotations

import enum
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ltrobust.cli.common import (
    GroupMode,
    Norm,
    fail,
    guarded,
    parse_floats,
    pct,
    stderr,
    stdout,
    warn,
)
from ltrobust.cli.progress import RichProgress

# the same list as ltrobust.audit.runner.DEFAULT_ATTACKS, not imported because that would load
# torch for every command (gate and report included); a test checks that they agree
DEFAULT_ATTACK_TEXT = "fgsm,pgd20,pgd100,mim,cw20,cw100,adaptive,adaptive-auto,aa"
#: the resume cache inside the report directory (ltrobust.audit.cache.CACHE_DIRNAME)
CACHE_DIRNAME = ".ltrobust-cache"


class Amp(str, enum.Enum):
    none = "none"
    bf16 = "bf16"


def default_out_dir(model: str, dataset: str) -> Path:
    stem = Path(model).stem or "model"
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset.split(":", 1)[-1].strip("/")) or "data"
    return Path("reports") / f"{stem}-{tag}"


def audit_command(
    model: Annotated[
        str, typer.Argument(help="ltrobust checkpoint, TorchScript file or state_dict (.pt).")
    ],
    dataset: Annotated[
        str | None,
        typer.Option(
            help="cifar10-lt, cifar100-lt, fashion-mnist-lt, folder:PATH or tensors:FILE.pt (default: the checkpoint's)."
        ),
    ] = None,
    attacks: Annotated[
        str,
        typer.Option(
            help="Comma-separated: fgsm, pgd20, pgd100, mim, cw20, cw100, adaptive, aa, aa-fast (pgdN/cwN too)."
        ),
    ] = DEFAULT_ATTACK_TEXT,
    norm: Annotated[Norm, typer.Option(help="Threat model norm.")] = Norm.linf,
    eps: Annotated[
        str | None, typer.Option(help="Budget, e.g. 8/255 (default: the dataset's).")
    ] = None,
    step: Annotated[
        str | None, typer.Option(help="Step size, e.g. 2/255 (default: the dataset's).")
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            "--num-samples",
            help="Audit a class-stratified subset of N test samples (under torchrun write "
            "--num-samples: torchrun takes --n for an abbreviation of its own options).",
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Batch size (results do not depend on it, except AutoAttack's).")
    ] = 256,
    seed: Annotated[int, typer.Option(help="Seed of random starts and subsets.")] = 0,
    groups: Annotated[
        GroupMode, typer.Option(help="thirds: head/body/tail; shot: many/medium/few.")
    ] = GroupMode.thirds,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    data_dir: Annotated[Path | None, typer.Option(help="Where the dataset files are.")] = None,
    imbalance_ratio: Annotated[
        float | None, typer.Option(help="n_max / n_min of the training profile.")
    ] = None,
    test_imbalanced: Annotated[
        bool, typer.Option(help="Use a long-tailed test set instead of the balanced one.")
    ] = False,
    class_counts: Annotated[
        Path | None, typer.Option(help="Training class counts: JSON list or CSV.")
    ] = None,
    arch: Annotated[str | None, typer.Option(help="Architecture of a plain state_dict.")] = None,
    num_classes: Annotated[
        int | None, typer.Option(help="Classes of a plain state_dict (default: inferred).")
    ] = None,
    mean: Annotated[
        str | None,
        typer.Option(help="Normalisation mean for a state_dict, e.g. 0.4914,0.4822,0.4465."),
    ] = None,
    std: Annotated[str | None, typer.Option(help="Normalisation std for a state_dict.")] = None,
    unsafe_load: Annotated[
        bool, typer.Option(help="Allow loading a pickled whole module (runs its code).")
    ] = False,
    output_key: Annotated[
        str | None,
        typer.Option(help="Key or index of the logits when the model returns a tuple/dict."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report directory (default: reports/<model>-<dataset>).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
    sweep: Annotated[bool, typer.Option(help="Run the kappa logit-rescaling sweep.")] = True,
    diagnostics: Annotated[
        bool, typer.Option(help="Zero-gradient ratios, sweep, sanity checks and the verdict.")
    ] = True,
    kappa: Annotated[
        str, typer.Option(help="Sweep grid START:STOP:STEP or a list; logits x 10^-kappa.")
    ] = "-2:2:0.5",
    inflation_threshold: Annotated[
        float, typer.Option(help="Points (fraction) PGD-20 may exceed the believed accuracy.")
    ] = 0.05,
    aa_gap: Annotated[float, typer.Option(help="PGD-20 minus AutoAttack that flags.")] = 0.08,
    kappa_gap: Annotated[
        float, typer.Option(help="PGD-20 minus the sweep's minimum that flags.")
    ] = 0.05,
    adaptive_gap: Annotated[
        float, typer.Option(help="PGD-20 minus the adaptive attacks that flags.")
    ] = 0.05,
    zero_grad_threshold: Annotated[
        float, typer.Option(help="Share of samples with an all-zero gradient that flags.")
    ] = 0.05,
    aa_tail_targets: Annotated[
        bool,
        typer.Option(
            help="Also run targeted APGD towards the tail classes (AutoAttack's top-9 targets "
            "seldom include them) on the samples every other attack left correct."
        ),
    ] = False,
    amp: Annotated[
        Amp,
        typer.Option(
            help="bf16: attacks iterate under bfloat16 autocast; every final adversarial "
            "example is re-checked in float32 (AutoAttack always runs in float32)."
        ),
    ] = Amp.none,
    channels_last: Annotated[
        bool, typer.Option(help="Channels-last memory format for the model and the batches.")
    ] = False,
    compile: Annotated[
        bool, typer.Option("--compile", help="Run the model through torch.compile.")
    ] = False,
    worst_only: Annotated[
        str | None,
        typer.Option(
            help="Attacks of --attacks that only feed the worst case: each attacks only the "
            "samples still robust at its turn (faster) and gets no row of its own."
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Reuse the finished batches of an interrupted audit with the same model, data "
            "and settings (kept in OUT/.ltrobust-cache)."
        ),
    ] = False,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Gate against this report.json: no significant drop of the worst case, overall "
            "or in any group (for custom thresholds use `ltrobust gate`)."
        ),
    ] = None,
    fail_on_regression: Annotated[
        bool, typer.Option(help="Exit 1 when the --baseline gate finds a regression.")
    ] = False,
) -> None:
    """Audit a model's clean and robust recall per class and per head/body/tail group."""

    def run() -> None:
        from ltrobust.attacks import parse_attack_list, parse_number
        from ltrobust.audit import audit
        from ltrobust.audit.diagnostics import Thresholds, parse_kappas
        from ltrobust.cli.verdict import print_aa_targets, print_verdict
        from ltrobust.data import load_class_counts
        from ltrobust.report import write_per_class_csv, write_report_files

        attack_list = parse_attack_list(attacks)
        base = _read_baseline(baseline, fail_on_regression)
        load_options = {
            "arch": arch,
            "num_classes": num_classes,
            "mean": parse_floats(mean, "--mean"),
            "std": parse_floats(std, "--std"),
            "unsafe_load": unsafe_load,
            "output_key": output_key,
        }
        counts = load_class_counts(class_counts) if class_counts is not None else None
        main_process = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 talks

        def cache_dir(name: str) -> Path:
            return (out if out is not None else default_out_dir(model, name)) / CACHE_DIRNAME

        with RichProgress(enabled=not quiet and main_process) as progress:
            report = audit(
                model,
                dataset,
                attack_list,
                norm=norm.value,
                eps=parse_number(eps, name="--eps") if eps is not None else None,
                step=parse_number(step, name="--step") if step is not None else None,
                batch_size=batch_size,
                seed=seed,
                groups=groups.value,
                device=device,
                n=n,
                data_dir=str(data_dir) if data_dir else None,
                imbalance_ratio=imbalance_ratio,
                test_imbalanced=test_imbalanced,
                class_counts=counts,
                load_options=load_options,
                progress=progress,
                command=shlex.join(["ltrobust", *sys.argv[1:]]),
                diagnose=diagnostics,
                sweep=sweep,
                kappas=parse_kappas(kappa),
                aa_tail_targets=aa_tail_targets,
                amp=amp.value,
                channels_last=channels_last,
                compile=compile,
                cache_dir=cache_dir,
                resume=resume,
                worst_only=worst_only,
                thresholds=Thresholds(
                    inflation=inflation_threshold,
                    aa_gap=aa_gap,
                    kappa_gap=kappa_gap,
                    adaptive_gap=adaptive_gap,
                    zero_grad=zero_grad_threshold,
                ),
            )
        if not main_process:
            return
        for w in report.diagnostics.get("warnings", []):
            warn(w)
        _print_execution(report, resume)
        print_report_table(report)
        print_verdict(report)
        print_aa_targets(report)
        target = out if out is not None else default_out_dir(model, report.dataset["name"])
        report.save(str(target / "report.json"))
        write_per_class_csv(report, str(target / "per_class.csv"))
        write_report_files(report, target)
        stdout.print(
            f"report: {target / 'report.json'}  per-class: {target / 'per_class.csv'}  "
            f"rendered: {target / 'report.html'}, {target / 'report.md'}"
        )
        if base is not None:
            _gate_against(report, base, fail_on_regression)

    guarded(run)


def _print_execution(report, resume: bool) -> None:  # noqa: ANN001
    """On stderr: how many finished batches a resumed audit reused, and the amp re-check."""
    ex = report.provenance.get("execution") or {}
    if resume and ex.get("batches") is not None:
        stderr.print(
            f"resume: reused {ex['reused']} of {ex['batches']} batches from {ex['cache']}",
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


def _read_baseline(baseline: Path | None, fail_on_regression: bool):  # noqa: ANN202
    """Read the baseline before auditing, so a bad file fails fast (exit 2)."""
    if baseline is None:
        if fail_on_regression:
            fail("--fail-on-regression needs --baseline REPORT.json")
        return None
    from ltrobust.report import read_report

    return read_report(baseline)


def _gate_against(report, base, fail_on_regression: bool) -> None:  # noqa: ANN001
    """Run the default gate (ltrobust.report.gate.default_thresholds); exit 1 on regression
    with --fail-on-regression, else warn."""
    from ltrobust.cli.gate import print_gate
    from ltrobust.report.gate import default_thresholds, run_gate

    result = run_gate(report, default_thresholds(report), base)
    print_gate(result, title="gate vs baseline")
    if not result.passed:
        if fail_on_regression:
            raise SystemExit(1)
        warn("regression vs the baseline (pass --fail-on-regression to exit 1)")


def print_report_table(report) -> None:  # noqa: ANN001 - AuditReport, imported lazily
    """Rows clean / attacks / worst case; columns overall, each group, worst class."""
    from ltrobust.report import headline_rows

    ds, cfg = report.dataset, report.config
    groups = list(ds["groups"])
    title = f"{ds['name']} · n={ds['n']} · {cfg['norm']} eps={cfg['eps']:.4g} · recall %"
    counts = ds["class_counts"]
    caption = " · ".join(
        f"{g}: classes {','.join(map(str, c))} ({max(counts[i] for i in c)}–{min(counts[i] for i in c)} train)"
        for g, c in ds["groups"].items()
        if c
    )
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column("", style="bold")
    for col in ["overall", *groups, "worst class"]:
        table.add_column(col, justify="right")
    table.add_column("time", justify="right", style="dim")
    for row in headline_rows(report):
        worst = pct(row["worst_class"])
        if row["worst_class_name"] is not None:
            worst = f"{worst} ({row['worst_class_name']})"
        style = "bold" if row["outcome"] == "worst" else None
        name = "worst case" if row["outcome"] == "worst" else row["outcome"]
        table.add_row(
            name,
            pct(row["overall"]),
            *[pct(row[g]) for g in groups],
            worst,
            f"{row['seconds']:.1f}s",
            style=style,
        )
    stdout.print(table)
