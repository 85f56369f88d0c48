"""Samplers as pure functions over a model callable, built from exported step functions.

Every sampler has the signature::

    sampler(model, x, grid, *, path=LinearPath(), kind="velocity", cond=None,
            generators=None, callback=None, <its own options>) -> x at grid[-1]

- ``model(x, t, cond)`` returns a prediction of ``kind`` (``eps, x0, v, velocity, score``);
  ``t`` is a ``(B,)`` float32 tensor. Samplers convert through ``path``
  (:mod:`genlab.paths.convert`), so one network serves every sampler.
- ``x``: ``(B, *S)`` samples at ``grid[0]``; ``grid``: ``(K + 1,)`` float64 times decreasing
  to 0 (:mod:`genlab.sampling.grids`).
- ``generators``: one ``torch.Generator`` per sample, used by stochastic samplers, so
  sample ``i`` depends only on ``generators[i]`` (and its initial noise).
- ``callback(i, x, x0)`` after step ``i`` with the current state and the ``x0`` estimate.

This module holds the deterministic ODE samplers (probability flow, ``dx/dt = u``):
Euler, Heun (EDM Algorithm 2, with optional churn), explicit midpoint, and
DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2). Stochastic ones are in ``sde.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from genlab.paths import AffinePath, LinearPath, to_x0_eps

Model = Callable[[Tensor, Tensor, dict], Tensor]
Callback = Callable[[int, Tensor, Tensor], None]


def denoise(model: Model, path: AffinePath, kind: str, x: Tensor, t: float, cond: dict):
    """``(x0, eps)`` estimates at scalar time ``t`` from any prediction kind."""
    tt = torch.full((len(x),), t, device=x.device, dtype=torch.float64)
    pred = model(x, tt.float(), cond)
    return to_x0_eps(path, kind, pred.to(x.dtype), x, tt)


def velocity(path: AffinePath, x0: Tensor, eps: Tensor, t: float) -> Tensor:
    """``u = d_alpha x0 + d_sigma eps`` at scalar ``t``."""
    tt = torch.full((len(x0),), t, dtype=torch.float64)
    _, _, da, ds = path.coeffs(tt, x0)
    return da * x0 + ds * eps


def noise_like(x: Tensor, generators: list[torch.Generator] | None) -> Tensor:
    """Standard normal noise shaped like ``x``; row ``i`` drawn from ``generators[i]``."""
    if generators is None or len(generators) != len(x):
        raise ValueError("stochastic samplers need one generator per sample (generators=...)")
    rows = [torch.randn(x.shape[1:], generator=g, dtype=x.dtype) for g in generators]
    return torch.stack(rows).to(x.device)


def euler_step(x: Tensor, v: Tensor, t: float, t_next: float) -> Tensor:
    """One explicit Euler step ``x + (t_next - t) v``."""
    return x + (t_next - t) * v


def heun_step(model, path, kind, x, t, t_next, cond):
    """EDM Algorithm 2, lines 7-11: Euler predictor, trapezoidal corrector unless
    ``t_next = 0``. Returns ``(x_next, x0 at t)``."""
    x0, eps = denoise(model, path, kind, x, t, cond)
    u = velocity(path, x0, eps, t)
    x_next = euler_step(x, u, t, t_next)
    if t_next > 0:
        x0n, epsn = denoise(model, path, kind, x_next, t_next, cond)
        x_next = x + (t_next - t) * 0.5 * (u + velocity(path, x0n, epsn, t_next))
    return x_next, x0


def midpoint_step(model, path, kind, x, t, t_next, cond):
    """Explicit midpoint (RK2): ``x + h u(x + h/2 u(x, t), t + h/2)``."""
    x0, eps = denoise(model, path, kind, x, t, cond)
    tm = 0.5 * (t + t_next)
    xm = euler_step(x, velocity(path, x0, eps, t), t, tm)
    x0m, epsm = denoise(model, path, kind, xm, tm, cond)
    return euler_step(x, velocity(path, x0m, epsm, tm), t, t_next), x0


def churn_step(path, x, t, gamma, noise, s_noise=1.0):
    """EDM Algorithm 2, lines 4-6, on any path: raise the VE-equivalent noise level
    ``sigma/alpha`` by ``(1 + gamma)``; returns ``(x_hat, t_hat)``."""
    td = torch.tensor([t], dtype=torch.float64)
    sig = float(path.ve_sigma(td))
    top = float(path.ve_sigma(torch.ones(1, dtype=torch.float64)))
    sig_hat = min(sig * (1 + gamma), top)
    t_hat = float(path.t_from_ve_sigma(torch.tensor([sig_hat], dtype=torch.float64)))
    y = x / float(path.alpha(td))
    y_hat = y + math.sqrt(max(sig_hat**2 - sig**2, 0.0)) * s_noise * noise
    return y_hat * float(path.alpha(torch.tensor([t_hat], dtype=torch.float64))), t_hat


def dpmpp_2m_step(path, x, x0, x0_prev, t, t_next, h_prev):
    """DPM-Solver++(2M) update (Lu et al. 2022, Alg. 2) with ``lambda = log(alpha/sigma)``:
    ``x' = (s'/s) x - a' expm1(-h) D``, ``D = (1 + 1/2r) x0 - (1/2r) x0_prev``,
    ``r = h_prev / h``; first order at the first and last step. Returns ``(x', h)``."""
    lam, lam_next = (
        float(path.logsnr(torch.tensor([u], dtype=torch.float64))) / 2 for u in (t, t_next)
    )
    h = lam_next - lam
    a_next = float(path.alpha(torch.tensor([t_next], dtype=torch.float64)))
    s, s_next = (float(path.sigma(torch.tensor([u], dtype=torch.float64))) for u in (t, t_next))
    d = x0
    if x0_prev is not None and t_next > 0 and math.isfinite(h_prev):
        r = h_prev / h
        d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
    return (s_next / s) * x - a_next * math.expm1(-h) * d, h


# ------------------------------------------------------------------------------- samplers


@torch.no_grad()
def euler(model, x, grid, *, path=None, kind="velocity", cond=None, generators=None, callback=None):
    """Euler on the probability-flow ODE ``dx/dt = u``: 1 evaluation per step, order 1."""
    path, cond = path or LinearPath(), cond or {}
    for i in range(len(grid) - 1):
        t, t_next = float(grid[i]), float(grid[i + 1])
        x0, eps = denoise(model, path, kind, x, t, cond)
        x = euler_step(x, velocity(path, x0, eps, t), t, t_next)
        if callback is not None:
            callback(i, x, x0)
    return x


@torch.no_grad()
def heun(
    model,
    x,
    grid,
    *,
    path=None,
    kind="velocity",
    cond=None,
    generators=None,
    callback=None,
    churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
):
    """Heun's 2nd-order method (EDM Algorithm 2): ``2K - 1`` evaluations for ``K`` steps.

    ``churn > 0`` adds noise before each step with ``gamma = min(churn/K, sqrt(2) - 1)``
    while the noise level ``sigma/alpha`` is in ``[s_tmin, s_tmax]`` (needs ``generators``).
    """
    path, cond = path or LinearPath(), cond or {}
    k = len(grid) - 1
    for i in range(k):
        t, t_next = float(grid[i]), float(grid[i + 1])
        sig = float(path.ve_sigma(torch.tensor([t], dtype=torch.float64)))
        active = churn > 0 and s_tmin <= sig <= s_tmax and math.isfinite(sig)
        gamma = min(churn / k, math.sqrt(2) - 1) if active else 0.0
        if gamma > 0:
            x, t = churn_step(path, x, t, gamma, noise_like(x, generators), s_noise)
        x, x0 = heun_step(model, path, kind, x, t, t_next, cond)
        if callback is not None:
            callback(i, x, x0)
    return x


@torch.no_grad()
def midpoint(
    model, x, grid, *, path=None, kind="velocity", cond=None, generators=None, callback=None
):
    """Explicit midpoint method: 2 evaluations per step, order 2."""
    path, cond = path or LinearPath(), cond or {}
    for i in range(len(grid) - 1):
        t, t_next = float(grid[i]), float(grid[i + 1])
        x, x0 = midpoint_step(model, path, kind, x, t, t_next, cond)
        if callback is not None:
            callback(i, x, x0)
    return x


@torch.no_grad()
def dpmpp_2m(
    model, x, grid, *, path=None, kind="velocity", cond=None, generators=None, callback=None
):
    """DPM-Solver++(2M): multistep 2nd order in the data prediction, 1 evaluation per step."""
    path, cond = path or LinearPath(), cond or {}
    x0_prev, h_prev = None, float("inf")
    for i in range(len(grid) - 1):
        t, t_next = float(grid[i]), float(grid[i + 1])
        x0, _ = denoise(model, path, kind, x, t, cond)
        x, h_prev = dpmpp_2m_step(path, x, x0, x0_prev, t, t_next, h_prev)
        x0_prev = x0
        if callback is not None:
            callback(i, x, x0)
    return x


__all__ = [
    "churn_step",
    "denoise",
    "dpmpp_2m",
    "dpmpp_2m_step",
    "euler",
    "euler_step",
    "heun",
    "heun_step",
    "midpoint",
    "midpoint_step",
    "noise_like",
    "velocity",
]
