"""``ltrobust train --method M --dataset D``: train a robust model, write last.pt / final.pt.

The options are declared once: :class:`ltrobust.train.config.TrainConfig` (what the run
computes), :class:`ltrobust.train.config.RunOptions` (how it runs) and every method's
hyper-parameters, the fields of the options class its row of
:data:`ltrobust.train.registry.METHODS` names. Every option defaults to "not given": a fresh run
takes the method's and the dataset's defaults (docs/METHODS.md §4), a resumed run the
checkpoint's values, and an explicit value that differs from the checkpoint is refused.
A resumed run also keeps the run's ``--save-format`` (stored in ``last.pt``) unless given.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from ltrobust.cli.common import pct, shown, stdout, warn
from ltrobust.cli.config_file import CONFIG_FILE, with_file
from ltrobust.cli.options import Option, OptionSet, command, options_of
from ltrobust.cli.progress import RichProgress
from ltrobust.cli.shared import ARCHS, QUIET, command_line
from ltrobust.errors import ConfigError
from ltrobust.train.config import RunOptions, TrainConfig
from ltrobust.train.registry import METHODS


def method_options() -> list[Option]:
    """One option per hyper-parameter of any method (the first method's declaration of a name
    wins); its help names the methods using it and their defaults."""
    users: dict[str, list[str]] = {}
    first: dict[str, Option] = {}
    for entry in METHODS:
        for o in options_of(entry.settings.options):
            shown = o.setting.show or ("none" if o.default is None else o.default)
            users.setdefault(o.param, []).append(f"{entry.name} {shown}")
            first.setdefault(o.param, o)
    return [
        replace(
            o,
            default=None,
            setting=replace(o.setting, show="; ".join(users[o.param])),
        )
        for o in first.values()
    ]


CONFIG = OptionSet(
    TrainConfig,
    exclude=("options",),
    extra_help={
        "method": "; ".join(f"{e.name}: {e.description}" for e in METHODS) + ".",
        **ARCHS,
    },
)
HYPER = OptionSet(method_options())
RUN = OptionSet(RunOptions)


class TrainProgress(RichProgress):
    """Rich bars per epoch and per monitoring attack, and one summary line per epoch."""

    def epoch_end(self, row: dict[str, Any]) -> None:
        self.progress.console.print(epoch_line(row), highlight=False)
        if row.get("monitor_collapsed"):
            warn(collapse_warning(row))


def collapse_warning(row: dict[str, Any]) -> str:
    """The warning for an epoch whose monitored clean predictions collapsed."""
    return (
        f"epoch {row['epoch']}: the model's clean predictions on the monitor set look collapsed "
        f"(one class takes {pct(row.get('monitor_top_share'))}% of them, balanced recall "
        f"{pct(row.get('monitor_balanced'))}%): check the learning rate and the loss"
    )


def epoch_line(row: dict[str, Any]) -> str:
    """One line: loss terms, train clean/adversarial accuracy, monitoring recall per group."""
    skip = {"epoch", "lr", "seconds", "loss", "train_clean_acc", "train_adv_acc"}
    terms = [
        f"{k} {v:.4f}" for k, v in row.items() if k not in skip and not k.startswith("monitor")
    ]
    text = f"epoch {row['epoch']}: loss {row['loss']:.4f}"
    text += f" ({', '.join(terms)})" if terms else ""
    text += f" · train clean {pct(row['train_clean_acc'])}% adv {pct(row['train_adv_acc'])}%"
    for key in [k for k in row if re.fullmatch(r"monitor_.+_acc", k)]:
        label = key[len("monitor_") : -len("_acc")]
        groups = [
            f"{k.rsplit('_', 1)[1]} {pct(v)}"
            for k, v in row.items()
            if k.startswith(f"monitor_{label}_") and k != key
        ]
        text += f" · test {label} {pct(row[key])}% ({' / '.join(groups)})"
    return text + f" · {row['seconds']:.0f}s lr {row['lr']:.3g}"


def default_out(method: str, dataset: str, arch: str) -> Path:
    """``checkpoints/<method>-<dataset>-<arch>`` (custom dataset names sanitised)."""
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset.split(":", 1)[-1].strip("/")) or "data"
    return Path("checkpoints") / f"{method}-{tag}-{arch}"


def train_config(given: dict[str, Any], resume: Path | None) -> TrainConfig:
    """The run's config: the checkpoint's when resuming (explicit values must agree), else
    resolved from the explicit values and the defaults."""
    from ltrobust.train.resolve import resolve_config, resume_config

    if resume is not None:
        return resume_config(resume, given)
    if given.get("method") is None or given.get("dataset") is None:
        raise ConfigError("give --method and --dataset (or --resume last.pt)")
    return resolve_config(given["method"], given["dataset"], given)


@command({"config": CONFIG, "hyper": HYPER, "run": RUN}, fixed=[QUIET, CONFIG_FILE])
def train_command(
    quiet: bool,
    config_file: Path | None,
    config: dict[str, Any],
    hyper: dict[str, Any],
    run: dict[str, Any],
) -> None:
    """Train a robust model on long-tailed data (methods: see --method)."""
    from ltrobust.train.loop import train

    sets = {"config": (CONFIG, config), "hyper": (HYPER, hyper), "run": (RUN, run)}
    merged = with_file(config_file, sets)
    config, hyper, run = merged["config"], merged["hyper"], merged["run"]
    given = {**CONFIG.given(config), **HYPER.given(hyper)}
    run_given = RUN.given(run)
    resume = run_given.get("resume")
    cfg = train_config(given, Path(resume) if resume is not None else None)
    target = run_given.get("out") or (Path(resume).parent if resume is not None else None)
    target = target or default_out(cfg.method, cfg.dataset, cfg.arch)
    options = RUN.build(run, out=Path(target), command=command_line())
    main_process = os.environ.get("RANK", "0") == "0"
    with TrainProgress(enabled=not quiet and main_process) as progress:
        result = train(cfg, options, progress)
    if not main_process:
        return
    if result.final_path is not None:
        final = shown(result.final_path)
        stdout.print(f"final: {final}  (audit: ltrobust audit {final})")
        if result.save_format == "safetensors":
            stdout.print(f"also: {shown(result.final_path.with_suffix('.safetensors'))}")
    else:
        stdout.print(
            f"stopped after epoch {result.epochs_done}: resume with --resume {shown(result.last_path)}"
        )
