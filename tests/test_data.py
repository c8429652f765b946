"""Tests of ltrobust.data: the long-tailed profile, groups, readers, discovery and loaders."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from ltrobust.data import (
    DATASETS,
    class_groups,
    dataset_status,
    ensure_dataset,
    find_dataset_root,
    get_spec,
    list_datasets,
    load_class_counts,
    load_eval_data,
    load_train_data,
    lt_counts,
    proportional_quotas,
    read_idx,
    read_split,
    resolve_group_mode,
    select_lt_indices,
)
from ltrobust.errors import ConfigError, DataError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may see the user's ~/.cache/ltrobust or $LTROBUST_DATA."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LTROBUST_DATA", raising=False)


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg
    return msg


# --- the profile -------------------------------------------------------------------------


def test_lt_counts_goldens() -> None:
    assert lt_counts(5000, 50, 10) == [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100]
    assert sum(lt_counts(5000, 50, 10)) == 13996
    assert lt_counts(5000, 100, 10) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert sum(lt_counts(5000, 100, 10)) == 12406
    c100 = lt_counts(500, 10, 100)
    assert c100[:3] == [500, 488, 477] and c100[-2:] == [51, 50] and sum(c100) == 19573
    assert lt_counts(7, 3.0, 1) == [7]
    assert lt_counts(10, 1, 4) == [10, 10, 10, 10]


@pytest.mark.parametrize("args", [(10, 0.5, 3), (10, float("nan"), 3), (0, 10, 3), (10, 10, 0)])
def test_lt_counts_rejects_bad_arguments(args: tuple) -> None:
    with pytest.raises(ConfigError) as exc:
        lt_counts(*args)
    one_line(exc)


LABELS = np.array([2, 0, 1, 0, 2, 1, 0, 1, 2, 0, 1, 2, 0, 2, 1, 0])


def test_select_lt_indices_golden_and_rng_untouched() -> None:
    np_state, torch_state = np.random.get_state(), torch.get_rng_state()
    got = select_lt_indices(LABELS, [4, 3, 1], seed=0)
    assert got.dtype == np.int64
    assert got.tolist() == [15, 6, 3, 9, 5, 10, 14, 11]  # derived once by hand-running the rule
    # The same stream, written out plainly.
    rs = np.random.RandomState(0)
    expected = []
    for c, k in enumerate([4, 3, 1]):
        idx = np.where(LABELS == c)[0]
        rs.shuffle(idx)
        expected.extend(idx[:k].tolist())
    assert got.tolist() == expected
    assert select_lt_indices(torch.from_numpy(LABELS), [4, 3, 1], seed=1).tolist() != expected
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_select_lt_indices_too_few_images() -> None:
    with pytest.raises(DataError, match="class 1 has 5 images") as exc:
        select_lt_indices(LABELS, [1, 6, 1])
    one_line(exc)


def test_class_groups_thirds_and_shot() -> None:
    groups = class_groups(lt_counts(5000, 50, 10))
    assert list(groups) == ["head", "body", "tail"]
    assert groups == {"head": [0, 1, 2], "body": [3, 4, 5, 6], "tail": [7, 8, 9]}
    # Ties keep class order; C = 8 is not divisible by 3 (head and tail get 2 each).
    ties = class_groups([50, 80, 80, 10, 50, 5, 80, 10], "thirds")
    assert ties == {"head": [1, 2], "body": [0, 3, 4, 6], "tail": [5, 7]}
    shot = class_groups([500, 101, 100, 20, 19, 1], mode="shot")
    assert list(shot) == ["many", "medium", "few"]
    assert shot == {"many": [0, 1], "medium": [2, 3], "few": [4, 5]}
    assert class_groups([5000, 200], "shot") == {"many": [0, 1], "medium": [], "few": []}
    with pytest.raises(ConfigError, match="unknown group mode 'halves'") as exc:
        class_groups([1, 2, 3], "halves")
    one_line(exc)


def test_auto_groups_are_shot_when_the_counts_span_the_thresholds() -> None:
    """CIFAR-100-LT at IR 100 (500 ... 5, the AFR/CMO setting) has many, medium and few
    classes; the default profiles of CIFAR-10-LT, CIFAR-100-LT (IR 10) and Fashion-MNIST-LT
    do not, and keep thirds."""
    c100 = lt_counts(500, 100, 100)
    assert resolve_group_mode(c100) == "shot"
    assert [len(g) for g in class_groups(c100, "auto").values()] == [35, 35, 30]
    for counts in (lt_counts(5000, 50, 10), lt_counts(500, 10, 100), lt_counts(6000, 50, 10)):
        assert resolve_group_mode(counts) == "thirds"
    assert resolve_group_mode(lt_counts(1000, 100, 10)) == "shot"  # 1000 ... 10
    assert resolve_group_mode([150, 50], "auto") == "thirds"  # no few class
    assert resolve_group_mode(c100, "thirds") == "thirds"
    with pytest.raises(ConfigError, match="valid: auto, thirds, shot"):
        resolve_group_mode(c100, "halves")


def test_proportional_quotas_largest_remainder() -> None:
    assert proportional_quotas([50, 30, 20], 10) == [5, 3, 2]
    assert proportional_quotas([50, 30, 20], 7) == [4, 2, 1]  # 3.5, 2.1, 1.4 -> +1 to class 0
    assert proportional_quotas([5, 5, 5], 4) == [2, 1, 1]  # equal remainders: lowest class first
    assert proportional_quotas([3, 1], 10) == [3, 1]


# --- specs -------------------------------------------------------------------------------


def test_specs_registry() -> None:
    assert [s.name for s in list_datasets()] == ["cifar10-lt", "cifar100-lt", "fashion-mnist-lt"]
    c10, c100, fm = (get_spec(n) for n in DATASETS)
    assert (c10.n_max, c10.default_ir, c10.eps_linf, c10.step_linf) == (5000, 50, 8 / 255, 2 / 255)
    assert (c10.eps_l2, c10.step_l2) == (0.5, 0.125)
    assert (c10.class_names[0], c10.class_names[9]) == ("airplane", "truck")
    assert (c100.n_max, c100.default_ir, c100.num_classes) == (500, 10, 100)
    assert list(c100.class_names) == sorted(set(c100.class_names)) and len(c100.class_names) == 100
    assert c100.class_names[:2] == ("apple", "aquarium_fish") and c100.class_names[-1] == "worm"
    assert (fm.shape, fm.n_max, fm.default_ir) == ((1, 28, 28), 6000, 50)
    assert (fm.eps_linf, fm.step_linf, fm.eps_l2, fm.step_l2) == (0.1, 0.01, 1.0, 0.25)
    assert fm.class_names[0] == "T-shirt/top" and fm.class_names[9] == "Ankle boot"
    with pytest.raises(ConfigError) as exc:
        get_spec("x")
    assert one_line(exc) == (
        "unknown dataset 'x'; valid: cifar10-lt, cifar100-lt, fashion-mnist-lt, folder:PATH, "
        "tensors:FILE.pt"
    )


# --- synthetic files in the real on-disk formats -------------------------------------------


def _rows(n: int, seed: int) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, size=(n, 3072)).astype(np.uint8)


def _py2(obj: object) -> bytes:
    """Pickle opcodes as Python 2's cPickle wrote the original CIFAR files (str = bytes)."""
    if isinstance(obj, bytes):
        size = bytes([len(obj)]) if len(obj) < 256 else struct.pack("<i", len(obj))
        return (b"U" if len(obj) < 256 else b"T") + size + obj
    if isinstance(obj, bool) or obj is None:
        return {True: b"\x88", False: b"\x89", None: b"N"}[obj]
    if isinstance(obj, int):
        return b"J" + struct.pack("<i", obj)
    if isinstance(obj, (tuple, list)):
        items = b"".join(_py2(o) for o in obj)
        return b"(" + items + b"t" if isinstance(obj, tuple) else b"](" + items + b"e"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_py2(k) + _py2(v) for k, v in obj.items()) + b"u"
    assert isinstance(obj, np.ndarray) and obj.dtype == np.uint8
    dtype = b"cnumpy\ndtype\n" + _py2((b"u1", False, True)) + b"R"
    dtype += _py2((3, b"|", None, None, None, -1, -1, 0)) + b"b"
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n"
        + _py2((0,))
        + _py2(b"b")
        + b"tR"
    )
    state = b"(" + _py2(1) + _py2(obj.shape) + dtype + _py2(False) + _py2(obj.tobytes()) + b"t"
    return array + state + b"b"


