"""One registry style (attacks, architectures, training methods), immutable attacks with a
per-call gradient observer and returned details, and options declared once (settings ->
CLI options, the Python API's keywords)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.attacks import ATTACKS, AutoAttackAdapter, ThreatModel, build_attack
from ltrobust.audit.config import AuditConfig
from ltrobust.cli.main import app
from ltrobust.cli.options import OptionSet
from ltrobust.errors import ConfigError
from ltrobust.models.registry import MODELS, get_builder
from ltrobust.registry import Entry, Registry
from ltrobust.settings import setting
from ltrobust.train.registry import METHODS, method_params
from ltrobust.values import parse_kappas, parse_number

runner = CliRunner()


def test_registry_patterns_names_and_errors():
    reg = Registry(
        "thing", [Entry("a", str, "plain"), Entry("b{N}", str, "pattern", examples=("b2",))]
    )
    assert reg.find("a") == (reg.entries()[0], 0)
    assert reg.find("b17")[1] == 17 and reg.find("b0") is None and reg.find("b") is None
    assert reg.names() == ["a", "b2"] and "b99999" in reg and "b100000" not in reg
    with pytest.raises(ConfigError, match=r"unknown thing 'c'; valid: a, b2 \(or bN for any N\)"):
        reg.lookup("c")
    with pytest.raises(ValueError, match="already registered"):
        reg.add(Entry("a", str, "again"))
    assert reg.extended(Entry("z", str, "z")).names() == ["a", "b2", "z"] and "z" not in reg


def test_the_three_tables_share_the_style():
    assert [e.name for e in METHODS] == ["at", "trades", "robal", "reat", "ce", "cmo", "afr"]
    assert "resnet18" in MODELS.names() and "test_cnn" not in MODELS.names()
    assert get_builder("test_cnn").__name__ == "test_cnn"  # hidden rows still resolve
    entry, steps = ATTACKS.lookup("cw35")
    assert entry.settings.loss == "cw" and steps == 35
    assert build_attack("cw35", ThreatModel("linf", 0.1), 0.01).settings()["steps"] == 35
    assert {p.name for p in method_params("reat")} >= {"loss", "tail_form"}


def test_attacks_are_immutable():
    attack = build_attack("pgd20", ThreatModel("linf", 0.1), 0.01)
    with pytest.raises(AttributeError, match="immutable"):
        attack.steps = 5  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        AutoAttackAdapter(ThreatModel("linf", 0.1)).seed = 3  # type: ignore[misc]


def test_gradient_observer_is_per_call():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 2, 0])
    attack = build_attack("pgd7", ThreatModel("linf", 0.1), 0.02)
    seen: list[int] = []
    out = attack.run(model, x, y, observer=lambda t, xa, g: seen.append(t))
    assert seen == list(range(7))
    assert torch.equal(attack(model, x, y), out.x_adv)  # no observer: same result, none called
    assert seen == list(range(7)) and dict(out.details) == {}


def test_autoattack_returns_its_details_per_call(trained_cnn, balanced_test):
    x, y = balanced_test
    attack = build_attack("aa-fast", ThreatModel("linf", 0.1), 0.02)
    out = attack.run(trained_cnn, x[:16], y[:16])
    broken = out.details["broken_by"]
    assert len(broken) == 16 and set(broken) <= {"", "apgd-ce", "apgd-t"}
    with torch.no_grad():
        wrong = trained_cnn(out.x_adv).argmax(1) != y[:16]
    assert [b != "" for b in broken] == [bool(w) for w in wrong]  # broken <=> misclassified
    assert not hasattr(attack, "last_details")


@dataclass
class _Inner:
    depth: int = setting(3, help="Depth.")


@dataclass
class _Config:
    eps: float | None = setting(None, help="Budget.", parse=lambda t: parse_number(t, name="--eps"))
    norm: str = setting("linf", help="Norm.", choices=("linf", "l2"))
    rate: float = setting(0.5, help="A rate.")
    sweep: bool = setting(True, help="Sweep.")
    inner: _Inner = setting(factory=_Inner, nested=True, prefix="in")
    hidden: int = 7


def test_option_set_parses_declared_options():
    opts = OptionSet(_Config)
    flags = {o.param: o.flags for o in opts.options}
    assert flags == {
        "eps": ("--eps",),
        "norm": ("--norm",),
        "rate": ("--rate",),
        "sweep": ("--sweep",),
        "inner__depth": ("--in-depth",),
    }
    values = {"eps": "8/255", "norm": None, "rate": "1/4", "sweep": False, "inner__depth": 5}
    built = opts.build(values)
    assert built == _Config(eps=8 / 255, rate=0.25, sweep=False, inner=_Inner(5))
    assert opts.given({"norm": "l2"}) == {"norm": "l2"}  # not given = absent
    with pytest.raises(ConfigError, match=r"unknown --norm 'l1'; valid: linf, l2"):
        opts.given({"norm": "l1"})
    for bad in ("nan", "8/255/2", "inf", "1/0"):
        with pytest.raises(ConfigError):
            opts.given({"rate": bad})


def test_number_and_kappa_grammar():
    assert parse_number(" 8 / 255 ") == pytest.approx(8 / 255) and parse_number("1e-2") == 0.01
    for bad in ("8/255/2", "nan", "-inf", "eight", "1/0", ""):
        with pytest.raises(ConfigError):
            parse_number(bad, name="--eps")
    with pytest.raises(ConfigError, match="give 1 to 101 values"):
        parse_kappas("0:1000000:0.000001")  # refused arithmetically, never built


def test_every_audit_option_is_a_cli_option_and_an_api_keyword():
    from ltrobust.audit.api import audit

    opts = {o.path[0] for o in OptionSet(AuditConfig).options}
    fields = set(AuditConfig.__dataclass_fields__)
    assert opts == fields  # every field is offered on the command line
    assert fields <= set(inspect.signature(audit).parameters)


def test_attacks_command_and_train_help_list_the_tables():
    res = runner.invoke(app, ["attacks"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for entry in ATTACKS:
        assert entry.label in res.output and entry.description[:30] in res.output
    res = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    text = " ".join(res.output.replace("│", " ").split())  # a help wrapped inside its panel
    for entry in METHODS:
        assert f"{entry.name}: {entry.description[:30]}" in text
