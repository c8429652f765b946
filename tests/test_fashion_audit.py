"""A real audit: the bundled checkpoint on Fashion-MNIST-LT (runs when the data is present;
CI installs Debian's dataset-fashion-mnist through the Makefile)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.data import dataset_status, get_spec

CKPT = Path(__file__).resolve().parent.parent / "checkpoints" / "small_cnn-at-ce-fmnist-lt.pt"

pytestmark = pytest.mark.skipif(
    not dataset_status(get_spec("fashion-mnist-lt"))[0], reason="Fashion-MNIST files not present"
)


def test_bundled_checkpoint_audit_on_fashion_mnist_lt(tmp_path):
    out = tmp_path / "fm"
    result = CliRunner().invoke(
        app,
        [
            "audit",
            str(CKPT),
            "--dataset",
            "fashion-mnist-lt",
            "--n",
            "300",
            "--attacks",
            "fgsm,pgd20",
            "--quiet",
            "--no-sweep",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    ds = report["dataset"]
    assert ds["class_counts"] == [6000, 3884, 2515, 1628, 1054, 682, 442, 286, 185, 120]
    assert ds["groups"] == {"head": [0, 1, 2], "body": [3, 4, 5, 6], "tail": [7, 8, 9]}
    assert ds["test_counts"] == [30] * 10 and ds["class_names"][0] == "T-shirt/top"
    clean = report["clean"]["summary"]
    pgd = report["attacks"]["pgd20"]["summary"]
    fgsm = report["attacks"]["fgsm"]["summary"]
    # an adversarially trained model: clearly better than chance clean and under attack,
    # clearly hurt by the attack, and PGD no weaker than FGSM
    assert clean["accuracy"] > 0.6
    assert 0.2 < pgd["accuracy"] < clean["accuracy"] - 0.05
    assert pgd["accuracy"] <= fgsm["accuracy"]
    # the long tail shows: head classes are recalled better than tail classes, clean
    assert clean["groups"]["head"]["recall"] > clean["groups"]["tail"]["recall"]
    assert report["config"]["eps"] == pytest.approx(0.1)
    # diagnostics ran (no sweep): zero-gradient ratios, the unbounded attack, a verdict per group
    diag = report["diagnostics"]
    assert "sweep" not in diag and diag["zero_grad"]["sample_level"]["overall"] < 0.05
    assert diag["unbounded"]["overall"] < 0.05  # an unbounded budget breaks everything
    assert set(report["verdict"]["groups"]) == {"head", "body", "tail"}


ROBAL = CKPT.parent / "small_cnn-robal-fmnist-lt.pt"


def test_robal_cosine_head_model_is_judged_on_its_merits():
    """The bundled RoBal model (cosine head, scale 10, logit adjustment tau_p at inference):
    the audit attacks the deployed logits, the sweep behaves as the maths says, and the
    verdict's believed accuracy is the worst case over every attack and the sweep."""
    import ltrobust

    report = ltrobust.audit(
        str(ROBAL),
        "fashion-mnist-lt",
        ["pgd20", "adaptive-auto"],
        n=100,
        kappas=(-2.0, 0.0),
        device="cpu",
    )
    ck = report.provenance["checkpoint"]
    assert ck["method"] == "robal" and ck["logit_adjustment"] is not None
    rows = {r["kappa"]: r for r in report.diagnostics["sweep"]["rows"]}
    # rescaling the logits never changes the argmax: clean accuracy is the same at every kappa
    assert len({r["clean"]["overall"] for r in rows.values()}) == 1
    # APGD-DLR is invariant to the logit scale: the same accuracy (within 1%) at kappa -2 and 0
    inv = [r["invariant"]["overall"] for r in rows.values()]
    assert max(inv) - min(inv) <= 0.01
    worst = report.worst_case.summary
    for scope in ("overall", "head", "body", "tail"):
        v = report.verdict["overall"] if scope == "overall" else report.verdict["groups"][scope]
        believed = worst.accuracy if scope == "overall" else worst.groups[scope].recall
        assert v["believed"] == believed
        # the worst case lies at or below every attack and every PGD-20 of the sweep

        def pick(d, scope=scope):
            return d["overall"] if scope == "overall" else d["groups"][scope]

        lowest = min(
            [pick(r["pgd20"]) for r in rows.values()]
            + [pick(r["invariant"]) for r in rows.values()]
        )
        assert believed <= lowest + 1e-12
        infl = v["inflation"]["pgd20"]
        assert infl == pytest.approx(pick(rows[0.0]["pgd20"]) - believed)
        # "inflated" needs more than 5 points of PGD-20 inflation; below that it cannot be
        assert v["verdict"] != "inflated" or infl > 0.05
