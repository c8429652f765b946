"""The generic training loop: epochs, schedule, augmentation, monitoring, checkpoints, resume, DDP.

The loop only talks to a :class:`~ltrobust.train.base.TrainMethod` through ``prepare``,
``training_step``, ``end_epoch``, ``logit_adjustment`` and the method state; it never knows
which method it runs.

Randomness. The data order comes from a ``DistributedSampler`` seeded with ``seed`` (and the
epoch); augmentation and the attacks' random starts from a ``torch.Generator`` per process
seeded from (``seed``, rank). Dropout cannot take a generator, so the loop seeds torch's global
RNG from (``seed``, rank) before building the model (which also fixes the initial weights): the
one place the library seeds global state. Both states are stored in ``last.pt``, so that on the
CPU a run interrupted after any epoch and resumed ends with bit-identical weights.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data.distributed import DistributedSampler

from ltrobust.attacks.rng import salt_of, sample_seeds
from ltrobust.data.loading import load_train_data
from ltrobust.errors import ConfigError, DataError
from ltrobust.fileio import check_output_dir, write_all
from ltrobust.metrics.recall import ConfusionAccumulator
from ltrobust.models.build import create_model
from ltrobust.models.safetensors_io import require_safetensors
from ltrobust.models.wrappers import LogitAdjusted
from ltrobust.runtime import dist
from ltrobust.runtime.precision import amp_dtype, autocast_factory, build_scaler
from ltrobust.runtime.progress import TrainProgress
from ltrobust.train.augment import Augmentation
from ltrobust.train.base import TrainData, TrainView
from ltrobust.train.checkpoint import (
    CheckpointInfo,
    ResumeState,
    load_scheduler,
    read_resume,
    resume_extra,
    rng_state,
    save_training_checkpoint,
    set_rng_state,
)
from ltrobust.train.config import SAVE_FORMATS, RunOptions, TrainConfig
from ltrobust.train.history import write_adv_counts, write_history
from ltrobust.train.monitor import evaluate, load_monitor
from ltrobust.train.registry import build_method
from ltrobust.train.schedule import build_optimizer

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Where the files are and what happened."""

    out_dir: Path
    last_path: Path
    final_path: Path | None
    history: list[dict[str, Any]]
    epochs_done: int
    save_format: str = "pt"


def derive_seed(seed: int, rank: int, stream: str) -> int:
    """A 63-bit seed for ``stream`` (``"global"``, ``"generator"``) of process ``rank``."""
    return int(sample_seeds(seed, salt_of(stream), torch.tensor([rank]))[0])


def train(
    config: TrainConfig, run: RunOptions, callback: TrainProgress | None = None
) -> TrainResult:
    """Train ``config`` (fresh, or continuing ``run.resume``); see the module doc.

    Raises:
        ConfigError, DataError, ModelLoadError: bad options, missing data, unreadable or
            mismatching resume checkpoint, output folder holding another run.
    """
    config.validate()
    if run.stop_after is not None and run.stop_after < 1:
        raise ConfigError(f"--stop-after must be >= 1, got {run.stop_after}")
    if run.save_format is not None and run.save_format not in SAVE_FORMATS:
        raise ConfigError(f"unknown --save-format {run.save_format!r}; valid: pt, safetensors")
    ctx = dist.setup(run.device)
    try:
        return _Trainer(config, run, ctx, callback if ctx.is_main else None).fit()
    finally:
        dist.teardown(ctx)


