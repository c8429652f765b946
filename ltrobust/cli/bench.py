"""``ltrobust bench``: PGD speed against its floor and torchattacks, a full audit split by attack,
and peak memory against ``--n``, in one run; a table on the terminal and, with ``--json``, a file.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ltrobust.cli.common import guarded, stderr, stdout

_NAMES = {
    "floor": "floor",
    "ours": "ours",
    "torchattacks": "torchattacks",
    "floor@bf16": "floor bf16",
    "ours@bf16": "ours bf16",
}


def bench_command(
    arch: Annotated[
        str, typer.Option(help="Architectures to time, comma-separated ('' skips the timing).")
    ] = "small_cnn,resnet18",
    batch_size: Annotated[int, typer.Option(help="Batch size (timing and audits).")] = 256,
    steps: Annotated[int, typer.Option(help="PGD steps k; the floor is k passes.")] = 20,
    repeats: Annotated[int, typer.Option(help="Timed rounds per architecture.")] = 5,
    warmup: Annotated[int, typer.Option(help="Untimed rounds first.")] = 1,
    threads: Annotated[
        int | None, typer.Option(help="torch intra-op threads (default: torch's current).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    eps: Annotated[str, typer.Option(help="L-inf budget of the timed PGD.")] = "8/255",
    step: Annotated[str, typer.Option(help="Step size of the timed PGD.")] = "2/255",
    input_shape: Annotated[
        str,
        typer.Option(help="CxHxW of the timed batch; auto: 1x28x28 for small_cnn, else 3x32x32."),
    ] = "auto",
    precision: Annotated[
        str, typer.Option(help="Precisions of the timed attacks: fp32, bf16 or fp32,bf16.")
    ] = "fp32",
    channels_last: Annotated[
        bool, typer.Option(help="Model and inputs in channels-last memory (timing and audit).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the random weights, batch and starts.")] = 0,
    audit_n: Annotated[
        int, typer.Option(help="Samples of the full default audit (0 skips it).")
    ] = 1000,
    audit_model: Annotated[Path, typer.Option(help="Model of the audit and memory runs.")] = Path(
        "checkpoints/small_cnn-reat-fmnist-lt.pt"
    ),
    audit_dataset: Annotated[
        str | None, typer.Option(help="Dataset of the audit (default: the checkpoint's).")
    ] = None,
    audit_attacks: Annotated[
        str | None, typer.Option(help="Attacks of the audit (default: the audit's default list).")
    ] = None,
    audit_amp: Annotated[str, typer.Option(help="--amp of the audit: none or bf16.")] = "none",
    audit_extrapolate: Annotated[
        int, typer.Option(help="Also scale the audit's time to this many samples (0: don't).")
    ] = 10000,
    data_dir: Annotated[Path | None, typer.Option(help="Where the dataset files are.")] = None,
    memory_n: Annotated[
        str, typer.Option(help="Sizes n for peak memory, one fresh process each ('' skips).")
    ] = "1000,10000",
    train_arch: Annotated[
        str,
        typer.Option(help="Time training epochs of this architecture ('' skips; e.g. resnet18)."),
    ] = "",
    train_method: Annotated[
        str, typer.Option(help="Training method (at, trades, robal, reat).")
    ] = "at",
    train_like: Annotated[
        str, typer.Option(help="Synthetic training data shaped like this preset's LT set.")
    ] = "cifar10-lt",
    train_steps: Annotated[int, typer.Option(help="Inner PGD steps of the training.")] = 10,
    train_amp: Annotated[bool, typer.Option(help="Train with --amp.")] = True,
    train_epochs: Annotated[
        int, typer.Option(help="Epochs timed (the last one is the headline).")
    ] = 2,
    train_batch_size: Annotated[
        int | None, typer.Option(help="Training batch size (default: the method's, 128 for at).")
    ] = None,
    train_n_max: Annotated[
        int | None, typer.Option(help="Head-class images (default: the preset's).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the results to this JSON file.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines on stderr.")] = False,
) -> None:
    """Benchmark: our PGD against the floor of k forward+backward passes and torchattacks,
    a full audit split by attack, and peak memory at each --memory-n."""

    def run() -> None:
        from ltrobust.attacks import parse_attack_list, parse_number
        from ltrobust.bench import (
            AttackBenchConfig,
            BenchConfig,
            parse_shape,
            run_bench,
            write_results,
        )
        from ltrobust.bench.memory import parse_sizes
        from ltrobust.bench.train_time import TrainBenchConfig

        config = BenchConfig(
            archs=[a.strip() for a in arch.split(",") if a.strip()],
            attack=AttackBenchConfig(
                batch_size=batch_size,
                steps=steps,
                repeats=repeats,
                warmup=warmup,
                eps=parse_number(eps, name="--eps"),
                step_size=parse_number(step, name="--step"),
                seed=seed,
                input_shape=parse_shape(input_shape),
                precisions=tuple(p.strip() for p in precision.split(",") if p.strip()),
                channels_last=channels_last,
            ),
            threads=threads,
            device=device,
            audit_n=audit_n,
            audit_model=str(audit_model),
            audit_dataset=audit_dataset,
            audit_attacks=parse_attack_list(audit_attacks) if audit_attacks else None,
            audit_amp=audit_amp,
            audit_extrapolate=audit_extrapolate,
            data_dir=str(data_dir) if data_dir else None,
            memory_sizes=parse_sizes(memory_n),
            train=TrainBenchConfig(
                arch=train_arch.strip(),
                method=train_method,
                like=train_like,
                steps=train_steps,
                amp=train_amp,
                epochs=train_epochs,
                n_max=train_n_max,
                batch_size=train_batch_size,
                seed=seed,
            )
            if train_arch.strip()
            else None,
        )
        config.validate()

        def event(msg: str) -> None:
            if not quiet:
                stderr.print(f"[dim]bench:[/] {msg}", highlight=False)

        results = run_bench(config, command=shlex.join(["ltrobust", *sys.argv[1:]]), on_event=event)
        if json_path is not None:
            write_results(json_path, results)
        print_results(results)
        if json_path is not None:
            stdout.print(f"results: {json_path}")

    guarded(run)


def print_results(results: dict[str, Any]) -> None:
    """The benchmark's tables on stdout."""
    m = results["machine"]
    stdout.print(
        f"[bold]machine[/]: {m['cpu']} ({m['cpu_count']} logical CPUs), device {m['device']}"
        + (f" ({m['gpu']})" if m.get("gpu") else "")
        + f", {m['threads']} threads, torch {m['versions']['torch']}",
        highlight=False,
    )
    for row in results["attack"]:
        _print_attack(row, results["settings"]["attack"])
    if results.get("audit"):
        _print_audit(results["audit"])
    if results.get("memory"):
        _print_memory(results["memory"])
    if results.get("train"):
        _print_train(results["train"])


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _rate(per_s: float | None) -> str:
    """Images per second: whole numbers, one decimal below 100 (a CPU's slow rates)."""
    if per_s is None:
        return "—"
    return f"{per_s:,.1f}" if per_s < 100 else f"{per_s:,.0f}"


