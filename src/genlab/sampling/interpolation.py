"""Paths between two noise draws, for latent walks (``genlab.runs.interpolate``).

- :func:`slerp`: spherical linear interpolation (Shoemake 1985), the usual choice between
  Gaussian noises (White 2016, "Sampling Generative Networks"): in high dimension two
  draws are nearly orthogonal with norms near ``sqrt(d)``, and slerp keeps that norm,
  while the midpoint of :func:`lerp` has norm ``sqrt(d / 2)``, a point the prior almost
  never produces.
- :func:`lerp`: the straight line.
"""

from __future__ import annotations

import torch
from torch import Tensor


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """``(T, *shape)`` points ``(1 - t) a + t b`` for ``a, b (*shape)`` and ``t (T,)``."""
    t = t.reshape(-1, *([1] * a.dim())).to(a)
    return (1 - t) * a + t * b


def slerp(a: Tensor, b: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """``(T, *shape)`` points on the great circle from ``a`` to ``b`` (the angle between
    them flattened), ``t (T,)`` in [0, 1]; falls back to :func:`lerp` when they are
    (anti)parallel within ``eps``. Endpoints are returned exactly."""
    fa, fb = a.flatten().double(), b.flatten().double()
    cos = (fa @ fb / (fa.norm() * fb.norm()).clamp_min(1e-30)).clamp(-1, 1)
    omega = torch.arccos(cos)
    if float(torch.sin(omega).abs()) < eps:
        return lerp(a, b, t)
    t = t.double().reshape(-1, 1)
    wa = torch.sin((1 - t) * omega) / torch.sin(omega)
    wb = torch.sin(t * omega) / torch.sin(omega)
    out = (wa * fa + wb * fb).to(a.dtype).reshape(-1, *a.shape)
    out[t.flatten() == 0] = a  # exact endpoints (sin rounding aside)
    out[t.flatten() == 1] = b
    return out


PATHS = {"slerp": slerp, "lerp": lerp}
