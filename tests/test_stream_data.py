"""Streamed images (ltrobust.data.stream) and their preflight (ltrobust.data.preflight):
decoding in __getitem__ only, the loader's order and options, shards, broken files refused
with their path or skipped, and host memory flat in n."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ltrobust.data.preflight import check_images, inspect_file, output_size
from ltrobust.data.splits import open_split_dataset
from ltrobust.data.stream import (
    Preprocess,
    batches,
    decode_image,
    make_loader,
    split_test_images,
)
from ltrobust.errors import ConfigError, DataError
from tests.split_files import jpeg_bytes, make_split_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def data(tmp_path: Path):  # type: ignore[no-untyped-def]
    train, test = make_split_dataset(tmp_path, [6, 4, 2], 5)
    return open_split_dataset(tmp_path, train, test)


def _truncated(file: Path) -> Path:
    full = jpeg_bytes(32, seed=1)
    file.write_bytes(full[: len(full) // 2])
    return file


def test_items_are_decoded_rgb_with_the_preprocessing(tmp_path: Path) -> None:
    Image.new("L", (30, 20), 128).save(tmp_path / "gray.png")
    x = decode_image(str(tmp_path / "gray.png"), Preprocess())
    assert x.shape == (3, 20, 30) and x.dtype == torch.float32
    assert torch.allclose(x, torch.full_like(x, 128 / 255))
    assert decode_image(str(tmp_path / "gray.png"), Preprocess(16, 12)).shape == (3, 12, 12)
    assert decode_image(str(tmp_path / "gray.png"), Preprocess(resize=10)).shape == (3, 10, 15)
    assert output_size((30, 20), Preprocess(resize=10)) == (15, 10)
    with pytest.raises(ConfigError, match="resize must be a positive integer"):
        Preprocess(resize=0)


def test_dataset_items_labels_positions(data) -> None:  # type: ignore[no-untyped-def]
    images = split_test_images(data)
    assert len(images) == 15 and images.targets.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    x, y, pos = images[7]
    assert x.shape == (3, 16, 16) and (y, pos) == (1, 7)
    assert images.file(7).endswith("val/c0001/val_0001_2.JPEG")
    picked = images.subset([14, 0])
    assert picked.positions.tolist() == [14, 0] and picked[0][1] == 2


def test_loader_order_workers_and_options(data) -> None:  # type: ignore[no-untyped-def]
    images = split_test_images(data, n=9, seed=1)
    plain = make_loader(images, 4, workers=0, device="cpu")
    assert not plain.pin_memory and plain.num_workers == 0
    threaded = make_loader(images, 4, workers=2, device="cpu")
    assert threaded.persistent_workers and threaded.num_workers == 2
    one = [(x.clone(), y.clone(), p.clone()) for x, y, p in batches(plain)]
    two = list(batches(threaded))
    assert [len(b[0]) for b in one] == [4, 4, 1]
    for (xa, ya, pa), (xb, yb, pb) in zip(one, two, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(pa, pb)
    assert torch.cat([b[2] for b in one]).tolist() == images.positions.tolist()
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="workers must be an integer"):
            make_loader(images, 4, workers=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="batch_size"):
        make_loader(images, 0, workers=0)


def test_shards_follow_the_engines_batches(data) -> None:  # type: ignore[no-untyped-def]
    images = split_test_images(data)
    shards = [images.shard(rank, 2, batch_size=4) for rank in (0, 1)]
    assert shards[0].positions.tolist() == [0, 1, 2, 3, 8, 9, 10, 11]
    assert shards[1].positions.tolist() == [4, 5, 6, 7, 12, 13, 14]
    strided = [images.shard(rank, 3).positions.tolist() for rank in range(3)]
    assert sorted(sum(strided, [])) == list(range(15)) and strided[1][:2] == [1, 4]
    with pytest.raises(ConfigError, match="rank must be in 0..1"):
        images.shard(2, 2)


def test_a_truncated_jpeg_is_refused_with_its_path(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    images = split_test_images(data)
    bad = _truncated(Path(images.file(6)))
    with Image.open(bad) as opened:  # the header alone does not show it ...
        assert opened.size == (32, 32)
    with pytest.raises(DataError) as exc:  # ... the preflight's tail check does
        check_images(images)
    msg = str(exc.value)
    assert msg.startswith(f"{bad}: truncated JPEG") and "--skip-bad-images" in msg
    assert "\n" not in msg
    with pytest.raises(DataError, match=f"{bad}: cannot read image"):
        decode_image(str(bad), Preprocess())  # decoding refuses it too


def test_skip_bad_lists_the_skipped_files(data) -> None:  # type: ignore[no-untyped-def]
    images = split_test_images(data)
    Path(images.file(2)).write_bytes(b"not an image")
    Path(images.file(9)).unlink()
    png = io.BytesIO()
    Image.new("RGB", (16, 16)).save(png, "PNG")
    Path(images.file(11)).write_bytes(png.getvalue()[:-20])
    result = check_images(images, skip_bad=True, threads=3)
    assert [(b.position, b.path) for b in result.skipped] == [
        (2, images.file(2)),
        (9, images.file(9)),
        (11, images.file(11)),
    ]
    assert "not an image" in result.skipped[0].reason
    assert "FileNotFoundError" in result.skipped[1].reason
    assert "truncated PNG" in result.skipped[2].reason
    assert result.checked == 15 and len(result.images) == 12
    assert 2 not in result.images.positions and len(
        list(batches(make_loader(result.images, 5, workers=0)))
    )
    with pytest.raises(DataError, match="cannot read the header|not an image"):
        check_images(images.subset([2]))
    with pytest.raises(DataError, match="none of the 1 selected images"):
        check_images(images.subset([2]), skip_bad=True)


def test_padding_after_the_end_marker_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "padded.jpg"
    file.write_bytes(jpeg_bytes(16) + b"\0" * 100)
    assert inspect_file(str(file)) == (None, (16, 16))


def test_sizes_must_agree_without_a_crop(data) -> None:  # type: ignore[no-untyped-def]
    images = split_test_images(data)
    Path(images.file(3)).write_bytes(jpeg_bytes(size=(20, 16)))
    with pytest.raises(DataError, match="20x16 after preprocessing differs from"):
        check_images(images)
    assert check_images(images.with_preprocess(Preprocess(16, 16))).skipped == []


def test_a_worker_failure_is_one_line_with_the_path(data) -> None:  # type: ignore[no-untyped-def]
    images = split_test_images(data)
    bad = _truncated(Path(images.file(4)))
    with pytest.raises(DataError) as exc:
        list(batches(make_loader(images, 4, workers=1)))
    msg = str(exc.value)
    assert msg.startswith(f"{bad}: cannot read image (OSError") and "\n" not in msg


_MEASURE = """
import json, resource, sys
from ltrobust.data.splits import open_split_dataset
from ltrobust.data.stream import Preprocess, batches, make_loader, split_test_images
root = sys.argv[1]
data = open_split_dataset(root, root + "/train.txt", root + "/test.txt")

