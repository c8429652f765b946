"""One audit's passes over its samples: a public, typed session whose passes return values.

An :class:`AuditSession` holds what every pass of one audit shares: the model (and the network
attacks run on: itself or its ``torch.compile`` version), the batches (an
:class:`~ltrobust.audit.engine.Engine`: streaming, sharding under torchrun, resume, out-of-memory
halving), the threat model and step, and the data's classes and groups. :meth:`AuditSession.clean`
and :meth:`AuditSession.attack` run one pass each and return its results; the orchestration
(:mod:`ltrobust.audit.runner`), the sweep and the tail-targeted attack are built from them. What
the session itself accumulates is how the run went: the engine's notes and batch counts, and the
float32 re-check of ``--amp bf16`` (:meth:`amp_report`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ltrobust.attacks.base import Attack
from ltrobust.attacks.iterative import IterativeAttack
from ltrobust.attacks.rng import salt_of
from ltrobust.attacks.threat import ThreatModel
from ltrobust.audit.adversarial import AdversarialKeeper
from ltrobust.audit.cache import RecordCache
from ltrobust.audit.checks import probe_model
from ltrobust.audit.config import AuditConfig
from ltrobust.audit.engine import Engine, prepare_model
from ltrobust.audit.passes import AttackPass, amp_flips, clean_record, kappa_key
from ltrobust.metrics.recall import confusion_matrix, recognised_clean, summarize
from ltrobust.report.findings import Amp
from ltrobust.report.schema import Outcome
from ltrobust.runtime.dist import DistContext
from ltrobust.runtime.progress import Progress


@dataclass(frozen=True)
class DataInfo:
    """The audited data's name, classes, groups (class indices per group) and training counts."""

    name: str
    num_classes: int
    class_names: list[str]
    groups: dict[str, list[int]]
    class_counts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CleanResult:
    """The clean pass: its outcome, the predictions (N, CPU), with diagnostics the per-sample
    zero-gradient shares at the clean input (N x 2: entry share, all-zero flag), the clean
    predictions at every kappa of the sweep, and AutoAttack's target classes (N x k) when
    they are reported."""

    outcome: Outcome
    pred: torch.Tensor
    zero: torch.Tensor | None
    sweep: dict[float, torch.Tensor]
    aa_targets: torch.Tensor | None


@dataclass(frozen=True)
class SurvivorResult:
    """An attack on the samples still robust (:meth:`AuditSession.survivors`): predictions
    (N; the clean prediction where not attacked), how many samples it attacked, which it broke
    (bool, N) and its wall seconds."""

    pred: torch.Tensor
    attacked: int
    broken: torch.Tensor
    seconds: float

    @property
    def newly_broken(self) -> int:
        return int(self.broken.sum())


@dataclass(frozen=True)
class PassResult:
    """One attack pass: predictions (N or len(pos), CPU), seconds, and as asked the
    zero-gradient shares of the attack's gradients (N x 2) and the per-sample component of
    AutoAttack that broke each sample (``""`` for none)."""

    pred: torch.Tensor
    seconds: float
    zero_grad: torch.Tensor | None = None
    broken_by: list[str] | None = None


def make_outcome(
    name: str,
    settings: dict[str, Any],
    y: torch.Tensor,
    pred: torch.Tensor,
    info: DataInfo,
    seconds: float,
    clean: Outcome | None,
) -> Outcome:
    """An :class:`Outcome` from predictions: recall summary, confusion matrix and, against the
    clean outcome, the boundary error overall and per group. Given the clean outcome, the worst
    class is the lowest recall among the classes with clean recall above zero (None if none)."""
    cm = confusion_matrix(y, pred, info.num_classes)
    eligible = recognised_clean(clean.summary) if clean is not None else None
    summary = summarize(cm, info.groups, info.class_names, eligible)
    boundary: dict[str, float | None] = {}
    if clean is not None:
        boundary["overall"] = _diff(clean.summary.accuracy, summary.accuracy)
        for g, stat in summary.groups.items():
            boundary[g] = _diff(clean.summary.groups[g].recall, stat.recall)
    return Outcome(name, settings, summary, cm.tolist(), boundary, seconds)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


