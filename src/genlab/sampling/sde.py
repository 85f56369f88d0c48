"""Stochastic samplers (same signature as :mod:`genlab.sampling.ode`; need ``generators``).

- ``ddim(eta)``: Song et al. 2021 (DDIM, Eq. 12) on any affine path, written in ``x``:
  ``x' = a' x0 + sqrt(s'^2 - c^2) eps + c z`` with
  ``c = eta s' sqrt(1 - (s' a / (a' s))^2)``. ``eta = 0`` is deterministic DDIM; ``eta = 1``
  draws from the DDPM posterior ``q(x_{t'} | x_t, x0)``, i.e. ancestral sampling.
- ``ddpm``: ancestral sampling (Ho et al. 2020, Algorithm 2) = ``ddim`` with ``eta = 1``.
- ``euler_maruyama``: the reverse SDE ``dx = [u - g^2/2 score] dt + g dW`` (Song et al.
  2021, Eq. 6; any ``g`` keeps the marginals, Karras et al. 2022, Eq. 6) with
  ``g^2 = d sigma^2/dt = 2 sigma d_sigma`` (the forward SDE's ``g`` for VE paths), which stays
  bounded where ``alpha -> 0``. The last step to ``t = 0`` returns the ``x0`` estimate.
- ``consistency``: multistep consistency sampling (Song et al. 2023, "Consistency
  models", Alg. 1): jump to the ``x0`` estimate, re-noise it to the next grid time with
  fresh noise, repeat; one evaluation per step. For consistency models and one-step
  students (``genlab.families.distill``). On a plain diffusion model, whose ``x0``
  estimate is the posterior mean rather than a sample, each re-noising loses variance
  (std 0.34 for 0.5 on a Gaussian at 100 steps, ``tests/sampling/test_samplers.py``).
"""

from __future__ import annotations

import math

import torch

from genlab.paths import LinearPath
from genlab.sampling.ode import denoise, noise_like, velocity


def _coef(path, t: float) -> tuple[float, float, float, float]:
    tt = torch.tensor([t], dtype=torch.float64)
    return tuple(float(f(tt)) for f in (path.alpha, path.sigma, path.d_alpha, path.d_sigma))


def ddim_step(path, x, x0, eps, t, t_next, eta, noise):
    """One DDIM(eta) step from ``(x0, eps)`` estimates at ``t``."""
    a, s, _, _ = _coef(path, t)
    a_next, s_next, _, _ = _coef(path, t_next)
    c = 0.0
    if eta > 0 and s_next > 0:
        ratio = (s_next * a) / (a_next * s)
        c = eta * s_next * math.sqrt(max(1 - ratio**2, 0.0))
    out = a_next * x0 + math.sqrt(max(s_next**2 - c**2, 0.0)) * eps
    return out + c * noise if c > 0 else out


def euler_maruyama_step(path, x, x0, eps, t, t_next, noise):
    """``x' = x - h (u + d_sigma eps) + sqrt(2 sigma d_sigma h) z`` with ``h = t - t'``."""
    if t_next == 0:
        return x0
    _, s, _, ds = _coef(path, t)
    h = t - t_next
    drift = velocity(path, x0, eps, t) + ds * eps  # u - g^2/2 score, score = -eps/sigma
    return x - h * drift + math.sqrt(2 * s * ds * h) * noise


@torch.no_grad()
def ddim(
    model,
    x,
    grid,
    *,
    path=None,
    kind="velocity",
    cond=None,
    generators=None,
    callback=None,
    eta: float = 0.0,
):
    """DDIM with stochasticity ``eta`` in [0, 1] (1 evaluation per step)."""
    path, cond = path or LinearPath(), cond or {}
    for i in range(len(grid) - 1):
        t, t_next = float(grid[i]), float(grid[i + 1])
        x0, eps = denoise(model, path, kind, x, t, cond)
        z = noise_like(x, generators) if eta > 0 and t_next > 0 else None
        x = ddim_step(path, x, x0, eps, t, t_next, eta, z)
        if callback is not None:
            callback(i, x, x0)
    return x


@torch.no_grad()
def ddpm(model, x, grid, *, path=None, kind="velocity", cond=None, generators=None, callback=None):
    """Ancestral sampling: each step draws from ``q(x_{t'} | x_t, x0 = x0_hat)``."""
    return ddim(
        model,
        x,
        grid,
        path=path,
        kind=kind,
        cond=cond,
        generators=generators,
        callback=callback,
        eta=1.0,
    )


@torch.no_grad()
def euler_maruyama(
    model, x, grid, *, path=None, kind="velocity", cond=None, generators=None, callback=None
):
    """Euler-Maruyama on the reverse SDE above (1 evaluation per step, strong order 1/2)."""
    path, cond = path or LinearPath(), cond or {}
    for i in range(len(grid) - 1):
        t, t_next = float(grid[i]), float(grid[i + 1])
        x0, eps = denoise(model, path, kind, x, t, cond)
        z = noise_like(x, generators) if t_next > 0 else None
        x = euler_maruyama_step(path, x, x0, eps, t, t_next, z)
        if callback is not None:
            callback(i, x, x0)
    return x


@torch.no_grad()
def consistency(
    model, x, grid, *, path=None, kind="velocity", cond=None, generators=None, callback=None
):
    """Multistep consistency sampling (Song et al. 2023, Alg. 1): at each grid time
    ``t_i`` the network's ``x0`` estimate, then ``x = alpha(t_{i+1}) x0 + sigma(t_{i+1}) z``
    with ``z ~ N(0, I)`` from ``generators`` (none drawn for a step to ``t = 0``); on a
    grid ending at 0 it returns the last ``x0`` estimate, on one ending above 0 (a single
    interval of RePaint) the state re-noised to the grid's end."""
    path, cond = path or LinearPath(), cond or {}
    for i in range(len(grid) - 1):
        t, t_next = float(grid[i]), float(grid[i + 1])
        x0, _ = denoise(model, path, kind, x, t, cond)
        if t_next > 0:
            a_next, s_next, _, _ = _coef(path, t_next)
            x = a_next * x0 + s_next * noise_like(x, generators)
        else:
            x = x0
        if callback is not None:
            callback(i, x, x0)
    return x
