"""AFR: Adversarial Feature Re-calibration (Zhang, Feng and Jin, VISAPP 2024), two stages in one
run (docs/METHODS.md §4.7, where every gap of the paper and its decision is listed).

* Stage 1 (the first ``--epochs - --stage2-epochs`` epochs): BS+CMO, i.e. CMO's class-balanced
  CutMix patches with the ``--loss`` (``bsl``) outer loss, the configured augmentation (the
  preset: AutoAugment + Cutout), warm-up and ``--lr-steps`` relative to stage 1.
* Stage 2 (``--stage2-epochs``, or the whole run from ``--init stage1.pt``): crop and flip only,
  lr ``--stage2-lr`` with ``--stage2-lr-steps``. Every ``--regen-every`` epochs the training set
  is over-sampled to ``max n_c`` per class, embedded by the current model, split into majority
  and minority per class (cosine to the class mean, threshold lambda, §3.3's adaptive thresholds)
  and ``--afr-share`` of each class's majority samples are moved towards the class's minority by
  targeted PGD on a 2C-way head (:mod:`ltrobust.train.recalibrate`). In every batch a share
  ``--afr-mix`` of the long-tailed samples gets a CutMix patch from that balanced set (labels
  mixed by area); the loss is ``--loss`` again.

The balanced set is rebuilt after ``--resume`` from the weights it was built with (kept in the
method state) and its own generator (seeded from ``--seed`` and the epoch), so a resumed run
ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ltrobust.attacks.rng import salt_of, sample_seeds
from ltrobust.errors import ConfigError
from ltrobust.train.augment import Augmentation
from ltrobust.train.base import TrainMethod, classifier
from ltrobust.train.checkpoint import read_init
from ltrobust.train.config import TrainConfig
from ltrobust.train.losses import build_outer_loss, check_loss_options
from ltrobust.train.mixing import (
    balanced_indices,
    check_mix_options,
    mix_batch,
    mix_some,
    mixed_loss,
    unmixed,
)
from ltrobust.train.recalibrate import Recalibrated, RecalibrationSettings, recalibrate
from ltrobust.train.registry import AFR_PRESETS
from ltrobust.train.schedule import check_peak_lr, step_schedule

#: (option, lowest, highest) of the real-valued options
_RANGES = (
    ("afr_lambda", -1.0, 1.0),
    ("afr_adapt_at", 0.0, 1.0),
    ("afr_share", 0.0, 1.0),
    ("afr_mix", 0.0, 1.0),
    ("afr_step", 1e-12, 1.0),
)
_COUNTS = ("stage2_epochs", "regen_every", "afr_steps")


def find_afr_preset(name: str, dataset: str) -> str:
    """The canonical preset name; ConfigError for an unknown one or another dataset's."""
    key = name.strip().lower()
    if key not in AFR_PRESETS:
        raise ConfigError(f"unknown AFR preset {name!r}; valid: {', '.join(AFR_PRESETS)}")
    if AFR_PRESETS[key]["dataset"] != dataset:
        raise ConfigError(
            f"AFR preset {key} is for {AFR_PRESETS[key]['dataset']}, not {dataset}; give the "
            "values as options instead"
        )
    return key


