"""Explicit randomness. Every random draw in genlab comes from a ``torch.Generator``
made here, keyed by integers, so results depend only on those integers.

- Training: the generator of step ``s``, shard ``j`` is ``keyed(seed, s, j)``. It is
  stateless, so an exact resume needs no RNG state, and a shard draws the same noise
  whether it runs in process 0 of 1 or process 1 of 2.
- Sampling: sample ``i`` of a request with seed ``S`` uses ``keyed(S + i)`` only.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def mix(*keys: int) -> int:
    """A well-mixed 63-bit seed from a tuple of non-negative integers."""
    a, b = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return (int(a) << 31) ^ int(b)


def keyed(*keys: int) -> torch.Generator:
    """A CPU generator seeded from ``keys``."""
    return torch.Generator().manual_seed(mix(*keys))


def randn_per_seed(seeds: list[int], shape: tuple[int, ...], device="cpu",
                   dtype=torch.float32) -> Tensor:
    """``(len(seeds), *shape)`` standard normal noise; row i depends only on ``seeds[i]``."""
    rows = [torch.randn(shape, generator=keyed(s), dtype=dtype) for s in seeds]
    return torch.stack(rows).to(device)
