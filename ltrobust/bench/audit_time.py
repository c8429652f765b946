"""Where a full audit spends its time: clean, every attack, and the diagnostics.

Runs the public :func:`ltrobust.audit` once and splits its wall time. Clean and per-attack
seconds are the report's own (``report.clean.seconds``, ``report.attacks[name].seconds``). The
report does not time the diagnostics, so a progress observer times every phase the audit
announces (the kappa sweep's PGD-20 and APGD-DLR runs, the unbounded attack); whatever is left
of the total (loading the data and the model, the sweep's clean passes, the clean-gradient
checks, the verdict, building the report) is ``other``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ltrobust.settings import amp_of_precision


@dataclass
class PhaseTimer:
    """A progress observer (``start``/``advance``/``finish``) that keeps wall seconds per phase.

    ``on_start(name)`` is told when a phase begins (the CLI shows it); it must not raise.
    """

    on_start: Callable[[str], None] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    _t0: dict[str, float] = field(default_factory=dict)

    def start(self, name: str, total: int) -> None:
        self._t0[name] = time.perf_counter()
        if self.on_start is not None:
            self.on_start(name)

    def advance(self, name: str, n: int, correct: int, seen: int) -> None:
        return None

    def finish(self, name: str) -> None:
        t0 = self._t0.pop(name, None)
        if t0 is not None:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


def _diagnostic_phases(phases: dict[str, float], known: set[str]) -> dict[str, float]:
    """Sum the observed phases that are not clean or an attack by kind: ``sweep pgd20``
    (``pgd20@kappa=...``), ``sweep apgd-dlr``, ``unbounded``..."""
    out: dict[str, float] = {}
    for name, secs in phases.items():
        if name in known:
            continue
        label = f"sweep {name.split('@', 1)[0]}" if "@kappa=" in name else name
        out[label] = out.get(label, 0.0) + secs
    return out


def time_audit(
    model: str,
    *,
    dataset: str | None,
    n: int,
    attacks: Sequence[str] | None = None,
    batch_size: int = 256,
    device: str = "auto",
    precision: str = "fp32",
    channels_last: bool = False,
    seed: int = 0,
    data_dir: str | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Audit ``model`` on ``n`` samples of ``dataset`` with ``attacks`` (default: the audit's
    default list, diagnostics on) and return the split of its wall time in seconds.

    Returns ``model``, ``dataset``, ``n``, ``attacks`` (names run), ``total_s``, ``cpu_s``
    (process CPU time), ``clean_s``, ``attacks_s`` (name -> seconds), ``diagnostics_s``
    (phase -> seconds), ``other_s`` and the robust accuracy under each attack (a sanity check
    that the attacks did their work).
    """
    from ltrobust.audit import audit

    timer = PhaseTimer(on_start=on_phase)
    w0, c0 = time.perf_counter(), time.process_time()
    report = audit(
        model,
        dataset,
        list(attacks) if attacks is not None else None,
        n=n,
        batch_size=batch_size,
        device=device,
        precision=precision,
        channels_last=channels_last,
        seed=seed,
        data_dir=data_dir,
        progress=timer,
        command=f"ltrobust bench (audit on {n} samples)",
    )
    total, cpu = time.perf_counter() - w0, time.process_time() - c0
    attack_s = {name: o.seconds for name, o in report.attacks.items()}
    diag_s = _diagnostic_phases(timer.seconds, {"clean", *attack_s})
    accounted = report.clean.seconds + sum(attack_s.values()) + sum(diag_s.values())
    return {
        "model": model,
        "dataset": report.dataset.get("name"),
        "n": report.dataset.get("n"),
        "batch_size": batch_size,
        "device": report.provenance.get("device"),
        "amp": amp_of_precision(precision),  # as reports spell it (none, bf16)
        "channels_last": channels_last,
        "attacks": list(attack_s),
        "total_s": total,
        "cpu_s": cpu,
        "clean_s": report.clean.seconds,
        "attacks_s": attack_s,
        "diagnostics_s": diag_s,
        "other_s": max(total - accounted, 0.0),
        "accuracy": {
            "clean": report.clean.summary.accuracy,
            **{name: o.summary.accuracy for name, o in report.attacks.items()},
        },
    }
