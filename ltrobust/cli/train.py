"""``ltrobust train --method M --dataset D``: train a robust model, write last.pt / final.pt.

Every option defaults to None here, meaning "not given": a fresh run takes the method's and the
dataset's defaults (METHODS §4), a resumed run the checkpoint's values, and an explicit value
that differs from the checkpoint is refused.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ltrobust.cli.common import guarded, pct, stdout
from ltrobust.cli.progress import RichProgress

Opt = typer.Option
HYPER = "Method hyper-parameters"
COMMON = "Training"
RUN = "Run"


class TrainProgress(RichProgress):
    """Rich bars per epoch and per monitoring attack, and one summary line per epoch."""

    def epoch_end(self, row: dict[str, Any]) -> None:
        self.progress.console.print(epoch_line(row), highlight=False)


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


def _numbers(given: dict[str, Any], keys: tuple[str, ...]) -> None:
    from ltrobust.attacks import parse_number

    for key in keys:
        if given.get(key) is not None:
            given[key] = parse_number(given[key], name="--" + key.replace("_", "-"))


def train_command(
    method: Annotated[
        str | None, Opt(help="at, trades, robal or reat.", rich_help_panel=COMMON)
    ] = None,
    dataset: Annotated[
        str | None,
        Opt(
            help="cifar10-lt, cifar100-lt, fashion-mnist-lt or tensors:FILE.pt / folder:PATH.",
            rich_help_panel=COMMON,
        ),
    ] = None,
    arch: Annotated[
        str | None,
        Opt(
            help="Architecture (default: small_cnn for fashion-mnist-lt, else resnet18).",
            rich_help_panel=COMMON,
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        Opt(help="Epochs [80]; lr x0.1 after 75% and 93.75% of them.", rich_help_panel=COMMON),
    ] = None,
    lr: Annotated[
        float | None, Opt(help="SGD learning rate [0.1].", rich_help_panel=COMMON)
    ] = None,
    momentum: Annotated[
        float | None, Opt(help="SGD momentum [0.9].", rich_help_panel=COMMON)
    ] = None,
    weight_decay: Annotated[
        float | None,
        Opt(help="Weight decay [at/reat 5e-4, robal/trades 2e-4].", rich_help_panel=COMMON),
    ] = None,
    batch_size: Annotated[
        int | None, Opt(help="Global batch size [robal 64, others 128].", rich_help_panel=COMMON)
    ] = None,
    eps: Annotated[
        str | None,
        Opt(
            help="L-inf budget of the inner attack, e.g. 8/255 [dataset's].", rich_help_panel=COMMON
        ),
    ] = None,
    attack_step: Annotated[
        str | None, Opt(help="Inner attack step size [dataset's].", rich_help_panel=COMMON)
    ] = None,
    attack_steps: Annotated[
        int | None, Opt(help="Inner attack steps [robal 5, others 10].", rich_help_panel=COMMON)
    ] = None,
    seed: Annotated[
        int | None,
        Opt(
            help="Seed of weights, data order, augmentation, random starts [0].",
            rich_help_panel=COMMON,
        ),
    ] = None,
    amp: Annotated[
        bool | None,
        Opt(
            "--amp/--no-amp",
            help="Mixed precision (fp16 + GradScaler on CUDA, bf16 on CPU).",
            rich_help_panel=COMMON,
        ),
    ] = None,
    amp_dtype: Annotated[
        str | None, Opt(help="auto, fp16 or bf16 [auto].", rich_help_panel=COMMON)
    ] = None,
    imbalance_ratio: Annotated[
        float | None,
        Opt(help="n_max / n_min of the training profile [dataset's].", rich_help_panel=COMMON),
    ] = None,
    n_max: Annotated[
        int | None,
        Opt(help="Training images of the head class [dataset's].", rich_help_panel=COMMON),
    ] = None,
    crop_padding: Annotated[
        int | None,
        Opt(help="Random-crop padding [dataset's; 0 for custom data].", rich_help_panel=COMMON),
    ] = None,
    hflip: Annotated[
        bool | None,
        Opt(
            "--hflip/--no-hflip",
            help="Random horizontal flips [dataset's].",
            rich_help_panel=COMMON,
        ),
    ] = None,
    test_dataset: Annotated[
        str | None,
        Opt(
            help="Monitoring test set for custom training data (tensors:FILE.pt).",
            rich_help_panel=COMMON,
        ),
    ] = None,
    monitor_n: Annotated[
        int | None,
        Opt(help="Test images monitored each epoch, 0 = none [1000].", rich_help_panel=COMMON),
    ] = None,
    monitor_attack: Annotated[
        str | None, Opt(help="Monitoring attack, pgdN [pgd20].", rich_help_panel=COMMON)
    ] = None,
    loss: Annotated[
        str | None,
        Opt(
            help="Outer loss of at/reat: ce, bsl, la, ldam, cb, focal [at ce, reat bsl].",
            rich_help_panel=HYPER,
        ),
    ] = None,
    la_tau: Annotated[float | None, Opt(help="la: tau [1.0].", rich_help_panel=HYPER)] = None,
    ldam_max_m: Annotated[
        float | None, Opt(help="ldam: largest margin [0.5].", rich_help_panel=HYPER)
    ] = None,
    ldam_scale: Annotated[
        float | None, Opt(help="ldam: logit scale [1.0].", rich_help_panel=HYPER)
    ] = None,
    cb_beta: Annotated[
        float | None, Opt(help="cb: beta of the effective number [0.9999].", rich_help_panel=HYPER)
    ] = None,
    focal_gamma: Annotated[
        float | None, Opt(help="focal: gamma [2.0].", rich_help_panel=HYPER)
    ] = None,
    beta: Annotated[
        float | None, Opt(help="KL weight of trades [6] and robal [preset].", rich_help_panel=HYPER)
    ] = None,
    preset: Annotated[
        str | None,
        Opt(help="robal: cifar10-N, cifar10-R, cifar100-N, cifar100-R.", rich_help_panel=HYPER),
    ] = None,
    head_scale: Annotated[
        float | None, Opt(help="robal: cosine scale s [10].", rich_help_panel=HYPER)
    ] = None,
    head_gamma: Annotated[
        str | None,
        Opt(help="robal: gamma of the weight norms, e.g. 1/32 [preset].", rich_help_panel=HYPER),
    ] = None,
    m0: Annotated[
        float | None, Opt(help="robal: uniform margin m0 [preset].", rich_help_panel=HYPER)
    ] = None,
    tau_m: Annotated[
        float | None, Opt(help="robal: class-aware margin tau_m [preset].", rich_help_panel=HYPER)
    ] = None,
    tau_b: Annotated[
        float | None, Opt(help="robal: training bias tau_b [preset].", rich_help_panel=HYPER)
    ] = None,
    tau_p: Annotated[
        float | None,
        Opt(
            help="robal: inference bias tau_p (stored in the checkpoint) [preset].",
            rich_help_panel=HYPER,
        ),
    ] = None,
    tail_form: Annotated[
        str | None,
        Opt(
            help="reat: TAIL as the official code (official) or the paper (paper) [official].",
            rich_help_panel=HYPER,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        Opt(
            help="Output folder [checkpoints/<method>-<dataset>-<arch>; with --resume its folder].",
            rich_help_panel=RUN,
        ),
    ] = None,
    resume: Annotated[
        Path | None, Opt(help="Continue the run of this last.pt exactly.", rich_help_panel=RUN)
    ] = None,
    stop_after: Annotated[
        int | None,
        Opt(help="Stop after this epoch (continue later with --resume).", rich_help_panel=RUN),
    ] = None,
    overwrite: Annotated[
        bool, Opt(help="Start afresh even if --out holds a run.", rich_help_panel=RUN)
    ] = False,
    device: Annotated[
        str,
        Opt(
            help="auto, cpu, cuda or cuda:N (under torchrun: cuda:LOCAL_RANK).", rich_help_panel=RUN
        ),
    ] = "auto",
    data_dir: Annotated[
        Path | None, Opt(help="Where the dataset files are.", rich_help_panel=RUN)
    ] = None,
    quiet: Annotated[bool, Opt(help="No progress bars.", rich_help_panel=RUN)] = False,
) -> None:
    """Train a robust model on long-tailed data: at (+ long-tailed losses), trades, robal, reat."""
    given = {k: v for k, v in locals().items() if k not in _RUN_KEYS}

    def run() -> None:
        from ltrobust.train import RunOptions, resolve_config, train
        from ltrobust.train.checkpoint import resume_config

        _numbers(given, ("eps", "attack_step", "head_gamma"))
        if resume is not None:
            config = resume_config(resume, given)
        else:
            if given["method"] is None or given["dataset"] is None:
                raise _usage("give --method and --dataset (or --resume last.pt)")
            settings = {k: v for k, v in given.items() if k not in ("method", "dataset")}
            config = resolve_config(given["method"], given["dataset"], settings)
        target = out or (resume.parent if resume is not None else None)
        target = target or default_out(config.method, config.dataset, config.arch)
        options = RunOptions(
            out=target,
            device=device,
            data_dir=str(data_dir) if data_dir else None,
            resume=resume,
            stop_after=stop_after,
            overwrite=overwrite,
            command=shlex.join(["ltrobust", *sys.argv[1:]]),
        )
        main_process = os.environ.get("RANK", "0") == "0"
        with TrainProgress(enabled=not quiet and main_process) as progress:
            result = train(config, options, progress)
        if not main_process:
            return
        if result.final_path is not None:
            stdout.print(f"final: {result.final_path}  (audit: ltrobust audit {result.final_path})")
        else:
            stdout.print(
                f"stopped after epoch {result.epochs_done}: resume with --resume {result.last_path}"
            )

    guarded(run)


_RUN_KEYS = ("out", "resume", "stop_after", "overwrite", "device", "data_dir", "quiet")


def _usage(message: str) -> Exception:
    from ltrobust.errors import ConfigError

    return ConfigError(message)
