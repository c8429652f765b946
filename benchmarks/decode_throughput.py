"""Streaming decode throughput and host memory of split-file datasets (issue 24, item 5).

Generates a 1,000-class JPEG dataset laid out like ImageNet-LT (``train/nXXXXXXXX/...``,
``val/nXXXXXXXX/...``, ``ImageNet_LT_train.txt`` with ImageNet-LT's 1280-to-5 profile,
``ImageNet_LT_test.txt`` with ``--test-per-class`` images per class; the training split
follows the exponential profile 1280 to 5, not ImageNet-LT's own counts, and its images are
only written with ``--train-images``), then measures, on the test split:

- decode-only throughput (images per second through ``ImageFiles`` and ``make_loader``:
  open, decode, RGB, preprocess, collate; no model) on ``--throughput-n`` stratified test
  images for each ``--workers`` value, with the images as decoded and with the
  ``imagenet-lt`` preset's resize 256 + centre crop 224;
- the preflight's rate (headers and tails per second);
- the growth of peak host memory (VmHWM after a reset; ``ru_maxrss`` keeps torch's import
  peak) of a fresh process streaming two ``--n`` values an order of magnitude apart, with 0
  and 2 workers (the main process: with workers it holds the prefetched batches), and, as a
  control, the smaller ``--n`` kept in memory as an eager load would.

    .venv/bin/python benchmarks/decode_throughput.py --root /tmp/lt-bench --json out.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ltrobust.data.profile import lt_counts

CLASSES = 1000
_MEASURE = """
import json, resource, sys
import torch
from ltrobust.data import get_split_preset, open_split_dataset
from ltrobust.data.stream import batches, make_loader, split_test_images
torch.set_num_threads(1)
root, n, workers, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "hold"
data = open_split_dataset(root, preset=get_split_preset("imagenet-lt"))

def status(field):
    with open("/proc/self/status") as handle:
        return next(int(ln.split()[1]) / 1024 for ln in handle if ln.startswith(field))

def run(count, keep):
    images = split_test_images(data, n=count)
    held, seen = [], 0
    for batch in batches(make_loader(images, 64, workers=workers, device="cpu")):
        seen += len(batch[1])
        if keep:
            held.append(batch[0])
    return seen

run(256, False)  # the decoders, the allocator's pools and (workers > 0) fork settle
with open("/proc/self/clear_refs", "w") as handle:  # VmHWM := VmRSS from here on
    handle.write("5")
