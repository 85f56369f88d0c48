"""Deterministic samplers over a velocity field ``v(x, t, cond)``.

The model callable returns ``dx/dt`` (the velocity); generation integrates
``dx/dt = v`` from t = 1 (noise) to t = 0 (data) along a float64 time grid.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Velocity = Callable[[Tensor, Tensor, dict], Tensor]


def euler_step(x: Tensor, v: Tensor, t: float, t_next: float) -> Tensor:
    """One explicit Euler step ``x + (t_next - t) v``."""
    return x + (t_next - t) * v


@torch.no_grad()
def euler(
    model: Velocity,
    x: Tensor,
    grid: Tensor,
    *,
    cond: dict | None = None,
    callback: Callable[[int, Tensor], None] | None = None,
) -> Tensor:
    """Integrate ``dx/dt = model(x, t, cond)`` with Euler steps along ``grid``.

    Args:
        model: velocity callable; ``t`` is passed as a ``(B,)`` float32 tensor.
        x: ``(B, *S)`` samples at ``grid[0]`` (noise at t = 1).
        grid: ``(K + 1,)`` float64 times, decreasing to 0.
        callback: called as ``callback(i, x)`` after step ``i``.
    Returns:
        ``(B, *S)`` samples at ``grid[-1]``.
    """
    cond = cond or {}
    for i in range(len(grid) - 1):
        t, t_next = float(grid[i]), float(grid[i + 1])
        v = model(x, torch.full((len(x),), t, device=x.device), cond)
        x = euler_step(x, v, t, t_next)
        if callback is not None:
            callback(i, x)
    return x