def py2_pickle(obj: dict) -> bytes:
    return b"\x80\x02" + _py2(obj) + b"."


def write_cifar10(folder: Path, per_batch: int = 20, n_test: int = 200) -> dict:
    """Five training batches of ``per_batch`` images and a test batch; labels cycle 0..9."""
    folder.mkdir(parents=True)
    out: dict = {"train_x": [], "train_y": []}
    for b in range(1, 6):
        rows, labels = _rows(per_batch, b), [(i * 3 + b) % 10 for i in range(per_batch)]
        blob = {b"batch_label": b"training batch", b"labels": labels, b"data": rows}
        (folder / f"data_batch_{b}").write_bytes(py2_pickle(blob))  # as the originals
        out["train_x"].append(rows)
        out["train_y"].extend(labels)
    test_rows, test_labels = _rows(n_test, 99), [i % 10 for i in range(n_test)]
    with open(folder / "test_batch", "wb") as f:  # as Python 3 writes protocol 2
        pickle.dump({b"data": test_rows, b"labels": test_labels}, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in DATASETS["cifar10-lt"].class_names]}, f)
    out.update(test_x=test_rows, test_y=np.array(test_labels))
    out["train_x"] = np.concatenate(out["train_x"])
    out["train_y"] = np.array(out["train_y"])
    return out


