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

This module holds the deterministic ODE samplers (probability flow): Euler, Heun (EDM
Algorithm 2, with optional churn), explicit midpoint, and DPM-Solver++(2M) (Lu et al.
2022, Algorithm 2). Stochastic ones are in ``sde.py``.

**Stepping variable.** Euler, Heun and midpoint integrate the probability-flow ODE in
EDM's variables on every path (Karras et al. 2022, Sec. 3, ``sigma(t) = t, s(t) = 1``):
the state ``y = x / alpha`` against the VE noise level ``sigma_hat = sigma / alpha``
(:meth:`~genlab.paths.AffinePath.ve_sigma`), where the ODE is ``dy/dsigma_hat = eps``.
Along an exact trajectory of one-point data ``eps`` is constant, so ``y`` is linear in
``sigma_hat`` and every one of these methods is exact there, whatever the path, the grid
or the number of steps; stepping in ``t`` instead loses this wherever ``alpha, sigma`` are
not affine in ``t`` (errors of ~1e4 for Heun at 2 Karras steps on the vp, ddpm and
cosine paths). A consequence: given the same ``sigma_hat`` grid, the samples do not
depend on the path (only the network's denoiser matters). Euler in these variables is
deterministic DDIM; on the linear path it is also Euler in ``t``, so rectified-flow Euler
is unchanged. On the linear path ``alpha(1) = 0`` (``sigma_hat = inf``): a step from
there can only be the Euler (DDIM) limit, so Heun and midpoint take it first order, as
EDM's last step to ``sigma = 0`` is (global order stays 2). DPM-Solver++(2M) is exact for
one-point data as it is (exponential integrator in ``lambda = log(alpha / sigma)``).
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


def ve_coords(path: AffinePath, t: float) -> tuple[float, float, float]:
    """``(alpha, sigma, sigma / alpha)`` at scalar ``t`` in float64; the VE noise level
    ``sigma / alpha`` is ``inf`` where ``alpha = 0`` (the linear path at ``t = 1``)."""
    tt = torch.tensor([t], dtype=torch.float64)
    a, s = float(path.alpha(tt)), float(path.sigma(tt))
    return a, s, (s / a if a > 0 else math.inf)


def euler_step(path: AffinePath, x0: Tensor, eps: Tensor, t_next: float) -> Tensor:
    """One Euler step of ``dy/dsigma_hat = eps`` in the VE variables ``y = x / alpha``,
    ``sigma_hat = sigma / alpha`` (Karras et al. 2022, Sec. 3), back in ``x``:
    ``alpha' (x / alpha + (sigma_hat' - sigma_hat) eps) = alpha' x0 + sigma' eps``
    (because ``x = alpha x0 + sigma eps``). This is deterministic DDIM (Song et al. 2021,
    Eq. 12 with eta = 0), finite also from ``alpha = 0``; on the linear path it equals
    Euler in ``t``, ``x + (t' - t)(eps - x0)``."""
    a_next, s_next, _ = ve_coords(path, t_next)
    return a_next * x0 + s_next * eps


def heun_step(model, path, kind, x, t, t_next, cond):
    """EDM Algorithm 2, lines 7-11, in ``y = x / alpha`` against ``sigma_hat = sigma / alpha``
    on any path: Euler predictor (:func:`euler_step`), trapezoidal corrector
    ``y' = y + (sigma_hat' - sigma_hat)(eps + eps') / 2`` unless ``t_next = 0`` (EDM's last
    step) or ``alpha(t) = 0`` (``sigma_hat = inf``: only the Euler limit is finite).
    Exact when ``eps`` is constant along the trajectory (one-point data). Returns
    ``(x_next, x0 at t)``."""
    x0, eps = denoise(model, path, kind, x, t, cond)
    x_next = euler_step(path, x0, eps, t_next)
    a, _, sig = ve_coords(path, t)
    a_next, s_next, sig_next = ve_coords(path, t_next)
    if s_next > 0 and a > 0:
        _, eps_next = denoise(model, path, kind, x_next, t_next, cond)
        x_next = x_next + 0.5 * a_next * (sig_next - sig) * (eps_next - eps)
    return x_next, x0


def midpoint_step(model, path, kind, x, t, t_next, cond):
    """Explicit midpoint (RK2) in ``y = x / alpha`` against ``sigma_hat = sigma / alpha``:
    ``y' = y + (sigma_hat' - sigma_hat) eps(y_m, sigma_hat_m)`` with ``sigma_hat_m`` the mean
    of ``sigma_hat, sigma_hat'`` and ``y_m`` the Euler step there (its ``t`` from
    ``path.t_from_ve_sigma``). From ``alpha(t) = 0`` (``sigma_hat = inf``) it is the Euler
    step. Exact for one-point data. Returns ``(x_next, x0 at t)``."""
    x0, eps = denoise(model, path, kind, x, t, cond)
    x_next = euler_step(path, x0, eps, t_next)
    a, _, sig = ve_coords(path, t)
    if a > 0:
        a_next, _, sig_next = ve_coords(path, t_next)
        sig_m = torch.tensor([0.5 * (sig + sig_next)], dtype=torch.float64)
        tm = float(path.t_from_ve_sigma(sig_m))
        _, epsm = denoise(model, path, kind, euler_step(path, x0, eps, tm), tm, cond)
        x_next = x_next + a_next * (sig_next - sig) * (epsm - eps)
    return x_next, x0


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
    ``r = h_prev / h``, ``h = lambda' - lambda``. Returns ``(x', h)``.

    First order (``D = x0``) at the first step (``x0_prev`` is None), after a step of
    infinite ``h_prev`` (one from ``alpha = 0``: ``r = inf``, the limit of the formula) and
    on a step to ``t_next = 0``, where ``lambda' = inf`` makes ``r = 0`` and the update is
    ``x0`` itself. Every other step is second order, *including the last one of a grid that
    ends above 0*, as in Lu et al.'s Algorithm 2 (whose grids end at ``t = eps > 0``)."""
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
    """Euler in ``y = x / alpha`` against ``sigma_hat = sigma / alpha`` (:func:`euler_step`;
    the same update as deterministic DDIM): 1 evaluation per step, order 1."""
    path, cond = path or LinearPath(), cond or {}
    for i in range(len(grid) - 1):
        t, t_next = float(grid[i]), float(grid[i + 1])
        x0, eps = denoise(model, path, kind, x, t, cond)
        x = euler_step(path, x0, eps, t_next)
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
    """Heun's 2nd-order method (EDM Algorithm 2) in ``y = x / alpha`` against
    ``sigma_hat = sigma / alpha`` (:func:`heun_step`): ``2K - 1`` evaluations for ``K`` steps
    (``2K - 2`` when the grid starts at ``alpha = 0``, whose first step is Euler).

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
    """Explicit midpoint method in ``y = x / alpha`` against ``sigma_hat = sigma / alpha``
    (:func:`midpoint_step`): 2 evaluations per step (1 from ``alpha = 0``), order 2."""
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
    """DPM-Solver++(2M): multistep 2nd order in the data prediction, 1 evaluation per step.

    First order at the first step and at a final step to ``t = 0`` (which returns the
    ``x0`` estimate); on a grid ending above 0 the last step is second order (see
    :func:`dpmpp_2m_step`)."""
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
    "ve_coords",
    "velocity",
]
