"""``folder:`` datasets read as torchvision's ImageFolder reads them (issue 21, item 1): class
and file order, RGB conversion, ``--resize``, and only the evaluated images decoded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import datasets, transforms
from typer.testing import CliRunner

import ltrobust
from ltrobust.cli.main import app
from ltrobust.data.loading import load_eval_data, load_train_data
from ltrobust.errors import ConfigError, DataError
from ltrobust.readlog import recording

runner = CliRunner()


def _image(path: Path, mode: str, size: tuple[int, int], seed: int) -> None:
    """A random image of PIL ``mode`` and ``(W, H)`` ``size``; ``P+t``: palette with a
    transparent colour (PIL warns when such an image is converted to RGB)."""
    rgb = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "L":
        img = Image.fromarray(rgb[..., 0])
    elif mode == "RGBA":
        img = Image.fromarray(rgb, "RGBA")
    else:
        img = Image.fromarray(rgb[..., :3], "RGB")
    if mode.startswith("P"):
        img = img.quantize(16)
        if mode == "P+t":
            img.info["transparency"] = 3
    img.save(path)
    with Image.open(path) as back:
        assert back.mode == mode[0] if mode.startswith("P") else back.mode == mode


def _u8(x: torch.Tensor) -> torch.Tensor:
    return x.mul(255).round().to(torch.uint8)


def _reference(root: Path, *steps: object) -> tuple[datasets.ImageFolder, torch.Tensor]:
    ref = datasets.ImageFolder(str(root), transform=transforms.Compose([*steps, transforms.PILToTensor()]))  # fmt: skip
    return ref, torch.stack([ref[i][0] for i in range(len(ref))])


def _mixed_tree(root: Path, sizes: list[tuple[int, int]]) -> None:
    """Classes created in an order that is not their sorted order, nested folders, upper-case
    suffixes, files that are no images, and every mode."""
    modes = ["RGB", "L", "RGBA", "P", "P+t"]
    files = ["zebra/z.png", "zebra/sub b/c.PNG", "zebra/sub/a.png", "Moth/x.bmp", "ant/2.png"]
    files += ["ant/10.tif", "ant/.hidden.png", "Moth/deep/er/y.png"]
    for i, rel in enumerate(files):
        _image(root / rel, modes[i % len(modes)], sizes[i % len(sizes)], seed=i)
    (root / "ant" / "notes.txt").write_text("not an image")
    Image.new("RGB", (3, 3)).save(root / "zebra" / "anim.gif")  # no IMG_EXTENSIONS suffix


def test_same_classes_order_and_pixels_as_torchvision(tmp_path: Path) -> None:
    _mixed_tree(tmp_path / "imgs", [(6, 5)])
    data = load_eval_data(f"folder:{tmp_path / 'imgs'}", class_counts=[30, 20, 10])
    ref, x = _reference(tmp_path / "imgs")
    assert data.class_names == ref.classes == ["Moth", "ant", "zebra"]  # code point order
    assert data.y.tolist() == ref.targets == [0, 0, 1, 1, 1, 2, 2, 2]
    assert data.shape == (3, 5, 6)  # grayscale, RGBA and palette images all became RGB
    assert torch.equal(_u8(data.x), x)
    assert data.indices.tolist() == list(range(8))  # positions in ImageFolder.samples


def test_resize_loads_mixed_sizes_as_torchvision_resize(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    _mixed_tree(root, [(6, 5), (9, 4), (3, 7)])
    counts = tmp_path / "c.json"
    counts.write_text(json.dumps({"zebra": 30, "ant": 20, "Moth": 10}))
    with pytest.raises(DataError, match="all images must share one size") as exc:
        load_eval_data(f"folder:{root}", class_counts=counts)
    msg = str(exc.value)
    assert "\n" not in msg and "9x4" in msg and "6x5" in msg and "--resize N" in msg
    data = load_eval_data(f"folder:{root}", class_counts=counts, resize=4)
    assert data.shape == (3, 4, 4) and data.class_counts == [10, 20, 30]
    _, x = _reference(root, transforms.Resize((4, 4)))
    assert torch.equal(_u8(data.x), x)
    for bad, error in ((0, ConfigError), (True, ConfigError)):
        with pytest.raises(error, match="--resize must be a positive integer"):
            load_eval_data(f"folder:{root}", class_counts=counts, resize=bad)
    with pytest.raises(ConfigError, match="--resize applies to folder: datasets only"):
        load_eval_data("cifar10-lt", resize=32, download=False)


def test_a_grayscale_folder_stays_one_channel(tmp_path: Path) -> None:
    for i, rel in enumerate(["b/0.png", "a/0.png", "a/1.pgm"]):
        _image(tmp_path / "g" / rel, "L", (5, 5 + i), seed=i)
    data = load_eval_data(f"folder:{tmp_path / 'g'}", class_counts=[2, 1], resize=3)
    _, x = _reference(tmp_path / "g", transforms.Resize((3, 3)))
    assert data.shape == (1, 3, 3) and torch.equal(_u8(data.x)[:, 0], x[:, 0])
    assert torch.equal(x[:, 0], x[:, 2])  # torchvision's RGB copy of the same gray values
    train = load_train_data(f"folder:{tmp_path / 'g'}", resize=3)
    assert torch.equal(train.x, data.x) and train.class_counts == [2, 1]


def _png_bytes() -> list[bytes]:
    out = []
    for value in range(256):
        buf = io.BytesIO()
        Image.new("L", (2, 2), value).save(buf, "PNG")
        out.append(buf.getvalue())
    return out


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 tiny PNGs in 4 long-tailed classes; each image's value is its number mod 256."""
    tmp_path = tmp_path_factory.mktemp("folder")
    png = _png_bytes()
    sizes = [1000, 600, 300, 100]
    number = 0
    for c, size in enumerate(sizes):
        (tmp_path / "big" / f"c{c}").mkdir(parents=True)
        for _ in range(size):
            (tmp_path / "big" / f"c{c}" / f"{number:04d}.png").write_bytes(png[number % 256])
            number += 1
    return tmp_path / "big"