def test_cifar10_reader_layout_and_order(tmp_path: Path) -> None:
    raw = write_cifar10(tmp_path / "cifar-10-batches-py")
    spec = get_spec("cifar10-lt")
    folder = find_dataset_root(spec, tmp_path)
    assert folder == tmp_path / "cifar-10-batches-py"
    x, y = read_split(spec, folder, "train")
    assert x.shape == (100, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.array_equal(y, raw["train_y"])  # batches 1..5 in order
    # CHW order: row[1024] is the first pixel of channel 1 (green).
    assert x[7, 1, 0, 0] == raw["train_x"][7, 1024] and x[7, 2, 31, 31] == raw["train_x"][7, -1]
    data = load_eval_data("cifar10-lt", data_dir=tmp_path, download=False)
    assert data.x.shape == (200, 3, 32, 32) and data.x.dtype == torch.float32
    assert data.shape == (3, 32, 32) and data.test_counts == [20] * 10
    assert torch.equal(
        data.x[5] * 255, torch.from_numpy(raw["test_x"][5].reshape(3, 32, 32)).float()
    )
    assert data.class_counts == lt_counts(5000, 50, 10) and data.imbalance_ratio == 50
    assert data.source == str(folder) and data.spec is spec and not data.test_imbalanced
    assert data.indices.tolist() == list(range(200))


def test_cifar10_train_subset(tmp_path: Path) -> None:
    raw = write_cifar10(tmp_path / "cifar-10-batches-py")
    train = load_train_data(
        "cifar10-lt", data_dir=tmp_path, imbalance_ratio=5, n_max=10, download=False
    )
    counts = lt_counts(10, 5, 10)
    assert train.split == "train" and train.class_counts == counts and train.test_counts == counts
    assert train.indices.tolist() == select_lt_indices(raw["train_y"], counts, 0).tolist()
    assert torch.equal(train.y, torch.from_numpy(raw["train_y"][train.indices.numpy()]))
    with pytest.raises(DataError, match="class 0 has 10 images") as exc:  # default n_max 5000
        load_train_data("cifar10-lt", data_dir=tmp_path, download=False)
    one_line(exc)


def test_cifar_search_order_and_flat_layout(tmp_path: Path, monkeypatch) -> None:
    spec = get_spec("cifar10-lt")
    write_cifar10(tmp_path / "env")  # files directly in the root
    monkeypatch.setenv("LTROBUST_DATA", str(tmp_path / "env"))
    assert dataset_status(spec) == (True, str(tmp_path / "env"))
    write_cifar10(tmp_path / "cli" / "cifar-10-batches-py")
    assert find_dataset_root(spec, tmp_path / "cli") == tmp_path / "cli" / "cifar-10-batches-py"
    assert find_dataset_root(spec, tmp_path / "nothing-here") == tmp_path / "env"
    cache = Path(os.environ["HOME"]) / ".cache" / "ltrobust" / "cifar-10-batches-py"
    write_cifar10(cache)
    assert find_dataset_root(spec) == tmp_path / "env"  # $LTROBUST_DATA before the cache
    monkeypatch.delenv("LTROBUST_DATA")
    assert dataset_status(spec) == (True, str(cache))


def test_cifar100_reader(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    names = [n.encode() for n in DATASETS["cifar100-lt"].class_names]
    for split, n in (("train", 300), ("test", 200)):
        fine = [(i * 7) % 100 for i in range(n)]
        blob = {
            b"data": _rows(n, n),
            b"fine_labels": fine,
            b"coarse_labels": [f // 5 for f in fine],
        }
        (folder / split).write_bytes(pickle.dumps(blob))  # default protocol (out-of-band style)
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": names}, protocol=2))
    data = load_eval_data("cifar100-lt", data_dir=tmp_path, download=False, n=50)
    assert data.num_classes == 100 and data.test_counts.count(1) == 50 and len(data) == 50
    assert data.class_counts == lt_counts(500, 10, 100) and data.class_names[1] == "aquarium_fish"
    assert torch.equal(data.y, torch.tensor([(i * 7) % 100 for i in data.indices.tolist()]))
    x, y = read_split(get_spec("cifar100-lt"), folder, "train")
    assert x.shape == (300, 3, 32, 32) and y.tolist() == [(i * 7) % 100 for i in range(300)]


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


@pytest.mark.parametrize("defect", ["garbage", "evil", "shape", "labels"])
def test_cifar_corrupt_files(tmp_path: Path, defect: str) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    blob = {
        "garbage": b"\x80\x02not a pickle at all",
        "evil": pickle.dumps({b"data": _Evil(str(tmp_path / "pwned")), b"labels": []}),
        "shape": pickle.dumps({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}),
        "labels": pickle.dumps({b"data": _rows(4, 0), b"labels": [0, 1, 2, 10]}),
    }[defect]
    (folder / "test_batch").write_bytes(blob)
    with pytest.raises(DataError) as exc:
        load_eval_data("cifar10-lt", data_dir=tmp_path, download=False)
    assert "test_batch" in one_line(exc)
    assert not (tmp_path / "pwned").exists()


def test_cifar_missing_batch_is_not_found(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "data_batch_3").unlink()
    assert find_dataset_root(get_spec("cifar10-lt"), tmp_path) is None
    with pytest.raises(DataError) as exc:
        read_split(get_spec("cifar10-lt"), folder, "train")
    assert "data_batch_3" in one_line(exc)


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    blob = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if compress else blob)


def test_idx_uncompressed_torchvision_layout(tmp_path: Path) -> None:
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rs = np.random.RandomState(3)
    for prefix, n in (("train", 60), ("t10k", 30)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rs.randint(0, 256, (n, 28, 28)), False)
        labels = f"{prefix}-labels-idx1-ubyte" + (".gz" if prefix == "t10k" else "")
        write_idx(raw / labels, np.arange(n) % 10, compress=prefix == "t10k")
    data = load_eval_data("fashion-mnist-lt", data_dir=tmp_path, download=False)
    assert data.source == str(raw) and data.x.shape == (30, 1, 28, 28)
    images = read_idx(raw / "t10k-images-idx3-ubyte", 3)
    assert torch.equal(data.x[4, 0] * 255, torch.from_numpy(images[4].astype(np.float32)))
    # Corrupt magic number, and a truncated file.
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x09\x03" + b"\x00" * 20)
    with pytest.raises(DataError, match="magic") as exc:
        load_eval_data("fashion-mnist-lt", data_dir=tmp_path, download=False)
    one_line(exc)
    (raw / "t10k-images-idx3-ubyte").write_bytes(
        bytes([0, 0, 8, 3]) + struct.pack(">3I", 30, 28, 28) + b"\x00" * 100
    )
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte") as exc:
        load_eval_data("fashion-mnist-lt", data_dir=tmp_path, download=False)
    one_line(exc)


# --- subsets of the evaluation set ---------------------------------------------------------


def test_test_imbalanced_and_n(tmp_path: Path) -> None:
    raw = write_cifar10(tmp_path / "cifar-10-batches-py")
    np_state = np.random.get_state()
    data = load_eval_data(
        "cifar10-lt", data_dir=tmp_path, imbalance_ratio=4, test_imbalanced=True, download=False
    )
    counts = lt_counts(20, 4, 10)  # n_max = 20 test images per class here
    assert data.test_imbalanced and data.imbalance_ratio == 4 and data.test_counts == counts
    assert data.class_counts == lt_counts(5000, 4, 10)
    assert data.indices.tolist() == sorted(select_lt_indices(raw["test_y"], counts, 0).tolist())
    small = load_eval_data(
        "cifar10-lt",
        data_dir=tmp_path,
        imbalance_ratio=4,
        test_imbalanced=True,
        n=30,
        download=False,
    )
    assert small.test_counts == proportional_quotas(counts, 30) and len(small) == 30
    assert set(small.indices.tolist()) <= set(data.indices.tolist())
    assert small.indices.tolist() == sorted(small.indices.tolist())
    assert torch.equal(small.y, torch.from_numpy(raw["test_y"][small.indices.numpy()]))
    other = load_eval_data("cifar10-lt", data_dir=tmp_path, n=30, seed=1, download=False)
    assert other.test_counts == [3] * 10
    assert (
        load_eval_data("cifar10-lt", data_dir=tmp_path, n=10**6, download=False).x.shape[0] == 200
    )
    after = np.random.get_state()
    assert np.array_equal(after[1], np_state[1]) and after[2] == np_state[2]
    for bad in (0, -3):
        with pytest.raises(ConfigError) as exc:
            load_eval_data("cifar10-lt", data_dir=tmp_path, n=bad, download=False)
        one_line(exc)
    with pytest.raises(DataError, match="9 entries") as exc:
        load_eval_data("cifar10-lt", data_dir=tmp_path, class_counts=[5] * 9, download=False)
    one_line(exc)


# --- custom data ---------------------------------------------------------------------------


def _png(path: Path, value: int, mode: str = "RGB", size: tuple[int, int] = (8, 6)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=value if mode == "L" else (value, 255 - value, 7)).save(path)


def test_folder_dataset(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    for cls, values in (("dog", [10, 20]), ("ant", [30]), ("cat", [40, 50, 60])):
        for i, v in enumerate(values):
            _png(root / cls / f"{i}.png", v)
    (root / "cat" / "notes.txt").write_text("ignored")
    counts = tmp_path / "counts.json"
    counts.write_text("[100, 50, 10]")
    data = load_eval_data(f"folder:{root}", class_counts=counts, n=3)
    assert data.class_names == ["ant", "cat", "dog"] and data.num_classes == 3
    assert data.class_counts == [100, 50, 10] and data.imbalance_ratio == 10 and data.spec is None
    assert data.test_counts == [1, 1, 1] and data.shape == (3, 6, 8)  # quotas of [1, 3, 2] -> 3
    full = load_eval_data(f"folder:{root}", class_counts=[100, 50, 10])
    assert full.y.tolist() == [0, 1, 1, 1, 2, 2]
    assert full.x[0, :, 0, 0].mul(255).round().tolist() == [30, 225, 7]
    assert full.x.dtype == torch.float32 and full.source == str(root)
    gray = tmp_path / "gray"
    _png(gray / "a" / "0.png", 9, "L")
    _png(gray / "b" / "0.png", 200, "L")
    gdata = load_eval_data(f"folder:{gray}", class_counts=[3, 1])
    assert gdata.shape == (1, 6, 8) and gdata.x[1, 0, 0, 0].item() == pytest.approx(200 / 255)


def test_folder_dataset_errors(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    _png(root / "a" / "0.png", 1)
    _png(root / "b" / "0.png", 2)
    with pytest.raises(DataError) as exc:
        load_eval_data(f"folder:{root}")
    assert one_line(exc) == (
        f"folder:{root} needs the training class counts: pass --class-counts counts.json "
        "(a JSON list) or a CSV"
    )
    with pytest.raises(DataError, match="3 entries, but the dataset has 2 classes") as exc:
        load_eval_data(f"folder:{root}", class_counts=[1, 2, 3])
    one_line(exc)
    _png(root / "b" / "1.png", 2, size=(9, 6))
    _png(root / "b" / "2.png", 2, mode="L")
    with pytest.raises(DataError, match="all images must share") as exc:
        load_eval_data(f"folder:{root}", class_counts=[1, 2])
    assert str(root / "b" / "1.png") in one_line(exc)
    (root / "b" / "1.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image") as exc:
        load_eval_data(f"folder:{root}", class_counts=[1, 2])
    one_line(exc)
    with pytest.raises(DataError, match="not found") as exc:
        load_eval_data(f"folder:{tmp_path / 'nope'}", class_counts=[1, 2])
    one_line(exc)


def test_tensors_dataset(tmp_path: Path) -> None:
    x = torch.randint(0, 256, (12, 3, 4, 4), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2] * 4)
    file = tmp_path / "set.pt"
    torch.save({"x": x, "y": y, "class_names": ["a", "b", "c"]}, file)
    data = load_eval_data(f"tensors:{file}", class_counts=[30, 20, 10])
    assert torch.equal(data.x * 255, x.float()) and torch.equal(data.y, y)
    assert data.class_names == ["a", "b", "c"] and data.imbalance_ratio == 3
    torch.save((x.float() / 255, y), file)
    data = load_eval_data(f"tensors:{file}", class_counts=[30, 20, 10], test_imbalanced=True)
    assert data.class_names == ["0", "1", "2"] and data.test_counts == lt_counts(4, 3, 3)
    train = load_train_data(f"tensors:{file}")
    assert train.class_counts == [4, 4, 4] and train.split == "train"


@pytest.mark.parametrize(
    ("content", "counts", "match"),
    [
        (
            {"x": torch.full((2, 1, 2, 2), 1.5), "y": torch.tensor([0, 1])},
            [1, 1],
            r"outside \[0,1\]",
        ),
        ({"x": torch.zeros(2, 1, 2, 2), "y": torch.tensor([0, 2])}, [1, 1], "labels outside 0..1"),
        ({"x": torch.zeros(2, 4), "y": torch.tensor([0, 1])}, [1, 1], "4-D tensor"),
        ({"x": torch.zeros(2, 1, 2, 2), "y": torch.tensor([0])}, [1, 1], "1 labels for 2 images"),
        ({"x": torch.zeros(2, 1, 2, 2), "y": torch.tensor([0.0, 1.0])}, [1, 1], "integers"),
        ({"z": 1}, [1, 1], "expected a dict with 'x' and 'y'"),
        ({"x": torch.zeros(2, 1, 2, 2), "y": torch.tensor([0, 1])}, [1, 0], "positive integer"),
    ],
)
def test_tensors_dataset_errors(tmp_path: Path, content: dict, counts: list, match: str) -> None:
    file = tmp_path / "bad.pt"
    torch.save(content, file)
    with pytest.raises(DataError, match=match) as exc:
        load_eval_data(f"tensors:{file}", class_counts=counts)
    one_line(exc)


def test_tensors_file_not_weights_only(tmp_path: Path) -> None:
    file = tmp_path / "obj.pt"
    torch.save({"x": _Evil(str(tmp_path / "pwned")), "y": [0]}, file)
    with pytest.raises(DataError, match="weights_only") as exc:
        load_eval_data(f"tensors:{file}", class_counts=[1])
    one_line(exc)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("c.json", "[5000, 100, 20]"),
        ("c.json", '{"cat": 5000, "dog": 100, "ant": 20}'),
        ("c.txt", "[5000, 100, 20.0]\n"),
        ("c.csv", "5000, 100, 20\n"),
        ("c.csv", "5000\n100\n\n20\n"),
        ("c.csv", "class,count\ncat,5000\ndog,100\nant,20\n"),
        ("c.csv", "cat,5000\ndog,100\nant,20"),
    ],
)
def test_load_class_counts_formats(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    named = "cat" in text  # counts by name are matched to the class names when data loads
    expected = {"cat": 5000, "dog": 100, "ant": 20} if named else [5000, 100, 20]
    assert load_class_counts(path) == expected


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("c.json", "[5000, 100", "invalid JSON"),
        ("c.json", "[5000, -1]", "entry 1 is -1"),
        ("c.json", '{"a": "many"}', "entry 0 is 'many'"),
        ("c.json", '"x"', "expected a JSON list"),
        ("c.json", "[]", "empty"),
        ("c.csv", "5000,1.5", "'1.5' is not an integer"),
        ("c.csv", "5000,0,3", "entry 1 is 0"),
        ("c.csv", "cat,5000\ndog,lots", "'lots' is not an integer"),
        ("c.csv", "1,2,3\n4,5,6", "expected comma-separated counts"),
        ("c.csv", "   \n", "empty"),
    ],
)
def test_load_class_counts_errors(tmp_path: Path, name: str, text: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError, match=match) as exc:
        load_class_counts(path)
    one_line(exc)
    with pytest.raises(DataError, match="not found") as exc:
        load_class_counts(tmp_path / "missing.json")


