"""What an audit runs: every option of ``ltrobust audit`` and ``ltrobust.audit()``, declared once.

:class:`AuditConfig` holds the data selection, the model-loading options, the attacks and
threat model, the diagnostics with their :class:`Thresholds`, and the execution settings. The
CLI builds its options from these declarations (:mod:`ltrobust.cli.options`); the Python API
takes the same dataclass or its fields as keywords. ``eps``/``step`` of ``None`` take the
dataset's defaults (docs/METHODS.md §1). This module is torch-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ltrobust.attacks.registry import (
    ATTACKS,
    DEFAULT_ATTACKS,
    check_attack_name,
    parse_attack_list,
)
from ltrobust.audit.diagnostics_config import (
    DEFAULT_KAPPAS,
    DIAG,
    DiagnosticPasses,
    DiagnosticsConfig,
    Thresholds,
)
from ltrobust.audit.protocols import PROTOCOLS, check_protocols, parse_protocols
from ltrobust.data.profile import GROUP_CHOICES
from ltrobust.errors import ConfigError
from ltrobust.models.options import LoadOptions
from ltrobust.settings import (
    AUDIT_AMP,
    amp_of_precision,
    batch_size_setting,
    data_dir_setting,
    device_setting,
    precision_setting,
    seed_setting,
    setting,
)
from ltrobust.values import NORMS, parse_kappas, parse_number

#: the precisions an audit runs in (its attacks' autocast; float16 would need a scaler)
AUDIT_PRECISIONS = ("fp32", "bf16")
#: the resume cache of an audit, inside its report folder
CACHE_DIRNAME = ".ltrobust-cache"
# the panels of ``ltrobust audit --help`` (the model-loading options are in models/options.py's
# "Model"; the CLI's own output and gate options in cli/audit.py)
DATA = "Data"
THREAT = "Threat model"
ATTACKS_PANEL = "Attacks"
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


def checked_attacks(names: list[str]) -> list[str]:
    """``names`` (already split, by the option's parser or the API) lower-cased, in order,
    without duplicates; an unknown or missing name is a :class:`ConfigError` listing the valid
    ones. The text itself is parsed once, where it is read."""
    out = list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    if not out:
        raise ConfigError("no attack given; valid: " + ATTACKS.valid())
    for name in out:
        check_attack_name(name)
    return out


def _attack_help() -> str:
    return "Comma-separated attacks: " + ATTACKS.valid() + " (ltrobust attacks lists them)."


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
    batch_size: int = batch_size_setting(256, panel=RUN)
    seed: int = seed_setting(panel=ATTACKS_PANEL)
    groups: str = setting(
        "auto",
        help="thirds: head/body/tail; shot: many (> 100 training images) / medium (20-100) / "
        "few (< 20); auto: shot when the training counts have a class in each, else thirds.",
        choices=GROUP_CHOICES,
        panel=DATA,
    )
    device: str = device_setting(panel=RUN)
    data_dir: str | None = data_dir_setting(panel=DATA)
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
    passes: DiagnosticPasses = setting(factory=DiagnosticPasses, nested=True)
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
    precision: str = precision_setting(choices=AUDIT_PRECISIONS, panel=RUN, aliases=(AUDIT_AMP,))
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
        self.attacks = checked_attacks(self.attacks)
        self.worst_only = checked_attacks(self.worst_only) if self.worst_only else []
        stray = [a for a in self.worst_only if a not in self.attacks]
        if stray:
            raise ConfigError(f"--worst-only names attacks not in --attacks: {', '.join(stray)}")
        for name, value, choices in (
            ("--norm", self.norm, NORMS),
            ("--groups", self.groups, GROUP_CHOICES),
            ("--precision", self.precision, AUDIT_PRECISIONS),
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
        self.passes.validate()
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

    @property
    def amp(self) -> str:
        """The precision as reports and the resume key spell it (``none`` or ``bf16``)."""
        return amp_of_precision(self.precision)

    def reported(self) -> list[str]:
        """The attacks with a row of their own (``attacks`` without ``worst_only``)."""
        return [a for a in self.attacks if a not in self.worst_only]

    def diagnostics(self) -> DiagnosticsConfig | None:
        """The diagnostics to run, or None without ``diagnose``."""
        if not self.diagnose:
            return None
        kappas = tuple(sorted({float(k) for k in self.kappas}))
        return DiagnosticsConfig(
            sweep=self.sweep,
            kappas=kappas,
            escalate=self.escalate,
            thresholds=self.thresholds,
            **asdict(self.passes),
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
            "amp": self.amp,  # the report's spelling of the precision
            "channels_last": self.channels_last,
            "compile": self.compile,
            "worst_only": list(self.worst_only),
            "protocols": list(self.protocols),
            "n": n,
            "diagnostics": diag.to_dict() if diag is not None else None,
        }
