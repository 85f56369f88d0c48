"""Explicit randomness. Every random draw in genlab comes from a ``torch.Generator``
made here, keyed by integers, so results depend only on those integers.

- Training: the generator of step ``s``, shard ``j`` is ``keyed(seed, s, j)``. It is
  stateless, so an exact resume needs no RNG state, and a shard draws the same noise
  whether it runs in process 0 of 1 or process 1 of 2.
- Sampling: sample ``i`` of a request with seed ``S`` uses ``keyed(S + i)`` only.
"""

from __future__ import annotations

import torch
from torch import Tensor

_M64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    """One round of the SplitMix64 finaliser (Steele et al. 2014): a 64-bit bijection."""
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def mix(*keys: int) -> int:
    """A well-mixed 63-bit seed from a tuple of integers (order matters)."""
    h = 0x6A09E667F3BCC908
    for k in keys:
        h = _splitmix64(h ^ (int(k) & _M64))
    return h >> 1


def keyed(*keys: int) -> torch.Generator:
    """A CPU generator seeded from ``keys``."""
    return torch.Generator().manual_seed(mix(*keys))


def randn_per_seed(
    seeds: list[int], shape: tuple[int, ...], device="cpu", dtype=torch.float32
) -> Tensor:
    """``(len(seeds), *shape)`` standard normal noise; row i depends only on ``seeds[i]``."""
    rows = [torch.randn(shape, generator=keyed(s), dtype=dtype) for s in seeds]
    return torch.stack(rows).to(device)
