"""Options shared by audit, train and bench are declared once (one help, one spelling of the
precision); the old precision spellings still work; the diagnostics' passes can be set."""

from __future__ import annotations

import dataclasses
import warnings

import pytest

from ltrobust.audit.api import make_config
from ltrobust.audit.config import AuditConfig, DiagnosticPasses
from ltrobust.bench.config import AttackBenchConfig, BenchConfig, TrainBenchConfig
from ltrobust.cli.config_file import merged_values, to_toml
from ltrobust.cli.options import OptionSet, options_of
from ltrobust.errors import ConfigError
from ltrobust.settings import setting_of
from ltrobust.train.config import RunOptions, TrainConfig

SHARED = ("device", "data_dir", "seed", "batch_size", "precision", "audit_precision")
CONFIGS = (AuditConfig, TrainConfig, RunOptions, BenchConfig, AttackBenchConfig, TrainBenchConfig)


def test_shared_options_have_one_help_wherever_they_appear():
    helps: dict[str, set[str]] = {}
    for cls in CONFIGS:
        for f in dataclasses.fields(cls):
            spec = setting_of(f)
            if f.name in SHARED and spec is not None:
                name = "precision" if f.name == "audit_precision" else f.name
                helps.setdefault(name, set()).add(spec.help)
    assert set(helps) == {"device", "data_dir", "seed", "batch_size", "precision"}
    assert all(len(texts) == 1 for texts in helps.values()), helps


def test_precision_is_one_flag_and_the_old_ones_are_hidden_aliases():
    audit = {o.flags[0]: o for o in options_of(AuditConfig)}
    train = {o.flags[0]: o for o in options_of(TrainConfig)}
    bench = {o.flags[0]: o for o in options_of(BenchConfig)}
    assert audit["--precision"].alias is None and audit["--amp"].alias is not None
    assert train["--precision"].setting.choices == ("fp32", "bf16", "fp16", "auto")
    assert train["--amp"].alias is not None and train["--amp-dtype"].alias is not None
    assert {"--audit-precision", "--train-precision"} <= set(bench)
    assert bench["--audit-amp"].alias is not None and bench["--train-amp"].alias is not None
    assert not any(o.alias for o in options_of(AttackBenchConfig))


AMP_DTYPE = {"precision__amp": True, "precision__amp_dtype": "bf16"}


@pytest.mark.parametrize(
    ("cls", "values", "expected", "notes"),
    [
        (AuditConfig, {"precision__amp": "bf16"}, {"precision": "bf16"}, 1),
        (AuditConfig, {"precision__amp": "none"}, {"precision": "fp32"}, 1),
        (AuditConfig, {"precision": "fp32", "precision__amp": "bf16"}, {"precision": "fp32"}, 0),
        (TrainConfig, {"precision__amp": True}, {"precision": "auto"}, 1),
        (TrainConfig, {"precision__amp": False}, {"precision": "fp32"}, 1),
        (TrainConfig, AMP_DTYPE, {"precision": "bf16"}, 2),
        (TrainConfig, {"precision__amp_dtype": "bf16"}, {}, 1),
        (BenchConfig, {"audit_precision__audit_amp": "bf16"}, {"audit_precision": "bf16"}, 1),
        (BenchConfig, {"train__precision__train_amp": False}, {"train": {"precision": "fp32"}}, 1),
    ],
)
def test_old_precision_spellings_map_onto_precision(cls, values, expected, notes, capsys):
    exclude = ("options",) if cls is TrainConfig else ()
    assert OptionSet(cls, exclude=exclude).given(values) == expected
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == notes
    assert all(
        line.startswith("ltrobust: note: --") and "is deprecated; use --" in line for line in lines
    )


def test_old_precision_keys_read_from_files_checkpoints_and_keywords():
    options = OptionSet(AuditConfig)
    assert merged_values({"amp": "bf16"}, {}, options).precision == "bf16"
    toml = to_toml(AuditConfig(), options.options).splitlines()
    assert 'precision = "fp32"' in toml and not [t for t in toml if "amp " in t]
    stored = {"method": "at", "dataset": "cifar10-lt", "arch": "resnet18", "amp": True}
    config = TrainConfig.from_dict({**stored, "amp_dtype": "bf16"})
    assert (config.precision, config.amp, config.amp_dtype) == ("bf16", True, "bf16")
    assert TrainConfig.from_dict({**stored, "amp": False}).precision == "fp32"
    assert "amp" not in TrainConfig.from_dict(stored).to_dict()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert make_config(amp="bf16").precision == "bf16"
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    cfg = make_config(precision="bf16")
    assert cfg.amp == "bf16" and cfg.report_config(0.1, 0.01, 1)["amp"] == "bf16"
    with pytest.raises(ConfigError, match="--precision must be one of fp32, bf16"):
        make_config(precision="fp16")


def test_the_diagnostics_passes_are_options():
    flags = {o.flags[0] for o in options_of(AuditConfig)}
    assert {"--invariant", "--unbounded", "--unbounded-n", "--eot-draws", "--repeats"} <= flags
    cfg = make_config(passes={"unbounded_n": 40, "eot_draws": 3, "repeats": 2, "invariant": False})
    diag = cfg.diagnostics()
    assert diag is not None
    assert (diag.unbounded_n, diag.eot_draws, diag.repeats, diag.invariant) == (40, 3, 2, False)
    assert list(diag.to_dict()) == [
        "sweep", "kappas", "invariant", "unbounded", "unbounded_n", "escalate", "eot_draws",
        "repeats", "thresholds",
    ]  # fmt: skip
    assert make_config().diagnostics() == make_config(passes=DiagnosticPasses()).diagnostics()
    with pytest.raises(ConfigError, match="--unbounded-n must be an integer >= 1, got 0"):
        make_config(passes={"unbounded_n": 0})
    with pytest.raises(ConfigError, match="unknown passes option 'draws'"):
        make_config(passes={"draws": 3})
    given = OptionSet(AuditConfig).given({"passes__eot_draws": 5, "passes__unbounded": False})
    assert given == {"passes": {"eot_draws": 5, "unbounded": False}}
