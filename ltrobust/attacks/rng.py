"""Per-sample randomness, so that a result never depends on the batch size.

Each sample's random start is drawn from its own ``torch.Generator`` seeded by a hash of
(base seed, attack salt, sample index). The noise is drawn on the CPU, so CPU and CUDA runs
start from identical points.
"""

from __future__ import annotations

import hashlib

import torch

_MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def salt_of(name: str) -> int:
    """A stable 63-bit integer for a string (attack name): no Python ``hash`` randomisation."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") >> 1


def sample_seeds(base_seed: int, salt: int, indices: torch.Tensor) -> torch.Tensor:
    """Seeds (int64, N) for the samples with dataset ``indices`` (N)."""
    out = [_splitmix64(_splitmix64(base_seed ^ salt) ^ int(i)) >> 1 for i in indices.tolist()]
    return torch.tensor(out, dtype=torch.int64)


def per_sample_noise(
    shape: torch.Size, seeds: torch.Tensor, *, normal: bool = False
) -> torch.Tensor:
    """Noise N x ``shape[1:]`` on the CPU: row i from a generator seeded with ``seeds[i]``.

    ``normal=False`` gives U(0, 1), ``normal=True`` N(0, 1); the two streams are independent
    (the normal stream is seeded with the seed + 1).
    """
    rows = []
    gen = torch.Generator(device="cpu")
    for s in seeds.tolist():
        if normal:
            gen.manual_seed(int(s) + 1)
            rows.append(torch.randn(shape[1:], generator=gen))
        else:
            gen.manual_seed(int(s))
            rows.append(torch.rand(shape[1:], generator=gen))
    return torch.stack(rows) if rows else torch.empty(shape)
