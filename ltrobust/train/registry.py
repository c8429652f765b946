"""The training methods as one declarative table (docs/METHODS.md §4): ``at``, ``trades``,
``robal``, ``reat`` (adversarial training) and ``ce``, ``cmo``, ``afr`` (clean training).

Each row names the method's class (imported on first use), a one-line description and its
settings: the defaults it gives the common options (batch size, weight decay, inner-attack
steps) and its hyper-parameters as :class:`~ltrobust.settings.Param` declarations, from which the
CLI builds ``ltrobust train``'s options and ``--help``. This module is torch-free.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ltrobust.registry import Entry, Registry
from ltrobust.settings import Param, Setting
from ltrobust.train.schedule import RECIPE_LR_STEPS, parse_lr_steps
from ltrobust.values import parse_number

if TYPE_CHECKING:
    from ltrobust.train.base import TrainMethod
    from ltrobust.train.config import TrainConfig

HYPER = "Method hyper-parameters"
LOSS_NAMES = ("ce", "bsl", "la", "ldam", "cb", "focal")
TAIL_FORMS = ("official", "paper")
SPLIT_RULES = ("text", "eq2")
_KEYS = ("m0", "tau_m", "tau_b", "beta", "head_gamma", "tau_p")
#: RoBal's presets from its official configs (s = 10; docs/METHODS.md §4)
PRESETS: dict[str, dict[str, float]] = {
    "cifar10-N": dict(zip(_KEYS, (0.1, 0.0, 1.2, 6.0, 1 / 32, 0.1), strict=True)),
    "cifar10-R": dict(zip(_KEYS, (0.1, 0.3, 1.5, 6.0, 1 / 32, 0.0), strict=True)),
    "cifar100-N": dict(zip(_KEYS, (0.2, 0.0, 0.0, 3.0, 1 / 32, 1.5), strict=True)),
    "cifar100-R": dict(zip(_KEYS, (0.3, 0.0, 0.0, 6.0, 1 / 16, 1.7), strict=True)),
}
#: AFR's paper values (§4.1 of the paper; docs/METHODS.md §4.7): the dataset the preset belongs
#: to, the common options and the method options it sets
AFR_PRESETS: dict[str, dict[str, Any]] = {
    "afr-cifar100": {
        "dataset": "cifar100-lt",
        "common": {
            "arch": "resnet32",
            "imbalance_ratio": 100.0,
            "batch_size": 128,
            "lr": 0.1,
            "momentum": 0.9,
            "weight_decay": 2e-4,
            "epochs": 250,
            "warmup_epochs": 5,
            "lr_steps": "160:0.01,180:0.0001",
            "augment": "autoaugment",
            "cutout": 16,
        },
        "options": {
            "loss": "bsl",
            "stage2_epochs": 50,
            "regen_every": 10,
            "afr_steps": 3,
            "afr_step": 1 / 255,
            "afr_lambda": 0.8,
            "afr_share": 0.5,
            "afr_mix": 0.25,
            "mix_beta": 1.0,
        },
    },
}


def _param(name: str, default: Any, help: str, **kwargs: Any) -> Param:
    return Param(name, default, Setting(help=help, panel=HYPER, **kwargs))


#: the outer losses of ``at``, ``reat``, ``ce``, ``cmo`` and ``afr`` (docs/METHODS.md §4)
LOSS_PARAMS = (
    _param(
        "loss",
        "ce",
        "Outer loss (at, reat: on the adversarial batch; ce, cmo, afr: on the clean, mixed "
        "batch; afr: both stages, the paper names none for stage 2).",
        choices=LOSS_NAMES,
    ),
    _param("la_tau", 1.0, "la: tau of the logit adjustment."),
    _param("ldam_max_m", 0.5, "ldam: largest margin."),
    _param("ldam_scale", 1.0, "ldam: logit scale."),
    _param("cb_beta", 0.9999, "cb: beta of the effective number."),
    _param("focal_gamma", 2.0, "focal: gamma."),
)
_BETA_HELP = "Weight of the KL term."


def _number(flag: str) -> Any:
    return lambda text: parse_number(text, name=flag)


PRESET = _param(
    "preset",
    None,
    f"The papers' values: robal {', '.join(PRESETS)} (official configs); afr "
    f"{', '.join(AFR_PRESETS)} (dataset, arch, schedule, augmentation and AFR's values).",
)
#: RoBal's hyper-parameters; their defaults come from the dataset's preset
ROBAL_PARAMS = (
    PRESET,
    _param("head_scale", 10.0, "Cosine scale s."),
    *(
        _param(key, PRESETS["cifar10-N"][key], help, show="preset", parse=parse)
        for key, help, parse in (
            ("m0", "Uniform margin m0.", None),
            ("tau_m", "Class-aware margin tau_m.", None),
            ("tau_b", "Training bias tau_b.", None),
            ("beta", _BETA_HELP, None),
            ("head_gamma", "Gamma of the weight norms, e.g. 1/32.", _number("--head-gamma")),
            ("tau_p", "Inference bias tau_p (stored in the checkpoint).", None),
        )
    ),
)


#: CMO's mixing (Park et al. 2022; official code values), also AFR's stage 1
CMO_PARAMS = (
    _param("mix_prob", 0.5, "CMO: probability that a batch gets class-balanced CutMix patches."),
    _param("mix_beta", 1.0, "CutMix: lam ~ Beta(a, a) (cmo, afr stages 1 and 2)."),
    _param(
        "cmo_skip_first",
        4,
        "CMO: no mixing in the first N epochs (official code: start_data_aug 3, 0-based).",
    ),
    _param("cmo_skip_last", 3, "CMO: no mixing in the last N epochs (of afr's stage 1)."),
)
#: AFR's hyper-parameters (docs/METHODS.md §4.7: every gap of the paper and its decision)
AFR_PARAMS = (
    PRESET,
    replace(LOSS_PARAMS[0], default="bsl"),
    *LOSS_PARAMS[1:],
    *CMO_PARAMS,
    _param(
        "init",
        None,
        "afr: stage 2 alone, from this stage-1 checkpoint (e.g. final.pt of --method cmo --loss "
        "bsl); --epochs then counts stage 2 only.",
    ),
    _param("stage2_epochs", 50, "afr: epochs of stage 2 (the last of --epochs)."),
    _param(
        "stage2_lr",
        0.01,
        "afr: lr of stage 2 (the paper gives none; we restart at a tenth of stage 1's lr).",
        parse=_number("--stage2-lr"),
    ),
    _param(
        "stage2_lr_steps",
        "80%:0.1,90%:0.01",
        "afr: lr steps of stage 2, as --lr-steps (percentages of stage 2).",
        parse=parse_lr_steps,
    ),
    _param("regen_every", 10, "afr: rebuild the re-calibrated set every N stage-2 epochs."),
    _param(
        "afr_lambda",
        0.8,
        "afr: cosine threshold lambda; a sample whose embedding has cosine < lambda with its "
        "class mean is minority (the text of §3.1; Eq. 2 prints the labels the other way).",
    ),
    _param(
        "afr_split",
        "text",
        "afr: text = minority below the threshold (§3.1's text, Fig. 3); eq2 = Eq. 2 as printed.",
        choices=SPLIT_RULES,
    ),
    _param(
        "afr_adapt_at",
        0.6,
        "afr: training accuracy from which a class below it uses its own accuracy as threshold "
        "(§3.3: 'between 60% and 70%').",
    ),
    _param(
        "afr_share",
        0.5,
        "afr: share of each class's majority samples perturbed, exactly round(share x count); "
        "none in a class without minority samples.",
    ),
    _param(
        "afr_mix",
        0.25,
        "afr: share of each stage-2 batch that gets a CutMix patch from the re-calibrated set.",
    ),
    _param(
        "afr_steps",
        3,
        "afr: targeted PGD steps towards the class's minority (budget steps x step: the "
        "paper's eps 0.6 is out of reach).",
    ),
    _param(
        "afr_step",
        1 / 255,
        "afr: PGD step size, e.g. 1/255 (from x itself, no random start).",
        parse=_number("--afr-step"),
        show="1/255",
    ),
    _param(
        "afr_head_steps",
        100,
        "afr: Adam steps fitting the 2C-way majority/minority head on frozen features.",
    ),
)
_RECIPE = {"batch_size": 128, "weight_decay": 2e-4, "warmup_epochs": 5, "lr_steps": RECIPE_LR_STEPS}


def _method(
    name: str, cls: str, description: str, options: Iterable[Param], **common: Any
) -> Entry:
    return Entry(name, f"ltrobust.train.{cls}", description, {**common, "options": tuple(options)})


METHODS = Registry(
    "training method",
    [
        _method(
            "at",
            "at:AdversarialTraining",
            "PGD adversarial training with a long-tailed outer loss (--loss bsl is AT-BSL)",
            LOSS_PARAMS,
            batch_size=128,
            weight_decay=5e-4,
            attack_steps=10,
        ),
        _method(
            "trades",
            "trades:Trades",
            "TRADES: natural CE + beta KL(clean || adversarial), KL inner attack",
            [_param("beta", 6.0, _BETA_HELP)],
            batch_size=128,
            weight_decay=2e-4,
            attack_steps=10,
        ),
        _method(
            "robal",
            "robal:RoBal",
            "RoBal: cosine head, class-aware margins and bias, inference-time bias",
            ROBAL_PARAMS,
            batch_size=64,
            weight_decay=2e-4,
            attack_steps=5,
        ),
        _method(
            "reat",
            "reat:Reat",
            "REAT: re-balanced adversarial examples (RBL) and tail feature alignment (TAIL)",
            [
                replace(LOSS_PARAMS[0], default="bsl"),
                *LOSS_PARAMS[1:],
                _param(
                    "tail_form",
                    "official",
                    "TAIL as the official code or the paper.",
                    choices=TAIL_FORMS,
                ),  # fmt: skip
            ],
            batch_size=128,
            weight_decay=5e-4,
            attack_steps=10,
        ),
        _method(
            "ce",
            "ce:CleanTraining",
            "no attack: --loss on clean images (--loss bsl is Balanced Softmax)",
            LOSS_PARAMS,
            epochs=200,
            **_RECIPE,
        ),
        _method(
            "cmo",
            "cmo:Cmo",
            "no attack: CMO, class-balanced CutMix patches on the long-tailed batch, --loss",
            [*LOSS_PARAMS, *CMO_PARAMS],
            epochs=200,
            **_RECIPE,
        ),
        _method(
            "afr",
            "afr:Afr",
            "no attack: AFR, stage 1 BS+CMO, stage 2 fine-tunes with majority samples moved "
            "towards their class's minority features by targeted PGD (the paper's gaps and our "
            "decisions: docs/METHODS.md §4.7); the last epoch is kept, the paper's best test "
            "epoch never",
            AFR_PARAMS,
            epochs=250,
            **_RECIPE,
        ),
    ],
)


def method_params(name: str) -> tuple[Param, ...]:
    """The hyper-parameters of method ``name``; ConfigError listing the methods otherwise."""
    entry, _ = METHODS.lookup(name)
    params: tuple[Param, ...] = entry.settings["options"]
    return params


def method_defaults(name: str) -> dict[str, Any]:
    """The common options the method sets (``batch_size``, ``weight_decay``, ``attack_steps``;
    the clean methods also ``epochs``, ``warmup_epochs`` and ``lr_steps``)."""
    entry, _ = METHODS.lookup(name)
    return {k: v for k, v in entry.settings.items() if k != "options"}


def get_method_class(name: str) -> type[TrainMethod]:
    """The class of method ``name`` (imported on first use)."""
    entry, _ = METHODS.lookup(name)
    cls: type[TrainMethod] = entry.load()  # type: ignore[assignment]
    return cls


def build_method(config: TrainConfig) -> TrainMethod:
    """An instance of ``config.method`` configured by ``config``."""
    return get_method_class(config.method)(config)
