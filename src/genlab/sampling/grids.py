"""Time grids for sampling: float64, from the prior end down to exactly t = 0.

- ``uniform_grid``: equally spaced in ``t``.
- ``karras_grid``: EDM's ``rho`` schedule (Karras et al. 2022, Eq. 5) on the path's
  VE-equivalent noise level ``sigma / alpha``, mapped back to ``t`` through the path's
  inverse log-SNR; works for every affine path.
- ``shifted_grid``: the uniform grid under the SD3 shift ``s t / (1 + (s - 1) t)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.paths import AffinePath, shift_t
from genlab.sampling import GRIDS


def _check(steps: int) -> None:
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")


def uniform_grid(steps: int, t_max: float = 1.0, t_min: float = 0.0) -> Tensor:
    """``(steps + 1,)`` equally spaced times from ``t_max`` to ``t_min`` (float64)."""
    _check(steps)
    return torch.linspace(t_max, t_min, steps + 1, dtype=torch.float64)


def karras_grid(
    steps: int,
    path: AffinePath,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
) -> Tensor:
    """``(steps + 1,)`` times whose noise levels ``sigma/alpha`` follow
    ``(s_max^(1/rho) + i/(K-1) (s_min^(1/rho) - s_max^(1/rho)))^rho``, then ``t = 0``.

    ``sigma_max`` is capped at the path's own maximum ``sigma(1)/alpha(1)``.
    """
    _check(steps)
    top = float(path.ve_sigma(torch.ones(1, dtype=torch.float64)))
    hi = min(sigma_max, top)
    i = torch.arange(steps, dtype=torch.float64) / max(steps - 1, 1)
    sig = (hi ** (1 / rho) + i * (sigma_min ** (1 / rho) - hi ** (1 / rho))) ** rho
    t = path.t_from_ve_sigma(sig).clamp(0, 1)
    if hi == top:
        t[0] = 1.0  # exactly the prior end (bisection is only accurate to ~1e-16)
    return torch.cat([t, torch.zeros(1, dtype=torch.float64)])


def shifted_grid(steps: int, shift: float = 3.0) -> Tensor:
    """The uniform grid pushed towards t = 1 by the SD3 shift (``shift = 1``: uniform)."""
    return shift_t(uniform_grid(steps), shift)


def make_grid(
    name: str, steps: int, path: AffinePath, rho: float = 7.0, shift: float = 3.0
) -> Tensor:
    """A grid by name (``GRIDS``) with its parameters."""
    if name == "uniform":
        return uniform_grid(steps)
    if name == "karras":
        return karras_grid(steps, path, rho=rho)
    if name == "shifted":
        return shifted_grid(steps, shift)
    raise ValueError(f"unknown grid {name!r}; choose from {GRIDS}")
