"""The released checkpoints of the long-tailed adversarial-training papers, as data (torch-free).

Each row of :data:`PAPER_FORMATS` describes how one official repository saves a model and how
its evaluation code computes the deployed logits: the key the state_dict is nested under, the
keys that identify its layout, the renames onto ltrobust's architectures (``resnet.py``,
``wideresnet.py``), and its configs (head, logit scale, the cosine's gamma, the inference-time
adjustment ``-tau * ln(pi)``, input normalisation). Every value cites the file it was read from;
docs/FORMATS.md gives the commits. :func:`detect` picks the format of a state_dict from its key
names; :mod:`ltrobust.models.paper_loading` builds the model.

The dataclasses and the key matching are in :mod:`ltrobust.models.paper_spec`.
"""

from __future__ import annotations

from ltrobust.errors import ConfigError
from ltrobust.models.paper_spec import DROP, HEAD, Match, PaperConfig, PaperFormat, match
from ltrobust.registry import Entry, Registry

#: normalisation of RobustLT's data modules (core/data/cifar10lt.py, cifar100lt.py DATA_DESC)
CIFAR10_NORM = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
CIFAR100_NORM = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))


_ROBAL = "wutong16/Adversarial_Long-Tail"
_ROBAL_EVAL = "configs/CIFAR{}_LT/cifar{}_LT{}_pgdat_robal_{}_eval.yaml"


def _robal_config(
    name: str, classes: int, ratio: str, head: str, scale: float, gamma: float, tau: float
) -> PaperConfig:
    """A RoBal eval config: ``PostProc_Classifier`` (cosine, no bias: it never reads
    ``classifier.bias``) or, for cifar10-R, ``CosPlus_Classifier`` (cosine + bias)."""
    kind = name.rsplit("-", 1)[1]
    return PaperConfig(
        name,
        head=head,
        scale=scale,
        gamma=gamma,
        tau=tau,
        keys=(r"^classifier\.weight$",),
        classes=(classes,),
        default=kind == "N",
        unused=(r"^classifier\.bias$",) if head == "cosine" else (),
        source=_ROBAL_EVAL.format(classes, classes, ratio, kind),
    )


ROBAL = PaperFormat(
    name="robal",
    title="RoBal (Wu et al., CVPR 2021)",
    repo=_ROBAL,
    commit="ab2f3a792aede2bd2a3e57657c787ec542165be1",
    files=(
        "models/Networks.py",
        "models/backbones/wideresnet.py",
        "models/classifiers/basic_classifiers.py",
        "utils/env.py",
        "train.py",
        "test.py",
        "datasets/builder.py",
        "configs/CIFAR10_LT/*.yaml",
        "configs/CIFAR100_LT/*.yaml",
    ),
    container=None,
    required=(
        (r"^backbone\.block1\.layer\.0\.conv1\.weight$", "backbone.block1.layer.0.conv1.weight"),
        (r"^backbone\.bn1\.weight$", "backbone.bn1.weight"),
        (r"^classifier\.(fc\.)?weight$", "classifier.weight"),
    ),
    forbidden=(r"^backbone\.(fc|layer1)\.",),
    rules=(
        (r"^backbone\.sub_block1\.", DROP),
        (r"^backbone\.", ""),
        (r"^classifier\.moving_ed$", DROP),
        (r"^classifier\.fc\.", HEAD),
        (r"^classifier\.", HEAD),
    ),
    families=("wrn",),
    configs=(
        PaperConfig(
            "fc",
            keys=(r"^classifier\.fc\.weight$",),
            source="configs/CIFAR10_LT/cifar10_LT0.02_pgdat.yaml (classifier: FC)",
        ),
        _robal_config("cifar10-N", 10, "0.02", "cosine", 10.0, 1 / 32, 0.1),
        _robal_config("cifar100-N", 100, "0.1", "cosine", 10.0, 1 / 32, 1.5),
        _robal_config("cifar10-R", 10, "0.02", "cosplus", 1.0, 1 / 32, 0.0),
        _robal_config("cifar100-R", 100, "0.1", "cosine", 10.0, 1 / 16, 1.7),
    ),
    notes=(
        "Networks only builds the WideResNet backbone (no fc); the saved file is "
        "torch.save(model.state_dict()) (train.py); test.py loads it with utils/env.py "
        "load_checkpoint, which strips a leading model./module. and skips sub_block1 keys.",
    ),
)