def _print_attack(row: dict[str, Any], settings: dict[str, Any]) -> None:
    shape = "x".join(str(s) for s in row["input_shape"])
    table = Table(
        title=f"{row['arch']} ({row['weights'].split(';')[0]}), batch {settings['batch_size']}"
        f" x {shape}, k = {settings['steps']} steps: seconds per attack call",
        title_justify="left",
        caption="bf16: under torch.autocast(bfloat16), as audit --amp bf16"
        if any("@bf16" in k for k in row["results"])
        else None,
        caption_justify="left",
    )
    for col in ("", "median s", "min s", "cpu s", "images/s", "x floor"):
        table.add_column(col, justify="left" if not col else "right")
    ratios = row["ratios"]
    for key, res in row["results"].items():
        name, _, prec = key.partition("@")
        floor = "floor@" + prec if prec else "floor"
        vs = 1.0 if name == "floor" else ratios.get(f"{key}_vs_{floor}", {}).get("median")
        ips = res.get("images_per_s")
        table.add_row(
            _NAMES.get(key, key),
            f"{res['median_s']:.3f}",
            f"{res['min_s']:.3f}",
            f"{res['cpu_median_s']:.3f}",
            _rate(ips),
            _ratio(vs),
        )
    stdout.print(table)
    speedup = ratios.get("fp32_vs_bf16", {}).get("median")
    if speedup is not None:
        stdout.print(f"bf16 autocast speed-up of our attack: x{speedup:.2f}", highlight=False)
    ovh = row.get("overhead")
    if ovh:
        stdout.print(
            f"our attack's own work (checks, seeds, random start, steps, projections), timed on "
            f"a near-free model: {1000 * ovh['seconds']:.1f} ms per call = "
            f"{100 * ovh['vs_floor']:.2f}% of the floor",
            highlight=False,
        )
    checks = Table(title=f"{row['arch']}: ratios against the targets", title_justify="left")
    for col in ("ratio", "median", "min", "cpu", "target", "result"):
        checks.add_column(col, justify="left" if col == "ratio" else "right")
    for key, target in row["targets"].items():
        r = ratios.get(key)
        if r is None:
            checks.add_row(key, "—", "—", "—", f"≤ {target:.2f}", "[dim]not run[/]")
            continue
        ok = row["passed"].get(key)
        verdict = "[green]pass[/]" if ok else "[red]FAIL[/]" if ok is False else "—"
        cells = [_ratio(r["median"]), _ratio(r["min"]), _ratio(r["cpu"])]
        checks.add_row(key, *cells, f"≤ {target:.2f}", verdict)
    stdout.print(checks)


