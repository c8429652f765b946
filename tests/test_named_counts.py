"""Class counts given by name are matched to the dataset's class names, never by position
(issue 21, item 1): a folder dataset sorts its classes differently from the counts file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ltrobust.cli.main import app
from ltrobust.data.loading import load_eval_data
from ltrobust.errors import DataError

from .test_data import _png

runner = CliRunner()
#: training counts as a user writes them (head first); the folders sort bag, coat, tshirt
COUNTS = {"tshirt": 600, "coat": 60, "bag": 6}


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    for i, name in enumerate(COUNTS):
        for j in range(3):
            _png(tmp_path / "images" / name / f"{j}.png", 40 * i + j)
    return tmp_path / "images"


def _load(folder: Path, counts_file: Path):
    return load_eval_data(f"folder:{folder}", class_counts=counts_file)


def test_json_object_and_csv_are_matched_by_name(folder, tmp_path):
    (tmp_path / "c.json").write_text(json.dumps(COUNTS))
    data = _load(folder, tmp_path / "c.json")
    assert data.class_names == ["bag", "coat", "tshirt"]
    assert data.class_counts == [6, 60, 600]
    (tmp_path / "c.csv").write_text("class,count\ncoat,60\ntshirt,600\nbag,6\n")
    assert _load(folder, tmp_path / "c.csv").class_counts == [6, 60, 600]
    # a bare list stays positional, in the dataset's label order
    (tmp_path / "list.json").write_text("[600, 60, 6]")
    assert _load(folder, tmp_path / "list.json").class_counts == [600, 60, 6]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"tshirt": 600, "coat": 60, "bg": 6}', "'bg' is not a class of the dataset"),
        ('{"tshirt": 600, "coat": 60}', "class 'bag' has no count"),
        ('{"tshirt": 600, "coat": 60, "bag": 6, "coat": 7}', "class 'coat' has two counts"),
        ('{"tshirt": 600, "coat": 0, "bag": 6}', "expected a positive integer"),
        ("{}", "an empty object"),
    ],
)
def test_bad_named_counts_are_refused(folder, tmp_path, text, needle):
    (tmp_path / "c.json").write_text(text)
    with pytest.raises(DataError, match=needle):
        _load(folder, tmp_path / "c.json")


def test_csv_duplicates_and_the_cli(folder, tmp_path):
    (tmp_path / "c.csv").write_text("tshirt,600\ncoat,60\nbag,6\ntshirt,5\n")
    with pytest.raises(DataError, match="class 'tshirt' has two counts"):
        _load(folder, tmp_path / "c.csv")
    (tmp_path / "c.json").write_text(json.dumps(COUNTS))
    args = ["audit", str(tmp_path / "absent.pt"), "--dataset", f"folder:{folder}"]
    args += ["--class-counts", str(tmp_path / "c.json"), "--quiet", "--out", str(tmp_path / "o")]
    res = runner.invoke(app, args)  # the counts parse; the missing model is the one error
    assert res.exit_code == 2 and "checkpoint not found" in res.stderr, res.stderr
    (tmp_path / "bad.json").write_text('{"tshirt": 600, "coat": 60, "bg": 6}')
    args[args.index("--class-counts") + 1] = str(tmp_path / "bad.json")
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "'bg' is not a class of the dataset" in res.stderr
