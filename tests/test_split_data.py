"""Split-file datasets (ltrobust.data.splits), their presets and the Tiny-ImageNet-LT writer:
parsing, each error with its file and line, counts and groups from the training split, the
stratified --n chosen from the labels alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltrobust.data.profile import proportional_quotas
from ltrobust.data.specs import (
    DATASETS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SPLIT_PRESETS,
    get_split_preset,
)
from ltrobust.data.splits import open_split_dataset, read_split_file
from ltrobust.data.stream import Preprocess, preset_preprocess, split_test_images
from ltrobust.data.tiny_lt import write_tiny_imagenet_lt_splits
from ltrobust.errors import ConfigError, DataError
from ltrobust.readlog import recording
from tests.split_files import make_split_dataset, write_lines


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_reads_the_published_format(tmp_path: Path) -> None:
    file = tmp_path / "train.txt"
    file.write_bytes(
        b"\xef\xbb\xbftrain/n01/a.JPEG 0\r\n\r\ntrain/n02/my photo.jpg 1\n./train//n02/c.png\t1\n"
    )
    entries = read_split_file(file)
    assert [entries.path(i) for i in range(len(entries))] == [
        "train/n01/a.JPEG",
        "train/n02/my photo.jpg",
        "train/n02/c.png",
    ]
    assert entries.labels.tolist() == [0, 1, 1] and entries.paths.dtype.kind == "S"


def test_missing_split_file_and_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="split file not found: .*nope.txt") as exc:
        read_split_file(tmp_path / "nope.txt")
    _one_line(exc)
    with pytest.raises(DataError, match="dataset root not found"):
        open_split_dataset(tmp_path / "absent", tmp_path / "a", tmp_path / "b")
    with pytest.raises(DataError, match="needs a training split file"):
        open_split_dataset(tmp_path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("train/a.JPEG", "expected 'relative/path label'"),
        ("train/a.JPEG seven", "the label 'seven' is not an integer"),
        ("train/a.JPEG 1.5", "is not an integer"),
        ("train/a.JPEG \uff13", "is not an integer"),  # a full-width digit: no ASCII integer
        ("train/a.JPEG -1", "the label -1 is negative"),
        ("train/a.JPEG 3", "the label 3 is outside 0..2"),
        ("../secret.JPEG 0", "leaves the dataset root"),
        ("train/../../secret.JPEG 0", "leaves the dataset root"),
        ("/etc/passwd 0", "leaves the dataset root"),
        ("C:/data/a.JPEG 0", "leaves the dataset root"),
        ("train/b.JPEG 0", "'train/b.JPEG' is listed twice (first on line 1)"),
    ],
)
def test_each_defect_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    file = write_lines(tmp_path / "split.txt", ["train/./b.JPEG 0", line])
    with pytest.raises(DataError) as exc:
        read_split_file(file, num_classes=3)
    msg = _one_line(exc)
    assert msg.startswith(f"{file}:2: ") and message in msg, msg


def test_binary_and_empty_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "bin.txt").write_bytes(b"\xff\xd8\xff\xe0 0\n")
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        read_split_file(tmp_path / "bin.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DataError, match="no 'relative/path label' lines"):
        read_split_file(tmp_path / "empty.txt")


def test_counts_and_shot_groups_come_from_the_training_split(tmp_path: Path) -> None:
    counts = [150, 101, 100, 20, 19, 5]
    train, test = make_split_dataset(tmp_path, counts, 2, images=False)
    data = open_split_dataset(tmp_path, train, test)
    assert data.num_classes == 6 and data.class_counts == counts
    assert data.class_names == [f"c{c:04d}" for c in range(6)]
    assert data.imbalance_ratio == 30.0
    assert data.groups() == {"many": [0, 1], "medium": [2, 3], "few": [4, 5]}
    assert data.groups("thirds")["head"] == [0, 1]


def test_test_labels_and_empty_classes_are_checked(tmp_path: Path) -> None:
    train = write_lines(tmp_path / "train.txt", ["a/x.jpg 0", "b/y.jpg 2"])
    test = write_lines(tmp_path / "test.txt", ["v/x.jpg 0"])
    with pytest.raises(DataError, match=r"train.txt: 1 of 3 classes have no training image") as e:
        open_split_dataset(tmp_path, train, test)
    _one_line(e)
    write_lines(train, ["a/x.jpg 0", "b/y.jpg 1"])
    write_lines(test, ["v/x.jpg 0", "v/y.jpg 2"])
    with pytest.raises(DataError) as exc:
        open_split_dataset(tmp_path, train, test)
    assert _one_line(exc).startswith(f"{test}:2: the label 2 is outside 0..1")


def test_stratified_n_is_chosen_from_the_labels_alone(tmp_path: Path) -> None:
    counts = [40, 20, 10]
    train, test = make_split_dataset(tmp_path, counts, 0, images=False)
    write_lines(
        test, [f"val/{c}_{i}.JPEG {c}" for c, k in enumerate([30, 20, 10]) for i in range(k)]
    )
    data = open_split_dataset(tmp_path, train, test)
    with recording() as read:
        positions = data.test_positions(n=12, seed=3)
        images = split_test_images(data, n=12, seed=3)
    assert read == []  # no image opened (none exists: the split files list absent files)
    assert np.array_equal(images.positions, positions)
    assert np.bincount(data.test.labels[positions]).tolist() == proportional_quotas(
        [30, 20, 10], 12
    )
    assert np.array_equal(positions, np.sort(positions))
    assert np.array_equal(positions, data.test_positions(n=12, seed=3))
    assert not np.array_equal(positions, data.test_positions(n=12, seed=4))
    assert len(data.test_positions()) == 60 and len(data.test_positions(n=1000)) == 60
    with pytest.raises(ConfigError):
        data.test_positions(n=0)


def test_presets(tmp_path: Path) -> None:
    imagenet, tiny = get_split_preset("imagenet-lt"), get_split_preset("tiny-imagenet-lt")
    assert (imagenet.resize, imagenet.crop, imagenet.shape) == (256, 224, (3, 224, 224))
    assert (imagenet.mean, imagenet.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert imagenet.threat("linf") == (4 / 255, 1 / 255) and imagenet.threat("l2") == (3.0, 0.75)
    assert tiny.shape == (3, 64, 64) and tiny.threat() == (8 / 255, 2 / 255) and tiny.mean is None
    assert Preprocess.of(imagenet) == Preprocess(256, 224)
    assert preset_preprocess(imagenet, crop=192) == Preprocess(256, 192)
    assert preset_preprocess(None) == Preprocess()
    assert not set(SPLIT_PRESETS) & set(DATASETS)  # not in the audit's presets yet
    with pytest.raises(ConfigError, match="valid: imagenet-lt, tiny-imagenet-lt"):
        get_split_preset("inat")
    with pytest.raises(ConfigError, match="unknown norm"):
        imagenet.threat("l1")
    with pytest.raises(ConfigError, match="crop 300 is larger than resize 256"):
        preset_preprocess(imagenet, crop=300)


def test_imagenet_lt_preset_reads_its_files_from_the_root(tmp_path: Path) -> None:
    counts = [3] * 999 + [1]
    make_split_dataset(
        tmp_path,
        counts,
        1,
        images=False,
        train_name="ImageNet_LT_train.txt",
        test_name="ImageNet_LT_test.txt",
    )
    data = open_split_dataset(tmp_path, preset=get_split_preset("imagenet-lt"))
    assert data.num_classes == 1000 and data.class_counts == counts and len(data.test) == 1000
    assert data.groups()["few"] == list(range(1000))
    assert split_test_images(data).preprocess == Preprocess(256, 224)


def test_tiny_imagenet_lt_writer(tmp_path: Path) -> None:
    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n03", "n01", "n02"]
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for wnid in wnids:
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for i in range(6):
            (folder / f"{wnid}_{i}.JPEG").write_bytes(b"")
    notes = [f"val_{i}.JPEG\t{wnids[i % 3]}\t0\t0\t63\t63" for i in range(6)]
    (root / "val" / "val_annotations.txt").write_text("\n".join(notes) + "\n")
    train, test = write_tiny_imagenet_lt_splits(root, n_max=5, imbalance_ratio=5.0)
    assert train.name == "tiny_imagenet_lt_train.txt" and test.name == "tiny_imagenet_lt_test.txt"
    data = open_split_dataset(root, train, test)
    assert data.class_counts == [5, 2, 1]  # lt_counts(5, 5, 3); classes = sorted wnids
    assert data.class_names == ["n01", "n02", "n03"]
    assert data.test.labels.tolist() == [2, 0, 1, 2, 0, 1]
    assert data.test.path(0) == "val/images/val_0.JPEG"
    again, _ = write_tiny_imagenet_lt_splits(root, tmp_path / "again", n_max=5, imbalance_ratio=5.0)
    assert again.read_text() == train.read_text()  # seeded: the same images every time
    (root / "wnids.txt").unlink()
    with pytest.raises(DataError, match="no wnids.txt"):
        write_tiny_imagenet_lt_splits(root)
