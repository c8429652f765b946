"""The papers' evaluation protocols as one declarative table (docs/PROTOCOLS.md).

``ltrobust audit MODEL --protocol robal,at-bsl,...,strict`` replays what each paper's
evaluation code does — its attacks with their settings, each scored on its own (no paper takes
a per-sample worst case across its attacks), its test set and the metrics it publishes — on the
same samples as ``strict``, ltrobust's per-sample worst case over every attack the audit ran.
Each row names the attacks (rows of :data:`ltrobust.attacks.registry.ATTACKS`), the headline
the paper leads with (``headline``: the row; ``headline_metric``: overall or balanced accuracy),
the ltrobust groups whose numbers the paper publishes with the same definition
(``groups_published``), the official code it was verified against and every deviation of the
replay. Budgets and steps are CIFAR's (8/255) in the papers; on another dataset they keep their
ratio to the dataset's eps. This module is torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ltrobust.errors import ConfigError
from ltrobust.registry import Entry, Registry
from ltrobust.values import parse_names

#: what a headline can be: overall accuracy, or balanced (mean per-class) accuracy
HEADLINE_METRICS = ("overall", "balanced")
HeadlineMetric = Literal["overall", "balanced"]
TestSet = Literal["balanced", "long-tailed"]
Verified = Literal["full", "partial", "-"]
#: every group ltrobust defines (``thirds``: head, body, tail; ``shot``: many, medium, few)
ALL_GROUPS = ("head", "body", "tail", "many", "medium", "few")
#: the deviation every replay has: no paper seeds its random starts reproducibly
SEEDS = (
    "random starts come from ltrobust's per-sample seeds; the official code seeds nothing (or "
    "from the clock), so only their distribution can be replayed"
)


def _mask(value: str, where: str) -> str:
    """The deviation of a CW replay whose paper masks the true class with a finite constant."""
    return (
        f"its CW loss takes the largest other logit after setting the true class's logit to "
        f"{value} ({where}), ltrobust's after setting it to -inf: the two differ only when every "
        f"other logit is below {value} (stretched logits), where the paper's loss then moves the "
        "true logit alone"
    )


@dataclass(frozen=True)
class ProtocolSpec:
    """One paper's evaluation, as the table's row.

    Attributes:
        leaves_out: what the paper's evaluation leaves out that strict counts (one sentence).
        rows: ``(label, attack)`` per row the paper prints, in its order; the attack is a row
            of the attack table.
        headline: the row label the paper leads with (``worst case`` for strict).
        headline_metric: overall or balanced (mean per-class) accuracy.
        groups_published: ltrobust's groups whose numbers the paper publishes, same definition.
        test_set: ``balanced`` (the usual test set) or ``long-tailed`` (TAET's, by training rank).
        verified: against the official code ``full``-y, ``partial``-ly, or ``-`` (strict).
        source: the official code (repository@commit: files) or document it replays.
        deviations: every way the replay differs from that code, one sentence each.
        block_sums: RoBal's sums of per-class recall over 10 blocks of classes (C >= 100).
        tail_below: MCAT's tail: classes with fewer training images than this.
    """

    leaves_out: str
    rows: tuple[tuple[str, str], ...]
    headline: str
    headline_metric: HeadlineMetric
    groups_published: tuple[str, ...]
    test_set: TestSet
    verified: Verified
    source: str
    deviations: tuple[str, ...]
    block_sums: bool = False
    tail_below: int | None = None

    def __post_init__(self) -> None:
        labels = [label for label, _ in self.rows]
        if self.rows and self.headline not in labels:
            raise ValueError(f"headline {self.headline!r} is not one of the rows {labels}")
        if not set(self.groups_published) <= set(ALL_GROUPS):
            raise ValueError(f"unknown groups in {self.groups_published}")


def _protocol(name: str, description: str, spec: ProtocolSpec) -> Entry[ProtocolSpec]:
    return Entry(name, None, description, spec)


PROTOCOLS: Registry[ProtocolSpec] = Registry(
    "protocol",
    [
        _protocol(
            "strict",
            "ltrobust: the per-sample worst case over every attack the audit ran, every "
            "protocol's included",
            ProtocolSpec(
                leaves_out="nothing it ran: a sample counts as robust only if it survives clean evaluation and every attack of every protocol",
                rows=(),
                headline="worst case",
                headline_metric="overall",
                groups_published=ALL_GROUPS,
                test_set="balanced",
                verified="-",
                source="docs/METHODS.md",
                deviations=(),
            ),
        ),
        _protocol(
            "robal",
            "RoBal (Wu et al., CVPR 2021): test.py -a ALL",
            ProtocolSpec(
                leaves_out="scores each attack on its own (no per-sample worst case across attacks); its AutoAttack is APGD-CE + APGD-T only (no FAB-T, no Square); eps 0.031 instead of 8/255; overall accuracy only (Table 2), no group numbers",
                rows=(
                    ("FGSM", "robal-fgsm"),
                    ("PGD-20", "robal-pgd20"),
                    ("MIM-20", "robal-mim20"),
                    ("CW-20", "robal-cw20"),
                    ("AA", "robal-aa"),
                ),
                headline="AA",
                headline_metric="overall",
                groups_published=(),
                test_set="balanced",
                verified="full",
                block_sums=True,
                source="wutong16/Adversarial_Long-Tail@ab2f3a7: test.py, attacks/{pgd_attack,"
                "other_attacks,auto_attack}.py, configs/*_eval.yaml",
                deviations=(
                    SEEDS,
                    "its official CIFAR-10 RoBal-R config attacks the cosines at scale 1; the replay "
                    "attacks the model as deployed",
                    _mask("-1000", "attacks/other_attacks.py:41"),
                ),
            ),
        ),
        _protocol(
            "at-bsl",
            "AT-BSL (Yue et al., CVPR 2024): eval.py",
            ProtocolSpec(
                leaves_out="scores each attack on its own; its AutoAttack is torchattacks' (APGD, APGD-T and FAB with 10 iterations, C - 1 targets, a faster Square schedule); no group numbers",
                rows=(
                    ("FGSM", "atbsl-fgsm"),
                    ("PGD-20", "atbsl-pgd20"),
                    ("CW-20", "atbsl-cw20"),
                    ("LSA", "atbsl-lsa"),
                    ("AA", "ta-aa"),
                ),
                headline="AA",
                headline_metric="overall",
                groups_published=(),
                test_set="balanced",
                verified="full",
                source="NISPLab/AT-BSL@23f433e: eval.py; torchattacks 3.5.1 (pinned there)",
                deviations=(SEEDS, _mask("-10000", "eval.py:22")),
            ),
        ),
        _protocol(
            "reat",
            "REAT (Li et al.): no evaluation code; the training monitor's torchattacks PGD-20 "
            "and the paper's PGD-100, CW-100 and AutoAttack",
            ProtocolSpec(
                leaves_out="scores each attack on its own; overall accuracy only (its head/body/tail thirds are a training notion; Fig. 4b plots per-class PGD-20); the x10-logit adaptive PGD-20 and PGD-100 it prints for RoBal models (Tables 3-5) are not replayed",
                rows=(
                    ("PGD-20", "ta-pgd20"),
                    ("PGD-100", "reat-pgd100"),
                    ("CW-100", "reat-cw100"),
                    ("AA", "aa"),
                ),
                headline="AA",
                headline_metric="overall",
                groups_published=(),
                test_set="balanced",
                verified="partial",
                source="GuanlinLee/REAT@a7909fd: train.py (monitor); paper §5",
                deviations=(
                    SEEDS,
                    "only PGD-20 is verified from code; the steps of PGD-100 and CW-100 (eps/4), "
                    "CW's kappa (50) and the AutoAttack version (fra31 standard) are assumptions",
                ),
            ),
        ),
        _protocol(
            "robustlt",
            "RobustLT (Zhang et al., CVPR 2026): eval.py with configs/eval/{nat,pgd,cw,aa}",
            ProtocolSpec(
                leaves_out="scores each attack on its own; PGD and CW take steps of eps/8; torchattacks' AutoAttack; overall and per-class accuracy, no group numbers",
                rows=(("PGD-20", "ta-pgd20-slow"), ("CW-20", "robustlt-cw20"), ("AA", "ta-aa")),
                headline="AA",
                headline_metric="overall",
                groups_published=(),
                test_set="balanced",
                verified="full",
                source="zhang-lilin/RobustLT@2d63979: eval.py, core/metrics.py, configs/eval/*.yaml",
                deviations=(
                    SEEDS,
                    _mask("-10000", "core/metrics.py:33"),
                    "the headline (AutoAttack, overall) is the strongest row eval.py prints; the "
                    "paper's tables were not read",
                ),
            ),
        ),
        _protocol(
            "mcat",
            "MCAT (Xian et al., 2026): trainer._evaluate_epoch",
            ProtocolSpec(
                leaves_out="scores PGD-20 and AutoAttack separately; its tail (classes with fewer than 20 training images: ltrobust's few group, and each row's tail_below_20) is empty on CIFAR-10-LT, where its code prints 0.00 and ltrobust null",
                rows=(("PGD-20", "mcat-pgd20"), ("AA", "aa")),
                headline="AA",
                headline_metric="overall",
                groups_published=("few",),
                test_set="balanced",
                verified="full",
                source="yneversky/MCAT@f19c2af: MACT_code.zip mcat/{attacks,trainer}.py",
                deviations=(SEEDS,),
                tail_below=20,
            ),
        ),
        _protocol(
            "taet",
            "TAET (Wang et al., CVPR 2025): TAET.ipynb cells 10-12, on a long-tailed test set",
            ProtocolSpec(
                leaves_out="publishes balanced robustness (mean per-class accuracy under PGD-20 with steps of eps/8) on a long-tailed test set, and the same over its tail (classes 5-9 of CIFAR-10: none of ltrobust's groups, not replayed); no per-sample worst case",
                rows=(
                    ("FGSM", "ta-fgsm"),
                    ("PGD-20", "ta-pgd20-slow"),
                    ("PGD-100", "ta-pgd100-slow"),
                    ("AA", "ta-aa"),
                ),
                headline="PGD-20",
                headline_metric="balanced",
                groups_published=(),
                test_set="long-tailed",
                verified="full",
                source="BuhuiOK/TAET-...@a374adf: code/TAET/TAET.ipynb, datasets/create_cifar10-lt",
                deviations=(
                    SEEDS,
                    "the long-tailed test set is drawn from the audited samples by the training "
                    "profile (the code's images were chosen without a seed)",
                    "no 224x224 upsampling before the attack (the audited model takes its own input "
                    "size); the unbounded L2 CW and DeepFool rows are left out (outside the threat "
                    "model)",
                ),
            ),
        ),
        _protocol(
            "robustbench",
            "RobustBench: robustbench.eval.benchmark with AutoAttack's standard version",
            ProtocolSpec(
                leaves_out="AutoAttack's standard version only: no adaptive or logit-scaling attack, no group numbers",
                rows=(("AA", "aa"),),
                headline="AA",
                headline_metric="overall",
                groups_published=(),
                test_set="balanced",
                verified="full",
                source="RobustBench/robustbench@78fcc9e: robustbench/eval.py; fra31/auto-attack@a392200",
                deviations=(
                    SEEDS,
                    "the audited samples, not the first n_examples of the test set in file order",
                ),
            ),
        ),
    ],
)


def parse_protocols(text: str) -> list[str]:
    """``"robal, at-bsl"`` -> names, each checked against the table."""
    names = parse_names(text, name="--protocol")
    for name in names:
        PROTOCOLS.lookup(name)
    return names


def protocol_attacks(names: list[str]) -> list[tuple[str, str, str]]:
    """``(protocol, row label, attack)`` for every row of the protocols ``names``."""
    out = []
    for name in names:
        entry, _ = PROTOCOLS.lookup(name)
        out += [(name, label, attack) for label, attack in entry.settings.rows]
    return out


def check_protocols(names: list[str], norm: str) -> None:
    """ConfigError for an unknown name, or a paper protocol with an L2 threat model (they are
    all L-inf)."""
    for name in names:
        PROTOCOLS.lookup(name)
    papers = [n for n in names if n != "strict"]
    if papers and norm != "linf":
        raise ConfigError(f"--protocol {','.join(papers)}: the papers' protocols are L-inf only")
