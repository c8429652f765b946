"""A checkpoint's metadata is checked before it sizes or configures anything (issue 20, item
4), and the option parsers refuse what the report schema would refuse (item 6): each hostile
checkpoint is built here and audited or inspected through the real CLI."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.errors import ConfigError
from ltrobust.models import create_model
from ltrobust.models.arguments import BOUNDS, check_arguments
from ltrobust.report.json_schema import report_json_schema

from .test_bad_input import audit_args, files, refused  # noqa: F401  (files is a fixture)

runner = CliRunner()


def _tampered(files, tmp_path, **changes):  # noqa: F811
    ckpt = torch.load(files / "model.pt", weights_only=True)
    for key, value in changes.items():
        if key.startswith("model_args."):
            ckpt["model_args"][key.split(".", 1)[1]] = value
        else:
            ckpt[key] = value
    torch.save(ckpt, tmp_path / "bad.pt")
    return tmp_path / "bad.pt"


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"model_args.input_size": 400000}, "model_args.input_size must be an integer in"),
        ({"model_args.checkpoint_path": "/etc/passwd"}, "checkpoint_path is not an architecture"),
        ({"model_args.num_classes": 7}, "model_args.num_classes is 7 but"),
        ({"model_args.in_channels": 3}, "model_args.in_channels is 3 but the checkpoint's"),
        ({"model_args.head_scale": float("inf")}, "model_args.head_scale must be a number in"),
        ({"class_counts": [0] * 6}, "class_counts must be 6 positive integers"),
        ({"class_counts": [2**60] * 6}, "class_counts must be 6 positive integers up to 2**53"),
        ({"input_spec": {"channels": 1, "size": 10**9}}, "input_spec.size must be an integer in"),
    ],
)
def test_hostile_metadata_is_refused_before_building(files, tmp_path, changes, needle):  # noqa: F811
    args = audit_args(files, out="never")
    args[1] = str(_tampered(files, tmp_path, **changes))
    refused(runner.invoke(app, args), needle)
    assert not (files / "never").exists()
    refused(runner.invoke(app, ["inspect", args[1]]), needle)


def test_timm_arguments_are_an_allow_list():
    check_arguments("timm:resnet18", {"num_classes": 10, "drop_rate": 0.1})
    for name, value in (("checkpoint_path", "/etc/passwd"), ("pretrained", True)):
        with pytest.raises(ConfigError, match=f"{name} is not an option ltrobust passes to timm"):
            check_arguments("timm:resnet18", {name: value})
    with pytest.raises(ConfigError, match="checkpoint_path is not an option"):
        create_model("timm:resnet18", checkpoint_path="/etc/passwd")


def test_a_state_dict_that_does_not_fit_allocates_nothing(tmp_path):
    """A fitting shape within the bounds but not the weights' (small_cnn at 4096x4096 would be
    a 2e10-parameter layer) is refused on the meta device: the check runs under a 6 GiB address
    space limit that building the network for real would exceed."""
    net = create_model("small_cnn", num_classes=10, in_channels=1, input_size=28)
    from ltrobust.models.checkpoint import save_checkpoint

    path = tmp_path / "m.pt"
    save_checkpoint(
        path,
        net,
        arch="small_cnn",
        model_args={},
        input_spec={"channels": 1, "size": 28},
        num_classes=10,
    )
    ckpt = torch.load(path, weights_only=True)
    ckpt["model_args"]["input_size"] = 4096
    ckpt["input_spec"]["size"] = 4096
    torch.save(ckpt, path)
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))\n"
        "from ltrobust.cli.main import main\n"
        f"sys.argv = ['ltrobust', 'inspect', {str(path)!r}]\n"
        "main()\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "does not fit small_cnn" in res.stderr and "Traceback" not in res.stderr


def test_bounds_cover_every_builder_option():
    """Every option of every registered builder has a bound (a new option needs one)."""
    import inspect

    from ltrobust.models.registry import MODELS, get_builder

    for entry in MODELS.entries(hidden=True):
        for name in inspect.signature(get_builder(entry.name)).parameters:
            assert name in BOUNDS, (entry.name, name)


def test_parsers_refuse_what_the_schema_refuses(files):  # noqa: F811
    kappa = report_json_schema()["$defs"]["SweepRow"]["properties"]["kappa"]
    assert (kappa["minimum"], kappa["maximum"]) == (-100, 100)
    refused(runner.invoke(app, audit_args(files, "--kappa", "-101,0")), "must be in [-100, 100]")
    refused(runner.invoke(app, audit_args(files, "--kappa", "0:200:50")), "must be in [-100, 100]")
    refused(runner.invoke(app, audit_args(files, "--seed", str(2**60))), "up to 2**53")
    counts = files / "huge_counts.json"
    counts.write_text("[" + ",".join([str(2**60)] * 6) + "]")
    args = audit_args(files, out="never")
    args[args.index("--class-counts") + 1] = str(counts)
    refused(runner.invoke(app, args), "positive integer up to 2**53")
    assert not (files / "never").exists()


def test_new_readers_refuse_odd_files_with_one_line(files, tmp_path):  # noqa: F811
    """Deeply nested safetensors metadata and a timm config with text for its mean."""
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file

    deep = "[" * 100_000 + "]" * 100_000
    meta = {"ltrobust": '{"format": "ltrobust-checkpoint", "extra": ' + deep + "}"}
    save_file({"w": torch.zeros(1)}, str(tmp_path / "deep.safetensors"), metadata=meta)
    args = audit_args(files, out="never")
    args[1] = str(tmp_path / "deep.safetensors")
    refused(runner.invoke(app, args), "the ltrobust metadata is nested too deeply")

    pytest.importorskip("timm")
    net = create_model("timm:test_resnet", num_classes=6, in_channels=1, input_size=12)
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(net.model.state_dict(), str(folder / "model.safetensors"))
    for cfg, needle in (
        ({"pretrained_cfg": {"mean": ["a"], "std": [0.3]}}, "mean/std must be lists of 1 to 64"),
        ({"pretrained_cfg": {"mean": [0.4], "std": [0.0]}}, "finite positive numbers"),
        ({"pretrained_cfg": "x"}, "not a timm config"),
    ):
        (folder / "config.json").write_text(json.dumps(cfg))
        args = audit_args(files, "--arch", "timm:test_resnet", out="never")
        args[1] = str(folder)
        refused(runner.invoke(app, args), needle)
    (folder / "config.json").write_text("{" * 50_000)
    refused(runner.invoke(app, args), "not a readable JSON config")
    assert not (files / "never").exists()


def test_load_options_are_declared_once():
    """load_model takes one LoadOptions whole (or its fields as keywords, a convenience that
    builds one); the CLI offers the fields with a setting, and the resume key's load options
    are every field that changes the model."""
    import dataclasses

    from ltrobust.audit.provenance import LOAD_KEYS
    from ltrobust.cli.options import options_of
    from ltrobust.models import load_model
    from ltrobust.models.formats import LoadRequest
    from ltrobust.models.options import LoadOptions

    every = {f.name for f in dataclasses.fields(LoadOptions)}
    offered = {o.path[-1] for o in options_of(LoadOptions)}
    assert LoadRequest is LoadOptions and {"arch", "mean", "tau", "model_dir"} <= offered < every
    assert not {"class_counts", "map_location", "default_input_size"} & offered
    assert {"arch", "mean", "std", "tau", "class_counts"} <= set(LOAD_KEYS) < every
    assert "map_location" not in LOAD_KEYS and "unsafe_load" not in LOAD_KEYS
    with pytest.raises(ConfigError, match="unknown load option 'mena'; did you mean 'mean'"):
        load_model("x.pt", mena=[0.5])
    assert LoadOptions(arch="small_cnn").given(tau=1.0) == LoadOptions(arch="small_cnn", tau=1.0)
    params = list(inspect.signature(load_model).parameters)
    assert params == ["path", "options", "given"]
