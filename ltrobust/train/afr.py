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
import math
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
from ltrobust.train.losses import build_outer_loss
from ltrobust.train.method_options import AfrOptions
from ltrobust.train.mixing import balanced_indices, mix_batch, mix_some, mixed_loss, unmixed
from ltrobust.train.options import AFR_PRESETS
from ltrobust.train.recalibrate import Recalibrated, RecalibrationSettings, recalibrate
from ltrobust.train.schedule import step_schedule


class Afr(TrainMethod[AfrOptions]):
    """``afr``: stage 1 BS+CMO, stage 2 fine-tuning with the re-calibrated balanced set."""

    name = "afr"
    inner_attack = False

    @classmethod
    def common_defaults(cls, options: AfrOptions, dataset: str) -> dict[str, Any]:
        out = dict(AFR_PRESETS[options.preset]["common"]) if options.preset else {}
        if options.init:
            out["arch"] = read_init(Path(options.init))["arch"]
            out["epochs"] = options.stage2_epochs
        return out

    @classmethod
    def check_config(cls, config: TrainConfig) -> None:
        options = config.options
        assert isinstance(options, AfrOptions)  # TrainConfig made it the method's class
        epochs, stage2 = config.epochs, options.stage2_epochs
        if options.init and epochs != stage2:
            raise ConfigError(
                f"with --init the run is stage 2 alone: --epochs {epochs} must equal "
                f"--stage2-epochs {stage2}"
            )
        if not options.init and epochs <= stage2:
            raise ConfigError(
                f"--epochs {epochs} must exceed --stage2-epochs {stage2} (stage 1 trains the "
                "first epochs - stage2-epochs); or start stage 2 from a checkpoint with --init"
            )

    @property
    def stage1(self) -> int:
        """Epochs of stage 1 (0 with ``--init``)."""
        if self.options.init:
            return 0
        return self.config.epochs - self.options.stage2_epochs

    def setup(self, net: nn.Module) -> None:
        if not isinstance(getattr(net, "head", None), nn.Linear):
            raise ConfigError("AFR needs a model with a linear head")
        self.outer = build_outer_loss(self.options, self.counts)
        self.beta = self.options.mix_beta
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
        second = step_schedule(c.epochs - s1, 0, self.options.stage2_lr_steps)
        ratio = self.options.stage2_lr / c.lr
        return lambda index: first(index) if index < s1 else ratio * second(index - s1)

    def augmentation(self, epoch: int, base: Augmentation) -> Augmentation:
        return base if epoch <= self.stage1 else base.basic()

    def settings(self) -> RecalibrationSettings:
        """The re-calibration's values from the options."""
        o = self.options
        return RecalibrationSettings(
            lam=o.afr_lambda,
            rule=o.afr_split,
            adapt_at=o.afr_adapt_at,
            share=o.afr_share,
            steps=o.afr_steps,
            step=o.afr_step,
            head_steps=o.afr_head_steps,
            batch_size=max(self.data.batch_size if self.data else 256, 256),
        )

    def begin_epoch(self, epoch: int, model: nn.Module) -> dict[str, float]:
        s1, o = self.stage1, self.options
        if epoch <= s1:
            self.mixing = o.cmo_skip_first < epoch <= s1 - o.cmo_skip_last
            return {}
        self.mixing = False
        e2 = epoch - s1
        start = e2 - (e2 - 1) % o.regen_every
        net = classifier(model)
        if epoch == 1 and o.init:
            self.load_init(net, Path(o.init))
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
            if float(torch.rand(1, generator=gen)) < self.options.mix_prob:
                idx = balanced_indices(data.y, len(y), gen)
                patches = data.augment(data.x[idx]).to(x.device)
                mixed = mix_batch(x, patches, data.y[idx].to(y.device), self.beta, gen)
                share = 1.0
        elif gen is not None and bal is not None:
            k = math.floor(self.options.afr_mix * len(y) + 0.5)  # round half up
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