ROBUSTLT = PaperFormat(
    name="robustlt",
    title="RobustLT (Zhang et al., CVPR 2026, 'Taming the Long Tail')",
    repo="zhang-lilin/RobustLT",
    commit="2d639792ea213e0d050f1046b26ef7919adf97b5",
    files=(
        "core/models/__init__.py",
        "core/models/basic_classifiers.py",
        "core/models/resnet.py",
        "core/models/wideresnet.py",
        "core/trainer/__init__.py",
        "core/trainer/parser.py",
        "core/data/cifar10lt.py",
        "core/data/cifar100lt.py",
        "eval.py",
        "configs/cifar10lf/*.yaml",
        "configs/cifar100lf/*.yaml",
    ),
    container="model_state_dict",
    required=(
        (r"^backbone\.conv1\.weight$", "backbone.conv1.weight"),
        (r"^backbone\.bn1\.weight$", "backbone.bn1.weight"),
        (r"^classifier\.(fc\.)?weight$", "classifier.weight"),
    ),
    forbidden=(r"^backbone\.fc\.", r"^backbone\.linear\."),
    rules=(
        (r"^backbone\.", ""),
        (r"^classifier\.moving_ed$", DROP),
        (r"^classifier\.fc\.", HEAD),
        (r"^classifier\.", HEAD),
    ),
    families=("resnet", "wrn"),
    configs=(
        PaperConfig(
            "fc",
            keys=(r"^classifier\.fc\.weight$",),
            source="core/models/basic_classifiers.py FC_Classifier",
        ),
        PaperConfig(
            "cosplus",
            head="cosplus",
            scale=1.0,
            gamma=1 / 32,
            keys=(r"^classifier\.moving_ed$",),
            source="configs/cifar10lf/robal_cifar10.yaml and robustlt_robal_*.yaml (CosPlus)",
        ),
        PaperConfig(
            "cos",
            head="cosplus",
            scale=16.0,
            gamma=0.0,
            keys=(r"^classifier\.weight$",),
            source="core/models/basic_classifiers.py Cos_Classifier defaults (scale 16)",
        ),
    ),
    normalization={10: CIFAR10_NORM, 100: CIFAR100_NORM},
    needs_normalization=True,
    notes=(
        "the backbones normalise inside forward with the dataset's mean/std (parser.py "
        "--normalize defaults to True) held as plain tensors, so the file does not store them; "
        "eval.py loads state-last.pt['model_state_dict'].",
    ),
)

REAT = PaperFormat(
    name="reat",
    title="REAT (Li, Xu and Zhang)",
    repo="GuanlinLee/REAT",
    commit="a7909fd98a52d2bdb6a68aea7248e80900cffa29",
    files=("resnet.py", "wrn.py", "train.py", "builder.py"),
    container="state_dict",
    required=(
        (r"^fc\.weight$", "fc.weight"),
        (r"^(conv1\.0\.weight|block1\.layer\.0\.conv1\.weight)$", "conv1.0.weight"),
    ),
    forbidden=(r"^sub_block1\.", r"^linear\.", r"^backbone\.", r"^encoder\."),
    rules=(
        (r"^conv1\.0\.", "conv1."),
        (r"^conv1\.1\.", "bn1."),
        (r"\.residual_function\.0\.", ".conv1."),
        (r"\.residual_function\.1\.", ".bn1."),
        (r"\.residual_function\.3\.", ".conv2."),
        (r"\.residual_function\.4\.", ".bn2."),
        (r"^fc\.", HEAD),
    ),
    families=("resnet", "wrn"),
    configs=(PaperConfig("default", source="train.py (the test loop evaluates n(x))"),),
    notes=("train.py saves {'state_dict': n.state_dict(), 'epoch'} as *best.pkl / *last.pkl.",),
)

