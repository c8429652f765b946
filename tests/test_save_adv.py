"""``--save-adv``: the adversarial images, their sample indices and attacks, in safetensors;
re-evaluated by the model they give the predictions the report recorded."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

import ltrobust
from ltrobust.audit.adversarial import load_adversarial
from ltrobust.cli.main import app
from ltrobust.errors import ConfigError

from .conftest import TRAIN_COUNTS, save_audit_set, save_test_cnn

FAST = {"attacks": "fgsm,pgd20", "eps": 0.1, "step": 0.02, "diagnose": False}


def _data(balanced_test):
    x, y = balanced_test
    return x[::4].clone(), y[::4].clone()


def test_all_round_trip(tmp_path, trained_cnn, balanced_test):
    x, y = _data(balanced_test)
    path = tmp_path / "adv.safetensors"
    report = ltrobust.audit(
        trained_cnn,
        data=(x, y),
        class_counts=TRAIN_COUNTS,
        save_adv="all",
        save_adv_to=path,
        **FAST,
    )
    saved, attacks = load_adversarial(path)
    assert attacks == ["fgsm", "pgd20"]
    with torch.no_grad():
        again = trained_cnn(saved["x"]).argmax(1)
    assert torch.equal(again, saved["pred"])  # the images give the recorded predictions
    index = report.per_sample["index"]
    for code, name in enumerate(attacks):
        mine = saved["attack"] == code
        assert saved["indices"][mine].tolist() == index  # every sample, in audit order
        assert saved["pred"][mine].tolist() == report.per_sample["adv_pred"][name]
        assert saved["label"][mine].tolist() == y.tolist()
        assert float((saved["x"][mine] - x).abs().max()) <= 0.1 + 1e-6  # within eps


def test_worst_keeps_the_first_attack_that_broke_each_sample(tmp_path, trained_cnn, balanced_test):
    x, y = _data(balanced_test)
    path = tmp_path / "worst.safetensors"
    report = ltrobust.audit(
        trained_cnn,
        data=(x, y),
        class_counts=TRAIN_COUNTS,
        save_adv="worst",
        save_adv_to=path,
        **FAST,
    )
    saved, attacks = load_adversarial(path)
    ps = report.per_sample
    expected = {}
    for pos, (label, clean) in enumerate(zip(ps["y"], ps["clean_pred"], strict=True)):
        broke = [a for a in attacks if clean == label and ps["adv_pred"][a][pos] != label]
        if broke:
            expected[ps["index"][pos]] = attacks.index(broke[0])
    got = dict(zip(saved["indices"].tolist(), saved["attack"].tolist(), strict=True))
    assert got == expected and len(got) == len(saved["indices"]) > 0
    assert len(got) == ps["robust"].count(False) - sum(
        c != t for c, t in zip(ps["clean_pred"], ps["y"], strict=True)
    )
    with torch.no_grad():
        assert bool((trained_cnn(saved["x"]).argmax(1) != saved["label"]).all())


def test_api_needs_a_file_and_known_attacks(trained_cnn, balanced_test):
    x, y = _data(balanced_test)
    with pytest.raises(ConfigError, match="save_adv needs save_adv_to"):
        ltrobust.audit(trained_cnn, data=(x, y), class_counts=TRAIN_COUNTS, save_adv="all", **FAST)
    with pytest.raises(ConfigError, match="^save_adv names attacks not in attacks: cw20"):
        ltrobust.audit(trained_cnn, data=(x, y), class_counts=TRAIN_COUNTS, save_adv="cw20", **FAST)


def test_cli_writes_the_chosen_attack_in_the_report_folder(tmp_path, trained_cnn, balanced_test):
    data = save_audit_set(tmp_path, balanced_test)
    save_test_cnn(tmp_path / "model.pt", trained_cnn)
    out = tmp_path / "out"
    args = ["audit", str(tmp_path / "model.pt"), "--dataset", f"tensors:{data}", "--quiet"]
    args += ["--class-counts", str(tmp_path / "counts.json"), "--attacks", "fgsm,pgd20"]
    args += ["--eps", "0.1", "--step", "0.02", "--no-diagnostics", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--save-adv", "pgd20"])
    assert result.exit_code == 0, result.output
    saved, attacks = load_adversarial(out / "adversarial.safetensors")
    assert attacks == ["pgd20"] and len(saved["indices"]) == 60
    bad = CliRunner().invoke(app, [*args, "--save-adv", "cw20"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().startswith("ltrobust: error: --save-adv names attacks not in")