# --- offline discovery and download --------------------------------------------------------


def test_offline_without_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LTROBUST_DATA", str(tmp_path / "empty"))
    spec = get_spec("cifar10-lt")
    assert dataset_status(spec, tmp_path / "also-empty") == (False, None)
    with pytest.raises(DataError) as exc:
        load_eval_data("cifar10-lt", data_dir=tmp_path, download=False)
    msg = one_line(exc)
    for part in (
        "cifar-10-batches-py",
        "data_batch_1..5",
        "test_batch",
        "cifar-10-python.tar.gz",
        "--data-dir",
        "$LTROBUST_DATA",
        "~/.cache/ltrobust",
    ):
        assert part in msg
    calls: list[Path] = []
    with pytest.raises(DataError, match="offline") as exc:
        ensure_dataset(
            spec,
            tmp_path,
            is_online=lambda host: False,
            downloader=lambda s, root: calls.append(root),
        )
    assert calls == [] and "data_batch_1..5" in one_line(exc)

    def broken(s, root):
        raise OSError("connection reset\nby peer")

    with pytest.raises(DataError, match="download failed") as exc:
        ensure_dataset(spec, tmp_path, is_online=lambda host: True, downloader=broken)
    one_line(exc)


def test_download_when_online(tmp_path: Path) -> None:
    spec = get_spec("cifar10-lt")
    hosts: list[str] = []

    def online(host: str) -> bool:
        hosts.append(host)
        return True

    def fake_download(s, root: Path) -> None:
        write_cifar10(root / "cifar-10-batches-py")

    folder = ensure_dataset(spec, tmp_path / "dl", is_online=online, downloader=fake_download)
    assert hosts == ["www.cs.toronto.edu"] and folder == tmp_path / "dl" / "cifar-10-batches-py"