base = status("VmRSS:")
seen = run(n, hold)
print(json.dumps({"n": seen, "workers": workers, "held": hold, "rss_before_mb": base,
    "peak_growth_mb": status("VmHWM:") - base,
    "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _jpeg(rng: np.random.Generator, side: int) -> bytes:
    """A smooth random picture (gradients plus mild noise: it compresses like a photo)."""
    rows, cols = np.meshgrid(
        np.linspace(0.0, 1.0, side), np.linspace(0.0, 1.0, side), indexing="ij"
    )
    a, b, c = rng.random(3) * 2 * np.pi
    base = np.stack(
        [
            np.sin(a + 3 * rows) * np.cos(b + 2 * cols),
            np.cos(b + 4 * rows * cols),
            np.sin(c + 5 * cols),
        ],
        axis=-1,
    )
    pixels = (127.5 + 100 * base + rng.normal(0, 6, base.shape)).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def generate(root: Path, side: int, test_per_class: int, train_images: bool) -> dict[str, Any]:
    """Write the dataset (skipped when its split files exist) and describe it."""
    train_file, test_file = root / "ImageNet_LT_train.txt", root / "ImageNet_LT_test.txt"
    counts = lt_counts(1280, 256.0, CLASSES)  # ImageNet-LT: 1280 to 5 images per class
    if not (train_file.is_file() and test_file.is_file()):
        rng = np.random.default_rng(0)
        pool = [_jpeg(rng, side) for _ in range(64)]
        train: list[str] = []
        test: list[str] = []
        for label in range(CLASSES):
            wnid = f"n{label:08d}"
            train += [f"train/{wnid}/{wnid}_{i}.JPEG {label}" for i in range(counts[label])]
            test += [
                f"val/{wnid}/ILSVRC_val_{label:04d}{i:02d}.JPEG {label}"
                for i in range(test_per_class)
            ]
        for i, line in enumerate((train if train_images else []) + test):
            path = root / line.rsplit(" ", 1)[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pool[i % len(pool)])
        train_file.write_text("\n".join(train) + "\n")
        test_file.write_text("\n".join(test) + "\n")
    first = next(line for line in test_file.read_text().splitlines())
    size = (root / first.rsplit(" ", 1)[0]).stat().st_size
    return {
        "train_listed": sum(counts),
        "test_images": CLASSES * test_per_class,
        "jpeg_bytes": size,
    }


def throughput(root: Path, workers: int, crop: bool, n: int | None) -> dict[str, float]:
    """Images per second through the loader (the first batch, which starts the workers,
    is timed too)."""
    from ltrobust.data import get_split_preset, open_split_dataset
    from ltrobust.data.stream import Preprocess, batches, make_loader, split_test_images

    data = open_split_dataset(root, preset=get_split_preset("imagenet-lt"))
    images = split_test_images(data, Preprocess(256, 224) if crop else Preprocess(), n=n)
    start = time.perf_counter()
    loader = make_loader(images, 64, workers=workers, device="cpu")
    seen = sum(len(b[1]) for b in batches(loader))
    seconds = time.perf_counter() - start
    return {"images": seen, "seconds": seconds, "images_per_s": seen / seconds}


def preflight_rate(root: Path) -> dict[str, float]:
    from ltrobust.data import check_images, get_split_preset, open_split_dataset
    from ltrobust.data.stream import split_test_images

    data = open_split_dataset(root, preset=get_split_preset("imagenet-lt"))
    result = check_images(split_test_images(data))
    return {
        "files": result.checked,
        "seconds": result.seconds,
        "files_per_s": result.checked / result.seconds,
    }


def peak_memory(root: Path, n: int, workers: int, hold: bool = False) -> dict[str, Any]:
    """Peak RSS growth of the main process of a fresh process streaming ``n`` test images
    (``hold``: keeping them, as an eager load would): the high-water mark is reset after a
    warm-up through ``/proc/self/clear_refs``, since ``ru_maxrss`` (also reported) keeps
    torch's import peak."""
    res = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(root), str(n), str(workers), "hold" if hold else "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, Any] = json.loads(res.stdout)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/ltrobust-decode-bench"))
    parser.add_argument("--side", type=int, default=96, help="side of the generated JPEGs")
    parser.add_argument("--test-per-class", type=int, default=10)
    parser.add_argument("--train-images", action="store_true")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--n", type=int, nargs=2, default=[1000, 10000])
    parser.add_argument("--throughput-n", type=int, default=3000, help="images timed per run")
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    # one intra-op thread in this process, as a DataLoader worker has: collating a batch with
    # several threads on a busy machine spins (2.2 s against 0.2 s for 64 images of 224 x 224)
    torch.set_num_threads(1)
    args.root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    out: dict[str, Any] = {
        "dataset": generate(args.root, args.side, args.test_per_class, args.train_images)
    }
    out["dataset"]["generate_s"] = time.perf_counter() - t0
    out["cpus"] = len(os.sched_getaffinity(0))
    out["load_before"] = os.getloadavg()
    print(json.dumps(out), flush=True)
    out["decode"] = {}
    for crop in () if args.memory_only else (False, True):
        for workers in args.workers:
            key = f"{'resize256-crop224' if crop else 'as-decoded'}/workers={workers}"
            out["decode"][key] = throughput(args.root, workers, crop, args.throughput_n)
            print(key, json.dumps(out["decode"][key]), flush=True)
    if not args.memory_only:
        out["preflight"] = preflight_rate(args.root)
        print("preflight", json.dumps(out["preflight"]), flush=True)
    out["memory"] = [peak_memory(args.root, n, w) for w in (0, 2) for n in args.n]
    out["memory"].append(peak_memory(args.root, args.n[0], 0, hold=True))
    for row in out["memory"]:
        print("memory", json.dumps(row), flush=True)
    out["load_after"] = os.getloadavg()
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