def status(field):
    with open("/proc/self/status") as handle:
        return next(int(ln.split()[1]) / 1024 for ln in handle if ln.startswith(field))

def start():
    # the high-water mark from now on: /proc/self/clear_refs resets VmHWM to VmRSS (Linux);
    # ru_maxrss cannot be reset, and torch's import peak would hide any later growth
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return status("VmRSS:"), lambda: status("VmHWM:")
    except OSError:
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak(), peak

def loader(n):
    images = split_test_images(data, Preprocess(64, 64), n=n)
    return batches(make_loader(images, 100, workers=0, device="cpu"))

sum(len(b[1]) for b in loader(1000))  # the decoders and the allocator's pools settle
found = []
for n in (300, 3000):
    base, peak = start()
    found.append({"n": sum(len(b[1]) for b in loader(n)), "growth_mb": peak() - base})
base, peak = start()
held = [b[0] for b in loader(3000)]  # the control: the 3,000 images kept, as an eager load
found.append({"n": sum(len(x) for x in held), "growth_mb": peak() - base})
print(json.dumps(found))
"""


def test_host_memory_is_flat_in_n(tmp_path: Path) -> None:
    """Peak RSS growth (VmHWM, reset before each run) while streaming n = 300, then n = 3,000
    images of a 1,000-class JPEG set (16x16, 3 per class, resized to 64x64) in one process,
    after a warm-up of 1,000 images. Streaming holds a batch of 100 images (4.9 MB) and its
    collated copy, and glibc may hand freed pages back and fault them in again: up to about
    15 MB, whatever n; the bound is 24 MB. Holding the 3,000 images, as load_eval_data does,
    needs 3,000 x 3 x 64 x 64 x 4 bytes = 147 MB: the control run keeps the batches and must
    show more than 100 MB, so the measurement would see an eager load."""
    make_split_dataset(tmp_path, [3] * 1000, 3, train_images=False)
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_MEASURE), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr
    small, large, eager = json.loads(res.stdout)
    assert (small["n"], large["n"], eager["n"]) == (300, 3000, 3000)
    assert eager["growth_mb"] > 100, eager  # the measurement sees an eager load
    assert small["growth_mb"] < 24 and large["growth_mb"] < 24, (small, large)


def test_no_image_is_opened_before_getitem(tmp_path: Path) -> None:
    train, test = make_split_dataset(tmp_path, [2, 2], 2, images=False)
    images = split_test_images(open_split_dataset(tmp_path, train, test), n=3)
    assert len(images) == 3 and images.labels.dtype == np.int64  # the files do not exist
    with pytest.raises(DataError, match="cannot read image"):
        images[0]


@pytest.mark.parametrize(
    ("size", "pre"),
    [
        ((37, 23), (16, 12)),
        ((23, 37), (20, 20)),
        ((9, 14), (None, 13)),
        ((30, 30), (30, 30)),
        ((31, 18), (None, 12)),
    ],
)
def test_preprocessing_equals_torchvision(
    size: tuple[int, int], pre: tuple[int | None, int]
) -> None:
    from torchvision import transforms

    image = Image.open(io.BytesIO(jpeg_bytes(size=size))).convert("RGB")
    steps = ([transforms.Resize(pre[0])] if pre[0] else []) + [transforms.CenterCrop(pre[1])]
    expected = transforms.Compose([*steps, transforms.ToTensor()])(image)
    assert torch.equal(Preprocess(*pre)(image), expected)
    assert torch.equal(Preprocess()(image), transforms.ToTensor()(image))