class _Trainer:
    """State of one run; methods below are the steps of :func:`train`."""

    def __init__(
        self,
        config: TrainConfig,
        run: RunOptions,
        ctx: dist.DistContext,
        callback: TrainProgress | None,
    ) -> None:
        self.config, self.run, self.ctx, self.callback = config, run, ctx, callback
        self.resumed = read_resume(run.resume) if run.resume is not None else None
        stored = self.resumed.outputs.get("save_format") if self.resumed else None
        self.save_format: str = run.save_format or stored or "pt"  # resumed: as first asked
        self._check_out()
        data = load_train_data(
            config.dataset,
            data_dir=run.data_dir,
            imbalance_ratio=config.imbalance_ratio,
            n_max=config.n_max,
        )
        self.x, self.y, self.counts = data.x, data.y, list(data.class_counts)
        self._build_model(data.shape, data.class_names)
        self.monitor = None
        if ctx.is_main:
            self.monitor = load_monitor(config, self.counts, run.data_dir)
        self.epoch, self.seconds = 0, 0.0
        self.history: list[dict[str, Any]] = []
        self.adv_counts: list[torch.Tensor] = []
        if run.resume is not None and self.resumed is not None:
            self._load_resume(run.resume, self.resumed)

    def _check_out(self) -> None:
        if self.save_format == "safetensors":
            require_safetensors()  # fail before training, not after it
        out = check_output_dir(self.run.out)
        if self.run.resume is None and not self.run.overwrite:
            taken = [p.name for p in (out / "last.pt", out / "final.pt") if p.exists()]
            if taken:
                raise ConfigError(
                    f"{out} already holds a run ({', '.join(taken)}); pass --resume "
                    f"{out / 'last.pt'}, another --out, or --overwrite"
                )

    def _build_model(self, shape: tuple[int, int, int], class_names: list[str]) -> None:
        config, ctx = self.config, self.ctx
        channels, height, width = shape
        if height != width:
            raise DataError(f"{config.dataset}: images must be square, got {height}x{width}")
        torch.manual_seed(derive_seed(config.seed, ctx.rank, "global"))
        self.generator = torch.Generator().manual_seed(
            derive_seed(config.seed, ctx.rank, "generator")
        )
        self.method = build_method(config)
        self.augmentation = self.epoch_aug = Augmentation.of(config)
        model_args = {
            "num_classes": len(self.counts),
            "in_channels": channels,
            "input_size": height,
            **self.method.model_kwargs(),
        }
        self.net = create_model(config.arch, **model_args).to(ctx.device)
        self.info = CheckpointInfo(config.arch, model_args, shape, self.counts, class_names)
        self.view = TrainView(self.net)
        self.model = dist.wrap(self.view, ctx)
        size = config.batch_size // ctx.world_size
        data = TrainData(self.x, self.y, self._augment, ctx.device, size)
        self.method.prepare(self.view, self.counts, generator=self.generator, data=data)
        adjustment = self.method.logit_adjustment()
        self.adjustment = adjustment
        self.deployed = self.net if adjustment is None else LogitAdjusted(self.net, adjustment)
        self.deployed.to(ctx.device)
        self.optimizer, self.scheduler = build_optimizer(
            self.net,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            factor=self.method.lr_factor(),
        )
        self.autocast = autocast_factory(ctx.device, config.amp, config.amp_dtype)
        self.scaler = build_scaler(ctx.device, config.amp, config.amp_dtype)
        self.sampler: DistributedSampler[int] = DistributedSampler(
            range(len(self.y)),  # type: ignore[arg-type]  # a sized sequence is enough
            num_replicas=ctx.world_size,
            rank=ctx.rank,
            seed=config.seed,
        )
        if config.batch_size % ctx.world_size:
            raise ConfigError(
                f"--batch-size {config.batch_size} is not divisible by {ctx.world_size} processes"
            )

    def _load_resume(self, path: Path, state: ResumeState) -> None:
        if len(state.rng) != self.ctx.world_size:
            raise ConfigError(
                f"--resume: {path} was written by {len(state.rng)} process(es), "
                f"this run has {self.ctx.world_size}"
            )
        self.net.load_state_dict(state.state_dict)
        self.optimizer.load_state_dict(state.optimizer)
        load_scheduler(self.scheduler, state.scheduler)
        if state.scaler:
            self.scaler.load_state_dict(state.scaler)
        self.method.load_state_dict(state.method)
        self.epoch, self.seconds = state.epoch, state.seconds
        self.history, self.adv_counts = state.history, state.adv_counts
        set_rng_state(state.rng[self.ctx.rank], self.generator, self.ctx.device)
        logger.info("resumed %s after epoch %d", path, self.epoch)

    def fit(self) -> TrainResult:
        config, run = self.config, self.run
        final_path = None
        while self.epoch < config.epochs:
            self.epoch += 1
            row = self._train_epoch(self.epoch)
            if self.monitor is not None:
                row.update(
                    evaluate(
                        self.deployed,
                        self.monitor,
                        self.ctx.device,
                        run.eval_batch_size,
                        self.callback,
                    )
                )
            self.history.append(row)
            self._save(final=False)
            if self.callback is not None:
                self.callback.epoch_end(row)
            if run.stop_after is not None and self.epoch >= run.stop_after:
                break
        if self.epoch >= config.epochs:
            self._save(final=True)
            final_path = run.out / "final.pt"
        dist.barrier(self.ctx)
        return TrainResult(
            run.out, run.out / "last.pt", final_path, self.history, self.epoch, self.save_format
        )

    def _batches(self, epoch: int) -> list[torch.Tensor]:
        self.sampler.set_epoch(epoch)
        order = torch.tensor(list(iter(self.sampler)), dtype=torch.int64)
        size = self.config.batch_size // self.ctx.world_size
        batches = list(order.split(size))
        if len(batches) > 1 and len(batches[-1]) < 2:
            batches.pop()  # BatchNorm cannot train on a single sample
        return batches

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return self.epoch_aug(x, self.generator)

    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        model = self.deployed
        was_training = model.training
        model.eval()
        with torch.no_grad(), self.autocast():
            pred = model(x).argmax(dim=1)
        model.train(was_training)
        return pred

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        self.view.train()
        with self.autocast():
            out = self.method.training_step(self.model, x, y)
        loss = out["loss"]
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return out

    def _train_epoch(self, epoch: int) -> dict[str, Any]:
        config, num_classes = self.config, len(self.counts)
        t0 = time.perf_counter()
        self.epoch_aug = self.method.augmentation(epoch, self.augmentation)
        stats = self.method.begin_epoch(epoch, self.model)
        batches = self._batches(epoch)
        lr = float(self.optimizer.param_groups[0]["lr"])
        terms: dict[str, float] = {}
        confusion = ConfusionAccumulator(num_classes)
        clean_correct, seen = 0, 0
        name = f"epoch {epoch}/{config.epochs}"
        if self.callback is not None:
            self.callback.start(name, sum(len(b) for b in batches))
        for idx in batches:
            x = self._augment(self.x[idx]).to(self.ctx.device, non_blocking=True)
            y = self.y[idx].to(self.ctx.device, non_blocking=True)
            clean_correct += int((self._predict(x) == y).sum())
            out = self._step(x, y)
            confusion.update(y, out["logits"].argmax(dim=1))
            for key, value in out.items():
                if key != "logits" and torch.is_tensor(value) and value.dim() == 0:
                    terms[key] = terms.get(key, 0.0) + float(value.detach()) * len(y)
            seen += len(y)
            if self.callback is not None:
                self.callback.advance(name, len(y), confusion.correct(), seen)
        seconds = time.perf_counter() - t0
        if self.callback is not None:
            self.callback.finish(name)
        self.scheduler.step()
        row = self._epoch_row(epoch, lr, seconds, terms, confusion.compute(), clean_correct, seen)
        return {**row, **stats}

    def _epoch_row(
        self,
        epoch: int,
        lr: float,
        seconds: float,
        terms: dict[str, float],
        cm: torch.Tensor,
        clean_correct: int,
        seen: int,
    ) -> dict[str, Any]:
        keys = sorted(terms)
        local = torch.tensor([terms[k] for k in keys] + [clean_correct, seen], dtype=torch.float64)
        total = dist.all_reduce_sum(local, self.ctx)
        cm = dist.all_reduce_sum(cm, self.ctx)
        self.method.end_epoch(cm)
        self.adv_counts.append(cm)
        self.seconds += seconds
        n = float(total[-1])
        row: dict[str, Any] = {"epoch": epoch, "lr": lr, "seconds": seconds}
        row.update({k: float(total[i]) / n for i, k in enumerate(keys)})
        row["train_clean_acc"] = float(total[-2]) / n
        row["train_adv_acc"] = float(cm.trace()) / n
        return row

    def _extra(self, final: bool) -> dict[str, Any]:
        ctx, config = self.ctx, self.config
        extra: dict[str, Any] = {
            "training": {
                "world_size": ctx.world_size,
                "device": str(ctx.device),
                "amp_dtype": str(amp_dtype(ctx.device, config.amp_dtype)) if config.amp else None,
                "epochs_completed": self.epoch,
                "seconds": self.seconds,
                "torch_version": str(torch.__version__),
                "command": self.run.command,
            },
            "adv_counts": torch.stack(self.adv_counts) if self.adv_counts else None,
        }
        rng = dist.all_gather(rng_state(self.generator, ctx.device), ctx)
        if not final:
            extra["resume"] = resume_extra(
                self.epoch,
                self.optimizer,
                self.scheduler,
                self.scaler,
                rng,
                self.method.state_dict(),
                {"save_format": self.save_format},
            )
        return extra

    def _writer(self, target: Path, extra: dict[str, Any], file_format: str = "pt") -> Any:
        """The write of this run's checkpoint to ``target`` (for ``write_all``)."""

        def write() -> None:
            save_training_checkpoint(
                target,
                self.net,
                config=self.config,
                info=self.info,
                logit_adjustment=self.adjustment,
                history=self.history,
                extra=extra,
                file_format=file_format,
            )

        return write

    def _safetensors(self, final: bool, extra: dict[str, Any]) -> list[tuple[Path, Any]]:
        """The write of ``final.safetensors`` with ``--save-format safetensors``."""
        if not final or self.save_format != "safetensors":
            return []
        target = self.run.out / "final.safetensors"
        return [(target, self._writer(target, extra, "safetensors"))]

    def _save(self, final: bool) -> None:
        extra = self._extra(final)
        if not self.ctx.is_main:
            return
        out = self.run.out
        checkpoint = out / ("final.pt" if final else "last.pt")
        write_all(
            [
                (checkpoint, self._writer(checkpoint, extra)),
                *self._safetensors(final, extra),
                (out / "history.json and history.csv", lambda: write_history(out, self.history)),
                (
                    out / "adv_counts.json",
                    lambda: write_adv_counts(out, self.adv_counts, self.info.class_names),
                ),
            ]
        )
