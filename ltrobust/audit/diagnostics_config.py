"""The diagnostics of an audit: which passes run, how large they are, and when a check counts
as triggered (:class:`DiagnosticPasses`, :class:`Thresholds`, :class:`DiagnosticsConfig`).

:class:`~ltrobust.audit.config.AuditConfig` holds the passes and thresholds users set (as
options, keywords or ``--config`` keys) and resolves them into a :class:`DiagnosticsConfig` for
the run. This module is torch-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ltrobust.errors import ConfigError
from ltrobust.settings import setting

#: RoBal §3.3, Fig. 2: kappa in {-2, -1.5, ..., 2}
DEFAULT_KAPPAS = tuple(k / 2 for k in range(-4, 5))
#: the ``ltrobust audit --help`` panel of the diagnostics' options
DIAG = "Diagnostics"


@dataclass
class Thresholds:
    """When a check counts as triggered; fractions of samples (0.03 = 3 points)."""

    #: headline minus believed accuracy that makes "inflated"
    inflation: float = setting(
        0.05,
        help="Points (fraction) PGD-20 may exceed the believed accuracy.",
        flags=("--inflation-threshold",),
        panel=DIAG,
    )
    #: PGD-20 at kappa 0 above the sweep's lowest PGD-20
    kappa_gap: float = setting(
        0.05, help="PGD-20 minus the sweep's minimum that flags.", panel=DIAG
    )
    #: PGD-20 above the logit-scaling adaptive attacks
    adaptive_gap: float = setting(
        0.05, help="PGD-20 minus the adaptive attacks that flags.", panel=DIAG
    )
    #: PGD-20 above AutoAttack (standard AT models show 2-4 points)
    aa_gap: float = setting(0.08, help="PGD-20 minus AutoAttack that flags.", panel=DIAG)
    fgsm_margin: float = 0.01  #: FGSM below PGD-20 by more than this
    steps_gap: float = 0.02  #: PGD-20 above PGD-100 by more than this
    #: share of samples whose whole clean input gradient is 0
    zero_grad: float = setting(
        0.05,
        help="Share of samples with an all-zero gradient that flags.",
        flags=("--zero-grad-threshold",),
        panel=DIAG,
    )
    unbounded: float = 0.05  #: accuracy an eps = whole-box attack may leave
    square: float = 0.005  #: share of samples only Square breaks
    tail_targets: float = 0.005  #: share of samples only tail-targeted APGD breaks
    escalation: float = 0.005  #: share of samples only an escalation attack breaks
    min_samples: int = 5  #: a gap must concern at least this many samples to count

    def validate(self) -> None:
        """Every threshold is a finite fraction in [0, 1]; ``min_samples`` >= 0."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "min_samples":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ConfigError(f"thresholds.min_samples must be >= 0, got {value!r}")
            elif not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1):
                raise ConfigError(f"threshold {f.name} must be a number in [0, 1], got {value!r}")


@dataclass
class DiagnosticPasses:
    """How far the diagnostics go: which of their passes run and how large they are (all, at
    the sizes docs/METHODS.md §3 gives, by default)."""

    invariant: bool = setting(
        True,
        help="Kappa sweep: also APGD-DLR (scale-invariant loss) at the smallest, zero and "
        "largest kappa.",
        panel=DIAG,
    )
    unbounded: bool = setting(
        True,
        help="PGD-20 with a budget that holds the whole box (should reach ~0%).",
        panel=DIAG,
    )
    unbounded_n: int = setting(
        500, help="Samples of the unbounded attack (evenly spaced).", panel=DIAG
    )
    eot_draws: int = setting(
        20,
        help="Gradients averaged per step of the escalation's EOT attacks (randomised models).",
        panel=DIAG,
    )
    repeats: int = setting(
        10, help="Evaluations of each final point of a randomised model.", panel=DIAG
    )

    def validate(self) -> None:
        """The sizes are integers >= 1 and the switches booleans (one-line ConfigError)."""
        for name in ("invariant", "unbounded"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"--{name} must be true or false, got {getattr(self, name)!r}")
        for name in ("unbounded_n", "eot_draws", "repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} must be an integer >= 1, got {value!r}")


#: the order of the report's ``config.diagnostics`` keys
_DIAGNOSTICS_KEYS = (
    "sweep", "kappas", "invariant", "unbounded", "unbounded_n", "escalate", "eot_draws",
    "repeats", "thresholds",
)  # fmt: skip


@dataclass
class DiagnosticsConfig(DiagnosticPasses):
    """Which diagnostics an audit runs (all by default): its :class:`DiagnosticPasses` and the
    switches and thresholds :class:`AuditConfig` gives."""

    sweep: bool = True
    kappas: tuple[float, ...] = DEFAULT_KAPPAS
    #: attack what gradient attacks cannot see through (Square; EOT for randomised models)
    escalate: bool = True
    thresholds: Thresholds = setting(factory=Thresholds, nested=True)

    def to_dict(self) -> dict[str, Any]:
        plain = asdict(self)
        out = {k: plain[k] for k in _DIAGNOSTICS_KEYS}
        out["kappas"] = list(self.kappas)
        return out
