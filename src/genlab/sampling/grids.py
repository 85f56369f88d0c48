"""Time grids for sampling: float64, from t = 1 (prior) down to t = 0 (data)."""

from __future__ import annotations

import torch
from torch import Tensor


def uniform_grid(steps: int, t_max: float = 1.0, t_min: float = 0.0) -> Tensor:
    """``(steps + 1,)`` equally spaced times from ``t_max`` to ``t_min`` (float64)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    return torch.linspace(t_max, t_min, steps + 1, dtype=torch.float64)
