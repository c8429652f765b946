"""What an audit runs: every option of ``ltrobust audit`` and ``ltrobust.audit()``, declared once.

:class:`AuditConfig` holds the data selection, the model-loading options, the attacks and
threat model, the diagnostics with their :class:`Thresholds`, and the execution settings. The
CLI builds its options from these declarations (:mod:`ltrobust.cli.options`); the Python API
takes the same dataclass or its fields as keywords. ``eps``/``step`` of ``None`` take the
dataset's defaults (docs/METHODS.md §1). This module is torch-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ltrobust.attacks.registry import ATTACKS, DEFAULT_ATTACKS, parse_attack_list
from ltrobust.audit.protocols import PROTOCOLS, check_protocols, parse_protocols
from ltrobust.data.profile import GROUP_CHOICES
from ltrobust.errors import ConfigError
from ltrobust.models.options import LoadOptions
from ltrobust.settings import setting
from ltrobust.values import NORMS, parse_kappas, parse_number

#: RoBal §3.3, Fig. 2: kappa in {-2, -1.5, ..., 2}
DEFAULT_KAPPAS = tuple(k / 2 for k in range(-4, 5))
AMP_CHOICES = ("none", "bf16")
#: the resume cache of an audit, inside its report folder
CACHE_DIRNAME = ".ltrobust-cache"
# the panels of ``ltrobust audit --help`` (the model-loading options are in models/options.py's
# "Model"; the CLI's own output and gate options in cli/audit.py)
DATA = "Data"
THREAT = "Threat model"
ATTACKS_PANEL = "Attacks"
DIAG = "Diagnostics"
PROTOCOLS_PANEL = "Protocols"
RUN = "Performance"
OUTPUT = "Output"
GATE = "Gate"


def _fraction(flag_name: str) -> Any:
    return lambda text: parse_number(text, name=flag_name)


def _counts(text: str) -> list[int] | dict[str, int]:
    from ltrobust.data.custom import load_class_counts

    return load_class_counts(text)


def _save_adv(text: str) -> list[str]:
    """``--save-adv``: ``all``, ``worst`` or attack names, comma-separated."""
    return [t.strip() for t in text.split(",") if t.strip()]


def _attack_help() -> str:
    return "Comma-separated attacks: " + ATTACKS.valid() + " (ltrobust attacks lists them)."


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
class DiagnosticsConfig:
    """Which diagnostics an audit runs (all by default)."""

    sweep: bool = True
    kappas: tuple[float, ...] = DEFAULT_KAPPAS
    invariant: bool = True  #: APGD-DLR at the smallest, zero and largest kappa
    unbounded: bool = True
    unbounded_n: int = 500  #: samples for the unbounded attack (evenly spaced)
    #: attack what gradient attacks cannot see through (Square; EOT for randomised models)
    escalate: bool = True
    eot_draws: int = 20  #: gradients averaged per step of an EOT attack (AutoAttack's rand)
    repeats: int = 10  #: evaluations of each final point of a randomised model
    thresholds: Thresholds = setting(factory=Thresholds, nested=True)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kappas"] = list(self.kappas)
        return out


@dataclass
class AuditConfig:
    """Every option of an audit (see the module doc); ``validate`` checks them all."""

    dataset: str | None = setting(
        None,
        help="cifar10-lt, cifar100-lt, fashion-mnist-lt, folder:PATH or tensors:FILE.pt "
        "(default: the checkpoint's).",
        panel=DATA,
    )
    attacks: list[str] = setting(
        factory=lambda: list(DEFAULT_ATTACKS),
        help=_attack_help(),
        parse=parse_attack_list,
        show=", ".join(DEFAULT_ATTACKS),
        panel=ATTACKS_PANEL,
    )
    norm: str = setting("linf", help="Threat model norm.", choices=NORMS, panel=THREAT)
    eps: float | None = setting(
        None,
        help="Budget, e.g. 8/255 (default: the dataset's).",
        parse=_fraction("--eps"),
        panel=THREAT,
    )
    step: float | None = setting(
        None,
        help="Step size, e.g. 2/255 (default: the dataset's).",
        parse=_fraction("--step"),
        panel=THREAT,
    )
    n: int | None = setting(
        None,
        flags=("--n", "--num-samples"),
        help="Audit a class-stratified subset of N test samples (under torchrun write "
        "--num-samples: torchrun takes --n for an abbreviation of its own options).",
        panel=DATA,
    )
    batch_size: int = setting(
        256, help="Batch size (results do not depend on it, except AutoAttack's).", panel=RUN
    )
    seed: int = setting(0, help="Seed of random starts and subsets.", panel=ATTACKS_PANEL)
    groups: str = setting(
        "auto",
        help="thirds: head/body/tail; shot: many (> 100 training images) / medium (20-100) / "
        "few (< 20); auto: shot when the training counts have a class in each, else thirds.",
        choices=GROUP_CHOICES,
        panel=DATA,
    )
    device: str = setting("auto", help="auto, cpu, cuda or cuda:N.", panel=RUN)
    data_dir: str | None = setting(None, help="Where the dataset files are.", panel=DATA)
    imbalance_ratio: float | None = setting(
        None, help="n_max / n_min of the training profile.", panel=DATA
    )
    test_imbalanced: bool = setting(
        False, help="Use a long-tailed test set instead of the balanced one.", panel=DATA
    )
    class_counts: list[int] | dict[str, int] | None = setting(
        None,
        help="Training class counts: a file with a JSON list (label order), a JSON object "
        "{class: count} or name,count CSV rows (matched to the dataset's class names).",
        parse=_counts,
        show="none",
        panel=DATA,
    )
    resize: int | None = setting(
        None,
        help="folder: datasets: resize every image to N x N (bilinear, antialiased, as "
        "torchvision's Resize((N, N))); without it all images must share one size.",
        panel=DATA,
    )
    load: LoadOptions = setting(factory=LoadOptions, nested=True)
    diagnose: bool = setting(
        True,
        flags=("--diagnostics",),
        help="Zero-gradient ratios, sweep, sanity checks and the verdict.",
        panel=DIAG,
    )
    sweep: bool = setting(True, help="Run the kappa logit-rescaling sweep.", panel=DIAG)
    escalate: bool = setting(
        True,
        help="When gradients vanish on many samples run Square (gradient-free) on the survivors; "
        "for a randomised model run EOT attacks and evaluate final points repeatedly.",
        panel=DIAG,
    )
    kappas: tuple[float, ...] = setting(
        DEFAULT_KAPPAS,
        flags=("--kappa",),
        help="Sweep grid START:STOP:STEP or a list; logits x 10^-kappa.",
        parse=parse_kappas,
        show="-2:2:0.5",
        panel=DIAG,
    )
    thresholds: Thresholds = setting(factory=Thresholds, nested=True)
    protocols: list[str] = setting(
        factory=lambda: ["strict"],
        flags=("--protocol",),
        help="Also replay papers' evaluation protocols on the same samples: "
        + ", ".join(PROTOCOLS.names())
        + " (docs/PROTOCOLS.md); strict is ltrobust's worst case over every attack run.",
        parse=parse_protocols,
        show="strict",
        panel=PROTOCOLS_PANEL,
    )
    aa_tail_targets: bool = setting(
        False,
        help="Also run targeted APGD towards the tail classes (AutoAttack's top-9 targets "
        "seldom include them) on the samples every other attack left correct.",
        panel=ATTACKS_PANEL,
    )
    amp: str = setting(
        "none",
        help="bf16: attacks iterate under bfloat16 autocast; every final adversarial example is "
        "re-checked in float32 (AutoAttack always runs in float32).",
        choices=AMP_CHOICES,
        panel=RUN,
    )
    channels_last: bool = setting(
        False, help="Channels-last memory format for the model and the batches.", panel=RUN
    )
    compile: bool = setting(False, help="Run the model through torch.compile.", panel=RUN)
    worst_only: list[str] = setting(
        factory=list,
        help="Attacks of --attacks that only feed the worst case: each attacks only the "
        "samples still robust at its turn (faster) and gets no row of its own.",
        parse=parse_attack_list,
        show="none",
        panel=ATTACKS_PANEL,
    )
    resume: bool = setting(
        False,
        help="Reuse the finished batches of an interrupted audit with the same model, data "
        "and settings (kept in OUT/.ltrobust-cache).",
        panel=OUTPUT,
    )
    save_adv: list[str] = setting(
        factory=list,
        help="Keep adversarial images in OUT/adversarial.safetensors (with sample indices and "
        "the attack of each): all (every attack), worst (per sample, the first attack that "
        "broke it) or comma-separated attacks.",
        parse=_save_adv,
        show="none",
        panel=OUTPUT,
    )

    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line) for any invalid option."""
        self.attacks = parse_attack_list(",".join(self.attacks))
        self.worst_only = parse_attack_list(",".join(self.worst_only)) if self.worst_only else []
        stray = [a for a in self.worst_only if a not in self.attacks]
        if stray:
            raise ConfigError(f"--worst-only names attacks not in --attacks: {', '.join(stray)}")
        for name, value, choices in (
            ("--norm", self.norm, NORMS),
            ("--groups", self.groups, GROUP_CHOICES),
            ("--amp", self.amp, AMP_CHOICES),
        ):
            if value not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        for name, v in (("--eps", self.eps), ("--step", self.step)):
            if v is not None and not (math.isfinite(v) and 0 < v <= 1):
                raise ConfigError(f"{name} must be in (0, 1] for [0, 1] pixels, got {v:g}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.n is not None and self.n < 1:
            raise ConfigError(f"--n must be >= 1, got {self.n}")
        if self.resize is not None and self.resize < 1:
            raise ConfigError(f"--resize must be >= 1, got {self.resize}")
        self.check_save_adv()
        self.thresholds.validate()
        self.protocols = parse_protocols(",".join(self.protocols))
        check_protocols(self.protocols, self.norm)

    def check_save_adv(self) -> None:
        """``save_adv`` is ``all``, ``worst`` or attacks of ``attacks``."""
        modes = {"all", "worst"}
        if len(self.save_adv) > 1 and modes & set(self.save_adv):
            raise ConfigError("--save-adv takes all, worst or attack names, not a mix")
        stray = [a for a in self.save_adv if a not in modes and a not in self.attacks]
        if stray:
            raise ConfigError(
                f"--save-adv names attacks not in --attacks: {', '.join(stray)} "
                "(or use all or worst)"
            )

    def reported(self) -> list[str]:
        """The attacks with a row of their own (``attacks`` without ``worst_only``)."""
        return [a for a in self.attacks if a not in self.worst_only]

    def diagnostics(self) -> DiagnosticsConfig | None:
        """The diagnostics to run, or None without ``diagnose``."""
        if not self.diagnose:
            return None
        kappas = tuple(sorted({float(k) for k in self.kappas}))
        return DiagnosticsConfig(
            sweep=self.sweep, kappas=kappas, escalate=self.escalate, thresholds=self.thresholds
        )

    def report_config(self, eps: float, step: float, n: int) -> dict[str, Any]:
        """The ``config`` section of the report: the run settings with the resolved budget."""
        diag = self.diagnostics()
        return {
            "attacks": list(self.attacks),
            "norm": self.norm,
            "eps": eps,
            "step": step,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "groups": self.groups,
            "device": self.device,
            "aa_tail_targets": self.aa_tail_targets,
            "amp": self.amp,
            "channels_last": self.channels_last,
            "compile": self.compile,
            "worst_only": list(self.worst_only),
            "protocols": list(self.protocols),
            "n": n,
            "diagnostics": diag.to_dict() if diag is not None else None,
        }