# --- the real Fashion-MNIST ----------------------------------------------------------------


@pytest.mark.data
def test_real_fashion_mnist() -> None:
    if not DEBIAN_FASHION.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    test = load_eval_data("fashion-mnist-lt", download=False)
    assert test.x.shape == (10000, 1, 28, 28) and test.test_counts == [1000] * 10
    assert test.source == str(DEBIAN_FASHION) and 0 <= test.x.min() and test.x.max() <= 1
    train = load_train_data("fashion-mnist-lt", download=False)
    counts = lt_counts(6000, 50, 10)
    assert counts == [6000, 3884, 2515, 1628, 1054, 682, 442, 286, 185, 120]
    assert train.class_counts == counts and train.test_counts == counts
    labels = read_idx(DEBIAN_FASHION / "train-labels-idx1-ubyte.gz", 1).astype(np.int64)
    assert train.indices.tolist() == select_lt_indices(labels, counts, 0).tolist()
    assert torch.equal(train.y, torch.from_numpy(labels[train.indices.numpy()]))
    images = read_idx(DEBIAN_FASHION / "train-images-idx3-ubyte.gz", 3)
    k = int(train.indices[-1])
    assert torch.equal(train.x[-1, 0] * 255, torch.from_numpy(images[k].astype(np.float32)))