def _print_audit(audit: dict[str, Any]) -> None:
    total = audit["total_s"]
    table = Table(
        title=f"audit of {audit['model']} on {audit['n']} samples of {audit['dataset']}: "
        f"{total:.1f} s wall",
        title_justify="left",
    )
    for col in ("phase", "seconds", "share"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    rows = [("clean", audit["clean_s"])]
    rows += list(audit["attacks_s"].items())
    rows += [(f"diagnostics: {k}", v) for k, v in audit["diagnostics_s"].items()]
    rows += [("other (loading, sweep clean passes, checks, verdict)", audit["other_s"])]
    for name, secs in rows:
        table.add_row(name, f"{secs:.2f}", f"{100 * secs / total:.1f}%" if total else "—")
    stdout.print(table)
    ext = audit.get("extrapolated")
    if ext:
        stdout.print(
            f"extrapolated to {ext['n']:,} samples: {ext['total_s']:,.0f} s "
            f"({ext['total_s'] / 3600:.2f} h) — {ext['method']}, not measured",
            highlight=False,
        )


def _print_memory(memory: dict[str, Any]) -> None:
    table = Table(title="peak memory of an audit (fresh process per n)", title_justify="left")
    cols = ("n", "attack", "peak RSS MiB", "RSS after imports MiB", "audit's own MiB")
    for col in (*cols, "seconds"):
        table.add_column(col, justify="right")
    for run in memory["runs"]:
        now, own = run.get("rss_after_imports_mib"), run.get("audit_mib")
        table.add_row(
            str(run["n"]),
            run["attack"],
            f"{run['peak_rss_mib']:.1f}",
            "—" if now is None else f"{now:.1f}",
            "—" if own is None else f"{own:.1f}",
            f"{run['seconds']:.1f}",
        )
    stdout.print(table)
    sources = {run.get("peak_source") for run in memory["runs"]}
    stdout.print(f"peak: {', '.join(str(s) for s in sources)}", highlight=False)
    if "growth_mib" in memory:
        stdout.print(
            f"growth of the peak from first to last n: {memory['growth_mib']:+.1f} MiB "
            f"(the extra input pixels alone: {memory['input_tensor_growth_mib']:.1f} MiB)",
            highlight=False,
        )


def _print_train(train: dict[str, Any]) -> None:
    amp = f"--amp ({train['amp_dtype'].replace('torch.', '')})" if train["amp"] else "fp32"
    stdout.print(
        f"[bold]training[/]: {train['arch']}, --method {train['method']} with PGD-"
        f"{train['attack_steps']}, {amp}, batch {train['batch_size']}, on {train['device']}; "
        f"{train['images']:,} images of random pixels shaped like {train['like']}'s "
        "long-tailed training set",
        highlight=False,
    )
    table = Table(title="seconds per epoch", title_justify="left")
    for col in ("epoch", "seconds", "images/s"):
        table.add_column(col, justify="right")
    for i, secs in enumerate(train["epochs_s"], start=1):
        table.add_row(str(i), f"{secs:.2f}", _rate(train["images"] / secs if secs else None))
    stdout.print(table)
    verdict = {True: "[green]pass[/]", False: "[red]FAIL[/]"}.get(train["passed"], "n/a")
    stdout.print(
        f"seconds per epoch (the last): {train['epoch_s']:.2f}; target ≤ "
        f"{train['target_s']:.0f} s on an H100: {verdict}"
        + ("" if train["target_applies"] else " (not an H100)")
        + f"; {train['reference']}",
        highlight=False,
    )