def test_only_the_evaluated_images_are_decoded(big_folder: Path) -> None:
    files = [Path(p) for p, _ in datasets.ImageFolder(str(big_folder)).samples]  # listing only
    with recording() as read:
        data = load_eval_data(f"folder:{big_folder}", class_counts=[1000, 100, 10, 1], n=20)
    assert len(data) == 20 and data.test_counts == [10, 6, 3, 1]
    assert read == [files[i] for i in data.indices.tolist()]  # 20 reads of 2,000 files
    numbers = [int(files[i].stem) % 256 for i in data.indices.tolist()]
    assert _u8(data.x)[:, 0, 0, 0].tolist() == numbers
    with recording() as read:
        lt = load_eval_data(
            f"folder:{big_folder}", class_counts=[1000, 500, 250, 100], test_imbalanced=True
        )
    assert lt.test_counts == [100, 46, 21, 10] and len(read) == len(lt) == 177


def test_the_report_covers_exactly_the_images_read(big_folder: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 4))
    report = ltrobust.audit(
        model, f"folder:{big_folder}", ["fgsm"], class_counts=[1000, 100, 10, 1], n=20,
        diagnose=False, eps=8 / 255, resize=2,
    )  # fmt: skip
    evaluated = load_eval_data(f"folder:{big_folder}", class_counts=[1000, 100, 10, 1], n=20)
    files = [Path(p) for p, _ in datasets.ImageFolder(str(big_folder)).samples]
    expected = {str(files[i].absolute()) for i in evaluated.indices.tolist()}
    assert {f["path"] for f in report.provenance["files"]} == expected and len(expected) == 20
    assert report.dataset["n"] == 20 and report.dataset["shape"] == [1, 2, 2]


@pytest.mark.parametrize(
    ("layout", "needle"),
    [
        ({"a/0.png": "ok", "b/0.png": "garbage"}, "b/0.png: cannot read image"),
        ({"a/0.png": "ok", "b/x.txt": "garbage"}, "class folder without images: 'b'"),
        ({"a/0.png": "ok", ".ipynb_checkpoints/": ""}, "without images: '.ipynb_checkpoints'"),
        ({"a/x.txt": "", "b/y.gif": ""}, "no images (.jpg, .jpeg, .png"),
        ({"x.png": "ok"}, "no class sub-folders"),
    ],
)
def test_bad_folders_are_one_line(tmp_path: Path, layout: dict[str, str], needle: str) -> None:
    root = tmp_path / "imgs"
    root.mkdir()
    for rel, content in layout.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("/"):
            (root / rel).mkdir()
        elif content == "ok":
            _image(root / rel, "RGB", (4, 4), seed=0)
        else:
            (root / rel).write_text(content)
    (tmp_path / "c.json").write_text("[2, 1]")
    with pytest.raises(DataError) as exc:
        load_eval_data(f"folder:{root}", class_counts=[2, 1])
    assert needle in str(exc.value) and "\n" not in str(exc.value)
    args = ["audit", str(tmp_path / "absent.pt"), "--dataset", f"folder:{root}", "--quiet"]
    res = runner.invoke(app, [*args, "--class-counts", str(tmp_path / "c.json")])
    err = res.stderr.strip()
    assert res.exit_code == 2 and err.startswith("ltrobust: error:") and needle in err, err
    assert len(err.splitlines()) == 1


def test_resize_on_the_command_line(tmp_path: Path) -> None:
    _image(tmp_path / "imgs" / "a" / "0.png", "RGB", (4, 4), seed=0)
    _image(tmp_path / "imgs" / "b" / "0.png", "L", (7, 3), seed=1)
    (tmp_path / "c.json").write_text("[2, 1]")
    args = ["audit", str(tmp_path / "absent.pt"), "--dataset", f"folder:{tmp_path / 'imgs'}"]
    args += ["--class-counts", str(tmp_path / "c.json"), "--quiet", "--out", str(tmp_path / "o")]
    for extra, needle in (
        ([], "all images must share one size"),
        (["--resize", "0"], "resize must be >= 1, got 0"),
        (["--resize", "8"], "checkpoint not found"),  # the data loaded; the model is missing
    ):
        res = runner.invoke(app, [*args, *extra])
        err = res.stderr.strip()
        assert res.exit_code == 2 and len(err.splitlines()) == 1 and needle in err, err
    res = runner.invoke(app, ["audit", "--help"])
    assert "--resize" in res.output