class Afr(TrainMethod):
    """``afr``: stage 1 BS+CMO, stage 2 fine-tuning with the re-calibrated balanced set."""

    name = "afr"
    inner_attack = False

    @classmethod
    def resolve_options(
        cls, defaults: dict[str, Any], given: dict[str, Any], dataset: str
    ) -> dict[str, Any]:
        preset = given.get("preset")
        base: dict[str, Any] = {}
        if preset is not None:
            preset = find_afr_preset(str(preset), dataset)
            base = AFR_PRESETS[preset]["options"]
        options = {**defaults, **base, **given, "preset": preset}
        cls.check_options(options, defaults)
        return options

    @classmethod
    def check_options(cls, options: dict[str, Any], defaults: dict[str, Any]) -> None:
        super().check_options(options, defaults)
        check_loss_options(options)
        check_mix_options(options)
        for key, low, high in _RANGES:
            if not low <= float(options[key]) <= high:
                raise ConfigError(f"--{key.replace('_', '-')} must be in [{low:g}, {high:g}]")
        for key in _COUNTS:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{key.replace('_', '-')} must be a positive integer")
        if int(options["afr_head_steps"]) < 0:
            raise ConfigError("--afr-head-steps must be >= 0")
        steps = str(options["stage2_lr_steps"])
        check_peak_lr(float(options["stage2_lr"]), steps, "--stage2-lr", "--stage2-lr-steps")

    @classmethod
    def common_defaults(cls, options: dict[str, Any], dataset: str) -> dict[str, Any]:
        preset = options.get("preset")
        out = dict(AFR_PRESETS[preset]["common"]) if preset else {}
        if options.get("init"):
            out["arch"] = read_init(Path(options["init"]))["arch"]
            out["epochs"] = int(options["stage2_epochs"])
        return out

    @classmethod
    def check_config(cls, config: TrainConfig) -> None:
        epochs, stage2 = config.epochs, int(config.options["stage2_epochs"])
        if config.options.get("init") and epochs != stage2:
            raise ConfigError(
                f"with --init the run is stage 2 alone: --epochs {epochs} must equal "
                f"--stage2-epochs {stage2}"
            )
        if not config.options.get("init") and epochs <= stage2:
            raise ConfigError(
                f"--epochs {epochs} must exceed --stage2-epochs {stage2} (stage 1 trains the "
                "first epochs - stage2-epochs); or start stage 2 from a checkpoint with --init"
            )

    @property
    def stage1(self) -> int:
        """Epochs of stage 1 (0 with ``--init``)."""
        if self.options.get("init"):
            return 0
        return self.config.epochs - int(self.options["stage2_epochs"])

    def setup(self, net: nn.Module) -> None:
        if not isinstance(getattr(net, "head", None), nn.Linear):
            raise ConfigError("AFR needs a model with a linear head")
        self.outer = build_outer_loss(self.options, self.counts)
        self.beta = float(self.options["mix_beta"])
        self.mixing = False
        self.balanced: Recalibrated | None = None
        self.snapshot: dict[str, Any] = {}

    def load_init(self, net: nn.Module, path: Path) -> None:
        """Start from the weights of ``path``, which must fit the model and the class counts
        (before the first epoch of a fresh run; a resumed run has its own weights)."""
        found = read_init(path)
        counts = [int(c) for c in self.counts]
        if found["num_classes"] != len(counts) or (
            found["class_counts"] is not None and list(found["class_counts"]) != counts
        ):
            raise ConfigError(
                f"--init: {path} was trained on {found['class_counts']} images per class, this "
                f"run has {counts}"
            )
        try:
            net.load_state_dict(found["state_dict"])
        except RuntimeError as exc:
            reason = " ".join(str(exc).split())[:160]
            raise ConfigError(
                f"--init: {path} does not fit --arch {self.config.arch}: {reason}"
            ) from None

    def lr_factor(self) -> Callable[[int], float]:
        c, s1 = self.config, self.stage1
        first = step_schedule(max(s1, 1), c.warmup_epochs, c.lr_steps)
        second = step_schedule(c.epochs - s1, 0, str(self.options["stage2_lr_steps"]))
        ratio = float(self.options["stage2_lr"]) / c.lr
        return lambda index: first(index) if index < s1 else ratio * second(index - s1)

    def augmentation(self, epoch: int, base: Augmentation) -> Augmentation:
        return base if epoch <= self.stage1 else base.basic()

    def settings(self) -> RecalibrationSettings:
        """The re-calibration's values from the options."""
        o = self.options
        return RecalibrationSettings(
            lam=float(o["afr_lambda"]),
            rule=str(o["afr_split"]),
            adapt_at=float(o["afr_adapt_at"]),
            share=float(o["afr_share"]),
            steps=int(o["afr_steps"]),
            step=float(o["afr_step"]),
            head_steps=int(o["afr_head_steps"]),
            batch_size=max(self.data.batch_size if self.data else 256, 256),
        )

    def begin_epoch(self, epoch: int, model: nn.Module) -> dict[str, float]:
        s1 = self.stage1
        if epoch <= s1:
            first, last = int(self.options["cmo_skip_first"]), int(self.options["cmo_skip_last"])
            self.mixing = first < epoch <= s1 - last
            return {}
        self.mixing = False
        e2 = epoch - s1
        start = e2 - (e2 - 1) % int(self.options["regen_every"])
        net = classifier(model)
        if epoch == 1 and self.options.get("init"):
            self.load_init(net, Path(self.options["init"]))
        if e2 == start:
            weights = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            self.snapshot = {"epoch": start, "weights": weights}
            return self.rebuild(net, start)
        if self.balanced is None:  # resumed inside a cycle: rebuild from the stored weights
            twin = copy.deepcopy(net)
            twin.load_state_dict(self.snapshot["weights"])
            self.rebuild(twin, start)
        return {}

    def rebuild(self, net: nn.Module, start: int) -> dict[str, float]:
        """The balanced set of stage-2 epoch ``start`` from ``net``; its stats."""
        if self.data is None:
            raise RuntimeError("AFR needs the training data (TrainMethod.prepare(data=...))")
        seed = int(sample_seeds(self.config.seed, salt_of("afr"), torch.tensor([start]))[0])
        gen = torch.Generator().manual_seed(seed)
        aug = Augmentation.of(self.config).basic()
        data = (self.data.x, self.data.y)
        self.balanced = recalibrate(
            net, data, self.counts, aug, self.settings(), gen, self.data.device
        )
        return self.balanced.stats

    def training_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
        mixed, share = unmixed(x, y), 0.0
        gen, data, bal = self.generator, self.data, self.balanced
        if gen is not None and data is not None and self.mixing:
            if float(torch.rand(1, generator=gen)) < float(self.options["mix_prob"]):
                idx = balanced_indices(data.y, len(y), gen)
                patches = data.augment(data.x[idx]).to(x.device)
                mixed = mix_batch(x, patches, data.y[idx].to(y.device), self.beta, gen)
                share = 1.0
        elif gen is not None and bal is not None:
            k = int(float(self.options["afr_mix"]) * len(y) + 0.5)
            chosen = torch.randperm(len(y), generator=gen)[:k]
            src = torch.randint(0, len(bal.y), (k,), generator=gen)
            patches, y_patch = bal.x[src].to(x.device), bal.y[src].to(y.device)
            mixed = mix_some(x, y, chosen, patches, y_patch, self.beta, gen)
            share = k / len(y)
        logits = model(mixed.x)
        loss = mixed_loss(self.outer, logits, y, mixed).mean()
        return {"loss": loss, "logits": logits.detach(), "mixed_share": torch.tensor(share)}

    def state_dict(self) -> dict[str, Any]:
        return dict(self.snapshot)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.snapshot = {"epoch": int(state["epoch"]), "weights": state["weights"]}
