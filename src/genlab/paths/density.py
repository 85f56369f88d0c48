"""Training-time densities for ``t`` and the SD3 resolution shift.

- ``uniform``: ``t ~ U(0, 1)``.
- ``logit_normal``: ``t = sigmoid(m + s z)``, ``z ~ N(0, 1)`` (Esser et al. 2024, SD3, Eq. 19).
- ``lognormal``: EDM's ``ln sigma ~ N(P_mean, P_std^2)`` (Karras et al. 2022, Table 1, with
  ``P_mean = -1.2, P_std = 1.2``) on the VE-equivalent noise level ``sigma/alpha`` of the
  path, mapped back to ``t`` through the path's inverse log-SNR.

``shift`` (SD3, Eq. 23) maps ``t -> shift t / (1 + (shift - 1) t)``, moving mass to higher
noise for larger images or longer sequences (``shift = sqrt(m / n)`` for ``m`` pixels
against a base resolution of ``n``). ``steps > 0`` rounds ``t`` up to the grid
``{1/steps, ..., 1}`` (DDPM's discrete timesteps).
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.errors import ConfigError
from genlab.paths.affine import AffinePath

DENSITIES = ("uniform", "logit_normal", "lognormal")


def shift_t(t: Tensor, shift: float) -> Tensor:
    """SD3 timestep shift ``shift t / (1 + (shift - 1) t)``; ``shift = 1`` is the identity."""
    if shift == 1.0:
        return t
    return shift * t / (1 + (shift - 1) * t)


def sample_t(
    n: int,
    density: str,
    generator: torch.Generator,
    *,
    path: AffinePath | None = None,
    loc: float = 0.0,
    scale: float = 1.0,
    shift: float = 1.0,
    steps: int = 0,
) -> Tensor:
    """``(n,)`` float64 training times in (0, 1].

    Args:
        density: one of ``DENSITIES``.
        loc, scale: ``m, s`` of the logit-normal, or ``P_mean, P_std`` of the log-normal.
        path: needed by ``lognormal`` (to map ``sigma`` to ``t``).
    """
    if density == "uniform":
        t = torch.rand(n, generator=generator, dtype=torch.float64)
    elif density == "logit_normal":
        z = torch.randn(n, generator=generator, dtype=torch.float64)
        t = torch.sigmoid(loc + scale * z)
    elif density == "lognormal":
        if path is None:
            raise ConfigError("objective.t_density: 'lognormal' needs the path")
        z = torch.randn(n, generator=generator, dtype=torch.float64)
        t = path.t_from_ve_sigma(torch.exp(loc + scale * z))
    else:
        raise ConfigError(
            f"objective.t_density: unknown density {density!r}; choose from {DENSITIES}"
        )
    t = shift_t(t, shift)
    if steps > 0:
        t = torch.ceil(t * steps).clamp(1, steps) / steps
    return t.clamp(1e-5, 1.0)