class AuditSession:
    """The shared context of one audit's passes (see the module doc).

    Args:
        model: the audited model (logits of [0, 1] pixels).
        x, y, indices: the samples (N x C x H x W, N, dataset indices N; CPU).
        info: the data's classes and groups.
        config: batch size, seed, ``--amp``, channels-last and compile settings.
        threat, step_size: the threat model and the iterative attacks' step.
        ctx: this process's place (torchrun); cache: finished batches (resume).
    """

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        indices: torch.Tensor,
        info: DataInfo,
        config: AuditConfig,
        *,
        threat: ThreatModel,
        step_size: float,
        ctx: DistContext,
        cache: RecordCache | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.model, self.net = prepare_model(
            model, ctx.device, channels_last=config.channels_last, compile=config.compile
        )
        self.engine = Engine(
            x,
            y,
            indices,
            batch_size=config.batch_size,
            ctx=ctx,
            cache=cache,
            progress=progress,
            amp=config.amp == "bf16",
            channels_last=config.channels_last,
        )
        self.y, self.info, self.seed = y.cpu(), info, config.seed
        self.threat, self.step = threat, step_size
        self.probe = self.engine.to_device(x[: min(len(x), config.batch_size)])
        self._flips: dict[str, dict[str, int]] = {}
        #: keeps the adversarial images --save-adv asked for (set by the caller)
        self.adversarial: AdversarialKeeper | None = None

    def __len__(self) -> int:
        return len(self.engine)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one input (C x H x W)."""
        return tuple(self.engine.x.shape[1:])

    def check_model(self) -> list[str]:
        """Check the model fits the data on a few inputs (one-line errors); its warnings."""
        return probe_model(self.model, self.probe[:2], self.info.num_classes, self.info.name)

    def outcome(
        self,
        name: str,
        settings: dict[str, Any],
        pred: torch.Tensor,
        seconds: float,
        clean: Outcome,
    ) -> Outcome:
        """:func:`make_outcome` of predictions on every sample of this session."""
        return make_outcome(name, settings, self.y, pred, self.info, seconds, clean)

    def clean(self, kappas: list[float], *, gradient: bool, targets: int = 0) -> CleanResult:
        """The clean pass: one forward per batch gives the predictions, the clean predictions
        at every kappa (argmax of the logits x 10^-kappa), with ``gradient`` the zero-gradient
        shares at the clean input and with ``targets`` > 0 AutoAttack's target classes."""
        fn = clean_record(self.net, kappas, gradient=gradient, targets=targets)
        rec, secs = self.engine.run_pass("clean", fn)
        pred = rec["pred"]
        if self.adversarial is not None:
            self.adversarial.clean(pred)
        outcome = make_outcome("clean", {}, self.y, pred, self.info, secs, None)
        return CleanResult(
            outcome=outcome,
            pred=pred,
            zero=rec.get("zero"),
            sweep={k: rec[kappa_key(k)] for k in kappas},
            aa_targets=rec.get("aa_targets"),
        )

    def attack(
        self,
        attack: Attack,
        label: str,
        *,
        salt: str | None = None,
        model: nn.Module | None = None,
        alive: torch.Tensor | None = None,
        clean_pred: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
        observe: bool = False,
        details: bool = False,
        repeats: int = 1,
    ) -> PassResult:
        """Predictions of the model under ``attack`` for every sample, or for those at ``pos``.

        ``label`` names the pass (cache, progress); random starts come from per-sample seeds
        salted with ``salt`` (default: the label), so passes that share a salt start from the
        same points. ``model``: what the attack runs on (default the audited network; the
        adversarial examples are always classified by it). With ``alive`` (bool, N) only those
        samples are attacked and the others keep ``clean_pred``. ``observe`` records the
        zero-gradient shares of the attack's gradients, ``details`` AutoAttack's component per
        sample; ``repeats`` classifies every final point that many times (a randomised model:
        the first wrong prediction counts). Under ``--amp bf16`` an iterative attack iterates in bfloat16 and its final
        points are classified in float32 (that prediction counts); flips are counted in
        :meth:`amp_report`.
        """
        fn = AttackPass(
            attack,
            net=model if model is not None else self.net,
            judge=self.net,
            engine=self.engine,
            seed=self.seed,
            salt=salt_of(salt or label),
            where=f"{label} adversarial inputs",
            alive=alive,
            clean_pred=clean_pred,
            observe=observe,
            details=details,
            repeats=repeats,
            keep=self.adversarial.sink(label) if self.adversarial and pos is None else None,
        )
        rec, secs = self.engine.run_pass(
            label, fn, pos=pos, batch_sensitive=not isinstance(attack, IterativeAttack)
        )
        if fn.amp:
            y = self.y if pos is None else self.y[pos]
            self._flips[label] = amp_flips(rec["pred"], rec["amp_pred"], y)
        return PassResult(rec["pred"], secs, rec.get("zg"), rec.get("broken_by"))

    def survivors(
        self,
        attack: Attack,
        alive: torch.Tensor,
        clean_pred: torch.Tensor,
        *,
        label: str | None = None,
        repeats: int = 1,
    ) -> SurvivorResult:
        """``attack`` (its pass named ``label``, default its name) on the samples ``alive``
        (bool, N) only, the others keeping ``clean_pred``: what it attacked and newly broke. The
        pass the worst-case-only attacks, the escalations and the tail-targeted APGD share."""
        name = label or attack.name
        res = self.attack(attack, name, alive=alive.clone(), clean_pred=clean_pred, repeats=repeats)
        broken = alive & (res.pred != self.y)
        return SurvivorResult(res.pred, int(alive.sum()), broken, res.seconds)

    def amp_report(self) -> Amp | None:
        """The float32 re-check of bfloat16 attacks (flips per pass), or None without it."""
        if not self._flips:
            return None
        return Amp(dtype="bfloat16", recheck="float32", flips=dict(self._flips))

    def notes(self) -> list[str]:
        """Warnings about how passes ran (e.g. out-of-memory splits)."""
        return list(self.engine.notes)

    def execution(self) -> dict[str, Any]:
        """Processes and batches computed and reused over every pass."""
        engine = self.engine
        return {
            "world_size": engine.ctx.world_size,
            "batches": engine.reused + engine.computed,
            "computed": engine.computed,
            "reused": engine.reused,
        }