ATBSL = PaperFormat(
    name="atbsl",
    title="AT-BSL (Yue et al., CVPR 2024)",
    repo="NISPLab/AT-BSL",
    commit="23f433e8eeec463f1ec40188966a64d240c33443",
    files=(
        "models/resnet.py",
        "models/wideresnet.py",
        "models/ti_preact_resnet.py",
        "train_at_bsl_cifar10.py",
        "train_at_bsl_tiny_imagenet.py",
        "eval.py",
    ),
    container=None,
    required=(
        (r"^conv1\.weight$", "conv1.weight"),
        (r"^(layer1\.0|block1\.layer\.0)\.conv1\.weight$", "layer1.0.conv1.weight"),
        (r"^(linear|fc)\.weight$", "linear.weight"),
    ),
    # torchvision's ResNets name their shortcut downsample (AT-BSL's models: shortcut)
    forbidden=(r"\.residual_function\.", r"^backbone\.", r"^encoder\.", r"\.downsample\."),
    rules=((r"^sub_block1\.", DROP), (r"^(linear|fc)\.", HEAD)),
    families=("resnet", "wrn", "preact"),
    configs=(PaperConfig("default", source="eval.py (model(X) with ToTensor inputs)"),),
    notes=("the training scripts save torch.save(model.state_dict()) each epoch.",),
)

MCAT = PaperFormat(
    name="mcat",
    title="MCAT (Xian, Yang and Yu, 2026)",
    repo="yneversky/MCAT",
    commit="f19c2afc52aa2941fccbe4d0c16f64f640dd76a1",
    files=(
        "MACT_code.zip: mcat/models.py",
        "mcat/trainer.py",
        "mcat/data.py",
        "run.py",
    ),
    container="model",
    required=(
        (r"^encoder\.conv1\.weight$", "encoder.conv1.weight"),
        (r"^encoder\.layer1\.0\.conv1\.weight$", "encoder.layer1.0.conv1.weight"),
        (r"^classifier\.weight$", "classifier.weight"),
    ),
    forbidden=(r"^backbone\.",),
    rules=(
        (r"^encoder\.", ""),
        (r"\.downsample\.", ".shortcut."),
        (r"^classifier\.", HEAD),
    ),
    families=("resnet",),
    configs=(
        PaperConfig("default", source="mcat/trainer.py (logits = model(x)[0]; ToTensor inputs)"),
    ),
    notes=(
        "FeatClassifier returns (logits, features); the deployed logits are the first output. "
        "--arch resnet18 (run.py's default) keeps torchvision's 7x7 stride-2 stem and max-pool; "
        "resnet18_cifar uses a 3x3 stride-1 stem without pooling.",
    ),
)

#: the papers' checkpoint formats: rows of data, read by :mod:`ltrobust.models.paper_loading`
PAPER_FORMATS: Registry[PaperFormat] = Registry(
    "format", [Entry(f.name, None, f.title, f) for f in (ROBAL, REAT, ATBSL, ROBUSTLT, MCAT)]
)


def paper_format(name: str) -> PaperFormat:
    """The row called ``name``; an unknown name raises ``ConfigError``."""
    return PAPER_FORMATS.lookup(name)[0].settings


def detect(keys: list[str], container: str | None) -> tuple[PaperFormat | None, Match, str]:
    """The paper format of a state_dict from its keys and the key it was nested under.

    Returns ``(format, match, note)``: the format (None when none fits every required key),
    the best :class:`Match` (the closest one when nothing fits) and a note naming the other
    formats that fit as well (the container then decided). Two full matches that the
    container does not separate raise ``ConfigError``.
    """
    matches = sorted(
        (match(paper_format(n), keys, container) for n in PAPER_FORMATS.names()),
        key=lambda m: m.score,
        reverse=True,
    )
    best = matches[0]
    if not best.full:
        return None, best, ""
    tied = [m.name for m in matches[1:] if m.score == best.score]
    if tied:
        raise ConfigError(
            f"the keys fit the formats {', '.join([best.name, *tied])} alike; pass --format"
        )
    others = [m.name for m in matches[1:] if m.full]
    note = f" (the keys also fit {', '.join(others)}; the container decided)" if others else ""
    return paper_format(best.name), best, note


def format_names() -> list[str]:
    """The paper formats' names, in table order."""
    return PAPER_FORMATS.names()
