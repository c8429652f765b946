"""Adapter to AutoAttack's reference implementation (``pyautoattack``, Croce & Hein 2020).

``aa`` is the standard version (APGD-CE, APGD-T with 9 targets, FAB-T with 9 targets, Square
with 5000 queries), worst case per sample. ``aa-fast`` is APGD-CE + APGD-T with the standard
version's settings (as RoBal evaluated). With fewer than 10 classes the number of targets is
capped at C - 1.

pyautoattack re-seeds torch's global RNG with its fixed ``seed`` for every batch; we run it in a
forked RNG so the caller's global state is untouched. Its random starts depend on how samples
are batched, so (unlike our own attacks) its result can change with the batch size: the audit
passes it fixed chunks of ``batch_size`` samples, and calling ``AutoAttack`` directly on the same
chunk with the same seed gives the same adversarial examples.

One call can take minutes. A listener set with :func:`steps_to` hears, inside the batch, each
component starting and each of its runs (a restart, or a target class and restart); hearing
changes nothing: the same calls run in the same order on the same random numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import nn

from ltrobust.attacks.base import Attack, AttackOutput, GradObserver
from ltrobust.attacks.threat import ThreatModel

logger = logging.getLogger(__name__)

AA_VERSIONS = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "fast": ("apgd-ce", "apgd-t"),
    "dlr": ("apgd-dlr",),  # logit-scale invariant: the kappa sweep's reference attack
    "square": ("square",),  # gradient-free: the escalation when gradients vanish
    "rand": ("apgd-ce", "apgd-dlr"),  # AutoAttack's version for randomised models (EOT, 20 draws)
}

#: pyautoattack's engine of each component (an attribute of its ``AutoAttack``)
ENGINES = {
    "apgd-ce": "apgd",
    "apgd-dlr": "apgd",
    "apgd-t": "apgd_targeted",
    "fab-t": "fab",
    "square": "square",
}
#: who hears AutoAttack's steps inside a batch (one line of text each), or None
STEPS: ContextVar[Callable[[str], None] | None] = ContextVar("aa_steps", default=None)


@contextmanager
def steps_to(listener: Callable[[str], None] | None) -> Iterator[None]:
    """Within the block, AutoAttack passes tell ``listener`` each component and run they start
    (e.g. ``apgd-t: run 3 of at most 9, 120 samples``)."""
    token = STEPS.set(listener)
    try:
        yield
    finally:
        STEPS.reset(token)


def listen(aa: Any, component: str, n: int, listener: Callable[[str], None]) -> None:
    """Tell ``listener`` that ``component`` starts on ``n`` samples, and make each of its runs
    (pyautoattack's ``attack_single_run``: a restart, or a target class and restart) say so
    before it runs; the run itself is the engine's own method, called as before."""
    engine = getattr(aa, ENGINES[component])
    targets = engine.n_target_classes if component in ("apgd-t", "fab-t") else 1
    total = engine.n_restarts * targets
    inner = type(engine).attack_single_run.__get__(engine)
    done = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        done[0] += 1
        listener(f"{component}: run {done[0]} of at most {total}, {n} samples")
        return inner(*args, **kwargs)

    engine.attack_single_run = counted
    listener(f"{component}: start, {n} samples")


def make_autoattack(
    model: nn.Module,
    threat: ThreatModel,
    *,
    version: str,
    seed: int,
    num_classes: int,
    device: torch.device,
) -> Any:  # pyautoattack.AutoAttack (typed loosely: the package ships no stubs)
    """Build a configured ``pyautoattack.AutoAttack`` (exposed so tests can call it directly)."""
    from pyautoattack import AutoAttack

    norm = {"linf": "Linf", "l2": "L2"}[threat.norm]
    if version in ("standard", "rand"):
        aa = AutoAttack(model, norm=norm, eps=threat.eps, seed=seed, version=version, device=device)
    else:
        aa = AutoAttack(
            model,
            norm=norm,
            eps=threat.eps,
            seed=seed,
            version="custom",
            device=device,
            attacks=list(AA_VERSIONS[version]),
        )
        aa.apgd.n_restarts = 1
        aa.apgd_targeted.n_restarts = 1
    targets = max(1, min(9, num_classes - 1))
    aa.apgd_targeted.n_target_classes = targets
    aa.fab.n_target_classes = targets
    aa.verbose = False
    return aa


class AutoAttackAdapter(Attack):
    """AutoAttack as an :class:`Attack`: one call runs the whole ensemble on the batch."""

    def __init__(
        self, threat: ThreatModel, *, version: str = "standard", seed: int = 0, name: str = "aa"
    ) -> None:
        super().__init__(threat, name)
        if version not in AA_VERSIONS:
            raise ValueError(f"unknown AutoAttack version {version!r}")
        self.version = version
        self.seed = seed
        self._freeze()

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        start: torch.Tensor,
        observer: GradObserver | None,
    ) -> AttackOutput:
        """Run the components one after the other on the samples still robust.

        Each component gets the survivors of the previous ones, in order, in one batch: exactly
        the batches AutoAttack's own ``run_standard_evaluation`` forms, so the result equals one
        standard call, and ``details["broken_by"]`` says which component broke each sample
        (``""`` for none).
        """
        with torch.no_grad():
            logits = model(x)
        robust = logits.argmax(1) == y
        broken_by = [""] * len(y)
        x_adv = x.clone()
        listener = STEPS.get()
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            aa = make_autoattack(
                model,
                self.threat,
                version=self.version,
                seed=self.seed,
                num_classes=int(logits.shape[1]),
                device=x.device,
            )
            for component in AA_VERSIONS[self.version]:
                idx = robust.nonzero().flatten()
                if len(idx) == 0:
                    break
                aa.attacks_to_run = [component]
                if listener is not None:
                    listen(aa, component, len(idx), listener)
                xa, ya = aa.run_standard_evaluation(x[idx], y[idx], batch_size=len(x))
                newly = idx[ya != y[idx]]
                x_adv[newly] = xa[ya != y[idx]].to(x.dtype)
                robust[newly] = False
                for i in newly.tolist():
                    broken_by[i] = component
        return AttackOutput(x_adv, {"broken_by": broken_by})

    def settings(self) -> dict[str, object]:
        return {
            **super().settings(),
            "implementation": "pyautoattack",
            "version": self.version,
            "components": list(AA_VERSIONS[self.version]),
            "seed": self.seed,
        }


