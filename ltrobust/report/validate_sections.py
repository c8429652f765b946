"""The report schema's diagnostics, verdict and protocols sections, and the leaf nodes every
section shares (:mod:`ltrobust.report.validate` declares the rest and runs the validation).
Torch-free."""

from __future__ import annotations

from ltrobust.limits import KAPPA_LIMIT
from ltrobust.report.validate_nodes import ANY, Bool, Int, ListOf, MapOf, Num, Obj, Str

FRACTION = Num(0, 1).or_null()  # a recall, an accuracy, a share of samples; null: no samples
DIFFERENCE = Num(-1, 1).or_null()  # a fraction minus another (boundary error, inflation)
COUNT = Int(0)
CLASS = Int(0, below="C")
SECONDS = Num(0)
STRINGS = ListOf(Str())
SAMPLES = "one per test sample, clean.summary.n"
CLASSES = "one per class, dataset.num_classes or the length of clean.summary.per_class"
#: ``{"overall": fraction, "groups": {group: fraction}}``: most diagnostics' shape
SCOPED = Obj({"overall": FRACTION, "groups": MapOf(FRACTION)}, closed=False)

SWEEP_ROW = Obj(
    {
        "kappa": Num(-KAPPA_LIMIT, KAPPA_LIMIT),  # logits x 10^-kappa
        "clean": SCOPED,
        "pgd20": SCOPED,
        "invariant": SCOPED.or_null(),
        "invariant_attack": Str().or_null(),
        "zero_grad": Obj({"pixel": SCOPED, "sample": SCOPED}, closed=False).or_null(),
    },
    optional=frozenset({"zero_grad"}),
    closed=False,
)
CHECK = Obj(
    {
        "name": Str(),
        "group": Str(),
        "triggered": Bool(),
        "value": DIFFERENCE,
        "threshold": Num().or_null(),
        "message": Str(),
    },
    optional=True,
    closed=False,
)
DIAGNOSTICS = Obj(
    {
        "warnings": STRINGS,
        "randomised": Bool(),
        "softmax_outputs": Bool(),
        "worst_only": MapOf(
            Obj(
                {
                    "settings": MapOf(ANY),
                    "attacked": COUNT,
                    "newly_broken": COUNT,
                    "seconds": SECONDS,
                },
                optional=True,
                closed=False,
            )
        ),
        "zero_grad": MapOf(SCOPED),
        "sweep": Obj(
            {"kappas": ListOf(Num(-KAPPA_LIMIT, KAPPA_LIMIT)), "rows": ListOf(SWEEP_ROW)},
            optional=frozenset({"kappas"}),
            closed=False,
        ),
        "unbounded": Obj(
            {**SCOPED.fields, "n": COUNT, "eps": Num(0, above=True), "settings": MapOf(ANY)},
            optional=frozenset({"n", "eps", "settings"}),
            closed=False,
        ),
        "square_only": SCOPED,
        "aa_targets": Obj(
            {
                "k": COUNT,
                "applies": Bool(),
                "samples": COUNT,
                "tail_target_share": SCOPED,
                "pairs_by_group": MapOf(FRACTION),
                "tail_classes_targeted": ListOf(CLASS),
                "tail_classes_never_targeted": ListOf(CLASS),
            },
            optional=True,
            closed=False,
        ),
        "escalation": Obj(
            {
                "ran": ListOf(
                    Obj(
                        {
                            "attack": Str(),
                            "why": Str(),
                            "settings": MapOf(ANY),
                            "repeats": COUNT,
                            "attacked": COUNT,
                            "newly_broken": COUNT,
                            "seconds": SECONDS,
                        },
                        closed=False,
                    )
                ),
                "attacked": COUNT,
                "newly_broken": COUNT,
                "newly_broken_share": SCOPED,
            },
            closed=False,
        ),
        "aa_tail": Obj(
            {
                "attack": Obj(
                    {"max_targets": COUNT, "n_iter": COUNT, "tail_classes": ListOf(CLASS)},
                    optional=True,
                    closed=False,
                ),
                "attacked": COUNT,
                "newly_broken": COUNT,
                "newly_broken_share": SCOPED,
                "seconds": SECONDS,
            },
            optional=True,
            closed=False,
        ),
        "amp": Obj(
            {"dtype": Str(), "recheck": Str(), "flips": MapOf(MapOf(COUNT))},
            optional=True,
            closed=False,
        ),
        "checks": ListOf(CHECK),
    },
    optional=True,
    closed=False,
)
VERDICT_ENTRY = Obj(
    {
        "verdict": Str("reliable", "suspect", "inflated", "degenerate"),
        "believed": FRACTION,
        "inflation": MapOf(DIFFERENCE),
        "flags": STRINGS,
    },
    optional=True,
    closed=False,
)
VERDICT = Obj(
    {
        "overall": VERDICT_ENTRY.or_null(),
        "groups": MapOf(VERDICT_ENTRY),
        "thresholds": MapOf(Num()),
    },
    optional=True,
    closed=False,
)

_GAP = Obj(
    {
        "gap": DIFFERENCE.or_null(),
        "b": COUNT,
        "c": COUNT,
        "n": COUNT,
        "interval": ListOf(FRACTION).or_null(),  # [low, high] of b / n, exact 95%
        "p": Num(0, 1).or_null(),  # reports before 0.3: McNemar's p
    },
    optional=frozenset({"n", "interval", "p"}),
    closed=False,
)
_PUBLISHED = Obj(
    {
        "overall": FRACTION.or_null(),
        "balanced": FRACTION.or_null(),
        "groups": MapOf(FRACTION.or_null()),
    },
    closed=False,
)
PROTOCOL = Obj(
    {
        "description": Str(),
        "leaves_out": Str(),
        "verified": Str(),
        "test_set": Str("balanced", "long-tailed"),
        "n": COUNT,
        "positions": ListOf(Int(0), unique=True),
        "rows": MapOf(
            Obj(
                {
                    "attack": Str().or_null(),
                    "overall": FRACTION.or_null(),
                    "balanced": FRACTION.or_null(),
                    "groups": MapOf(FRACTION.or_null()),
                    "per_class": ListOf(FRACTION.or_null()),
                },
                closed=False,
            )
        ),
        "headline": Str(),
        "headline_metric": Str("overall", "balanced"),  # the scope the paper leads with
        "groups_published": STRINGS,  # the groups whose numbers the paper publishes
        "published": _PUBLISHED,
        "strict": _PUBLISHED,
        "gap": Obj({"overall": _GAP, "groups": MapOf(_GAP)}, closed=False),
        "deviations": STRINGS,
    },
    optional=frozenset({"positions", "leaves_out", "headline_metric", "groups_published"}),
    closed=False,
)
