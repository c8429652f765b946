"""Peak memory of an audit against the number of samples ``--n``.

Each ``n`` runs in a fresh Python process (``python -m ltrobust.bench.memory``), so every peak
is that run's own and no allocator cache or earlier run inflates it. The child audits with one
cheap attack and no diagnostics, and reports in a JSON file the parent reads:

- ``peak_rss_bytes``: the peak resident set size of the audit itself. Importing torch has a
  transient peak larger than a small audit, so after the imports the child resets the kernel's
  peak mark (``/proc/self/clear_refs``, Linux) and reads VmHWM at the end; where that is not
  possible it falls back to ``getrusage(RUSAGE_SELF).ru_maxrss`` and says so (``peak_source``);
- ``rss_after_imports_bytes``: the resident size before the audit starts;
- ``baseline_rss_bytes`` and ``lifetime_peak_rss_bytes``: ``ru_maxrss`` after the imports and at
  the end (peaks over the process's whole life, the import peak included).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ltrobust.errors import LtRobustError
from ltrobust.fileio import atomic_write_text

MIB = 1024 * 1024


def _peak_rss_bytes() -> int:
    """This process's peak resident set size in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _current_rss_bytes() -> int | None:
    """This process's resident set size now (Linux ``/proc/self/statm``), else None."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * resource.getpagesize()


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0: ``5`` to
    ``/proc/self/clear_refs``), so that VmHWM counts from now on. False where that fails."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _hwm_bytes() is not None


def _hwm_bytes() -> int | None:
    """The peak RSS (VmHWM of ``/proc/self/status``) in bytes, or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(frozen=True)
class MemoryJob:
    """One memory measurement: audit ``model`` on ``n`` samples of ``dataset`` (default: the
    checkpoint's) with ``attack`` only, no diagnostics."""

    model: str
    n: int
    dataset: str | None = None
    attack: str = "fgsm"
    batch_size: int = 256
    device: str = "cpu"
    threads: int = 1
    data_dir: str | None = None


def measure_in_process(job: MemoryJob) -> dict[str, Any]:
    """Run ``job`` in this process and return the peaks (bytes) and seconds. Meaningful only
    in a fresh process."""
    import torch

    from ltrobust.audit import audit

    torch.set_num_threads(job.threads)
    baseline, current = _peak_rss_bytes(), _current_rss_bytes()
    reset = _reset_peak()
    t0 = time.perf_counter()
    report = audit(
        job.model,
        job.dataset,
        [job.attack],
        n=job.n,
        batch_size=job.batch_size,
        device=job.device,
        data_dir=job.data_dir,
        diagnose=False,
        command=f"ltrobust bench (memory, n={job.n})",
    )
    return {
        "n": report.dataset["n"],
        "shape": report.dataset["shape"],
        "attack": job.attack,
        "seconds": time.perf_counter() - t0,
        "baseline_rss_bytes": baseline,
        "rss_after_imports_bytes": current,
        "peak_rss_bytes": (_hwm_bytes() if reset else None) or _peak_rss_bytes(),
        "peak_source": "VmHWM reset after imports" if reset else "ru_maxrss (import peak included)",
        "lifetime_peak_rss_bytes": max(baseline, _peak_rss_bytes()),
    }


def measure_subprocess(job: MemoryJob, timeout: float = 3600.0) -> dict[str, Any]:
    """:func:`measure_in_process` in a fresh ``python -m ltrobust.bench.memory`` child, which
    hands its result back in a JSON file (nothing is printed).

    Raises :class:`LtRobustError` with the child's error if it fails.
    """
    with tempfile.TemporaryDirectory(prefix="ltrobust-bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "ltrobust.bench.memory", json.dumps(asdict(job))]
        cmd += ["--result", str(result_path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
    if "error" in result or proc.returncode != 0 or "peak_rss_bytes" not in result:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        why = result.get("error") or (lines[-1] if lines else f"exit code {proc.returncode}")
        raise LtRobustError(f"memory run with n={job.n} failed: {why}")
    return result


def memory_scaling(
    model: str,
    sizes: Sequence[int],
    *,
    on_size: Callable[[int], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Peak RSS of one fresh process per size in ``sizes``; ``options`` are the other fields
    of :class:`MemoryJob`. Returns the runs, in MiB too (``audit_mib``: the peak minus
    the resident size after the imports, what the audit itself added), and the growth of the
    peak from the first size to the last next to the size of the extra input tensor (float32
    pixels)."""
    runs = []
    for n in sizes:
        if on_size is not None:
            on_size(n)
        run = measure_subprocess(MemoryJob(model=model, n=n, **options))
        run["peak_rss_mib"] = run["peak_rss_bytes"] / MIB
        run["lifetime_peak_rss_mib"] = run["lifetime_peak_rss_bytes"] / MIB
        now = run.get("rss_after_imports_bytes")
        run["rss_after_imports_mib"] = None if now is None else now / MIB
        run["audit_mib"] = None if now is None else (run["peak_rss_bytes"] - now) / MIB
        runs.append(run)
    out: dict[str, Any] = {"method": "peak RSS of the audit in a fresh process per n"}
    out["runs"] = runs
    if len(runs) >= 2:
        first, last = runs[0], runs[-1]
        pixels = 1
        for s in last["shape"]:
            pixels *= int(s)
        out["growth_mib"] = (last["peak_rss_bytes"] - first["peak_rss_bytes"]) / MIB
        out["input_tensor_growth_mib"] = (last["n"] - first["n"]) * pixels * 4 / MIB
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """The child process: run one :class:`MemoryJob` (given as JSON) and write the result (or
    ``{"error": ...}``) as JSON to ``--result``; exit 0, or 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m ltrobust.bench.memory")
    parser.add_argument("job", help="the MemoryJob's fields as a JSON object")
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    code = 0
    try:
        result = measure_in_process(MemoryJob(**json.loads(args.job)))
    except LtRobustError as exc:
        result, code = {"error": str(exc)}, 2
    except (TypeError, ValueError) as exc:
        result, code = {"error": f"bad job: {exc}"}, 2
    atomic_write_text(args.result, json.dumps(result))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