def aa_target_classes(logits: torch.Tensor, k: int = 9) -> torch.Tensor:
    """The classes APGD-T and FAB-T target: the 2nd to (k+1)-th largest logits.

    AutoAttack's targeted components take, for target rank ``t`` in ``2..k+1``, the class of the
    t-th largest clean logit (``output.sort()[1][:, -t]``); for a correctly classified sample the
    largest is the true class, so these are the k runners-up. ``logits``: (N, C) -> (N, min(k,
    C - 1)) int64, best runner-up first.
    """
    k = max(0, min(k, logits.shape[1] - 1))
    order = logits.argsort(dim=1, descending=True)
    return order[:, 1 : k + 1]


class TailTargetedAPGD(Attack):
    """Targeted APGD towards tail classes: what AutoAttack's top-9 targets can miss.

    For every sample still classified correctly, APGD-T (AutoAttack's ``APGDAttack_targeted``
    engine from ``pyautoattack``: targeted DLR loss, ``n_iter`` iterations, one restart) is run
    towards each of the ``max_targets`` tail classes with the highest clean logits (the true
    class excluded), one target after the other on the survivors; the first success is kept.
    With a long tail and C > 10, AutoAttack's own targets are the runners-up of the clean
    logits, which are seldom tail classes (their logits are pushed down by the imbalance), so a
    model can look robust only because no attack ever tried to push a sample into the tail.

    Like AutoAttack, the random starts come from torch's RNG seeded with ``seed`` (in a forked
    RNG), so the result depends on how the samples are batched. Needs at least 4 classes (the
    targeted DLR loss uses the 4th largest logit).
    """

    def __init__(
        self,
        threat: ThreatModel,
        tail_classes: list[int],
        *,
        max_targets: int = 9,
        n_iter: int = 100,
        seed: int = 0,
        name: str = "aa-tail",
    ) -> None:
        super().__init__(threat, name)
        if not tail_classes:
            raise ValueError("TailTargetedAPGD needs at least one tail class")
        self.tail_classes = sorted(int(c) for c in tail_classes)
        self.max_targets, self.n_iter, self.seed = int(max_targets), int(n_iter), int(seed)
        self._freeze()

    def targets(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(N, T) tail classes to try per sample, highest clean logit first; -1 pads samples
        whose own class is a tail class (one fewer candidate)."""
        tail = torch.tensor(self.tail_classes, device=logits.device)
        scores = logits[:, tail].clone()
        scores[tail.unsqueeze(0) == y.unsqueeze(1)] = float("-inf")
        t = min(self.max_targets, len(self.tail_classes))
        top = scores.topk(t, dim=1)
        out = tail[top.indices]
        out[torch.isinf(top.values)] = -1
        return out

    def _run(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        start: torch.Tensor,
        observer: GradObserver | None,
    ) -> AttackOutput:
        from pyautoattack.autopgd_base import APGDAttack_targeted

        with torch.no_grad():
            logits = model(x)
        if logits.shape[1] < 4:
            raise ValueError("targeted APGD needs at least 4 classes")
        robust = logits.argmax(1) == y
        targets = self.targets(logits, y)
        x_adv = x.clone()
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            apgd = APGDAttack_targeted(
                model,
                n_iter=self.n_iter,
                norm={"linf": "Linf", "l2": "L2"}[self.threat.norm],
                eps=self.threat.eps,
                seed=self.seed,
                n_restarts=1,
                device=x.device,
            )
            apgd.init_hyperparam(x)
            torch.random.manual_seed(self.seed)
            if x.device.type == "cuda":
                torch.cuda.random.manual_seed(self.seed)
            for rank in range(targets.shape[1]):
                idx = (robust & (targets[:, rank] >= 0)).nonzero().flatten()
                if len(idx) == 0:
                    continue
                apgd.y_target = targets[idx, rank]
                _, acc, _, adv = apgd.attack_single_run(x[idx], y[idx])
                won = acc == 0
                x_adv[idx[won]] = adv[won].to(x.dtype)
                robust[idx[won]] = False
        return AttackOutput(x_adv)

    def settings(self) -> dict[str, object]:
        return {
            **super().settings(),
            "implementation": "pyautoattack APGDAttack_targeted",
            "tail_classes": self.tail_classes,
            "max_targets": self.max_targets,
            "n_iter": self.n_iter,
            "seed": self.seed,
        }
