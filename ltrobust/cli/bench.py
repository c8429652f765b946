"""``ltrobust bench``: PGD speed against its floor and torchattacks, a full audit split by attack,
and peak memory against ``--n``, in one run; a table on the terminal and, with ``--json``, a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from ltrobust.bench.config import BenchConfig, TrainBenchConfig
from ltrobust.cli.common import stderr, stdout
from ltrobust.cli.options import OptionSet, command, construct, flag_option
from ltrobust.cli.shared import command_line
from ltrobust.fileio import check_output_file, write_all

_NAMES = {
    "floor": "floor",
    "ours": "ours",
    "torchattacks": "torchattacks",
    "floor@bf16": "floor bf16",
    "ours@bf16": "ours bf16",
}


OPTIONS = OptionSet(BenchConfig)
JSON = flag_option(
    "json_path", Path | None, None, "--json", help="Write the results to this JSON file."
)
QUIET = flag_option("quiet", bool, False, "--quiet", help="No progress lines on stderr.")


def bench_config(values: dict[str, Any]) -> BenchConfig:
    """The run's config: training epochs are timed only with ``--train-arch`` (not empty);
    they use the benchmark's ``--seed``."""
    given = OPTIONS.given(values)
    train = given.pop("train", {})
    config: BenchConfig = construct(BenchConfig, given)
    if train.get("arch", "").strip():
        train["arch"] = train["arch"].strip()
        config.train = construct(TrainBenchConfig, {**train, "seed": config.attack.seed})
    return config


@command({"options": OPTIONS}, fixed=[JSON, QUIET])
def bench_command(json_path: Path | None, quiet: bool, options: dict[str, Any]) -> None:
    """Benchmark: our PGD against the floor of k forward+backward passes and torchattacks,
    a full audit split by attack, and peak memory at each --memory-n."""
    from ltrobust.bench.run import run_bench, write_results

    config = bench_config(options)
    config.validate()
    if json_path is not None:
        check_output_file(json_path, "--json")

    def event(msg: str) -> None:
        if not quiet:
            stderr.print(f"[dim]bench:[/] {msg}", highlight=False)

    results = run_bench(config, command=command_line(), on_event=event)
    if json_path is not None:
        write_all([(json_path, lambda: write_results(json_path, results))])
    print_results(results)
    if json_path is not None:
        stdout.print(f"results: {json_path}")


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
        caption="bf16: under torch.autocast(bfloat16), as audit --precision bf16"
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
    amp = f"autocast {train['amp_dtype'].replace('torch.', '')}" if train["amp"] else "fp32"
    steps = train["attack_steps"]
    inner = f" with PGD-{steps}" if steps is not None else " (no inner attack)"
    stdout.print(
        f"[bold]training[/]: {train['arch']}, --method {train['method']}{inner}, "
        f"{amp}, batch {train['batch_size']}, on {train['device']}; "
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
