"""Affine paths between data (t = 0) and Gaussian noise (t = 1).

``x_t = alpha(t) x + sigma(t) eps`` with ``alpha(0) = 1, sigma(0) = 0``. Coefficients are
computed in float64 and cast to the sample's dtype at the end. The training target for a
prediction kind (:func:`genlab.paths.convert.target`) and the velocity
``dx_t/dt = d_alpha x + d_sigma eps`` follow from the coefficients alone, so a new path
only defines ``alpha``, ``sigma`` and their derivatives.

Device and dtype: ``alpha, sigma, d_alpha, d_sigma`` of ``t (B,)`` return a tensor on
``t``'s device with ``t``'s (floating) dtype; the methods built on them (``coeffs``,
``sample``, ``logsnr``, ``ve_sigma``) first promote ``t`` to float64. A path holding a
table (``ddpm``'s float64 ``log alpha_bar``) looks it up in float64 on ``t``'s device,
keeping one copy per device, so CUDA and the shape-only ``meta`` device work.

Paths (``PATHS``):

- ``linear``: rectified flow / flow matching, ``alpha = 1 - t, sigma = t``.
- ``vp``: the continuous-time DDPM schedule (Song et al. 2021, Eq. 33): linear
  ``beta(t) = N (beta_1 + t (beta_N - beta_1))`` with DDPM's ``beta_1 = 1e-4``,
  ``beta_N = 0.02``, ``N = 1000``; ``alpha = exp(-int_0^t beta / 2)``, ``sigma^2 = 1 - alpha^2``.
- ``ddpm``: the *discrete* DDPM schedule of Ho et al. 2020: ``log alpha_bar`` is the cumulative
  sum of ``log(1 - beta_i)`` at ``t = i/N``, linearly interpolated between steps (so
  ``t = i/1000`` is exactly DDPM step ``i``).
- ``cosine``: Nichol & Dhariwal 2021, ``alpha_bar = cos^2((t+s)/(1+s) pi/2) / cos^2(s/(1+s) pi/2)``
  with ``s = 0.008``, ``t`` scaled by 0.9946 so that ``alpha(1) = 0.0084 > 0`` (their clipping
  of ``beta`` at 0.999 plays the same role).
- ``edm``: EDM / variance exploding (Karras et al. 2022): ``alpha = 1, sigma = sigma_max t``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.errors import ConfigError


def bcast(t: Tensor, x: Tensor) -> Tensor:
    """View a per-sample ``(B,)`` tensor as ``(B, 1, ..., 1)`` to broadcast over ``x``
    of any rank, in ``x``'s dtype and device. Per-frame times ``(B, T)`` of clips ``x``
    ``(B, C, T, H, W)`` (diffusion forcing) become ``(B, 1, T, 1, 1)``.

    Raises:
        ValueError: a 2-D ``t`` whose shape is not ``x``'s ``(B, T)``.
    """
    t = t.to(device=x.device, dtype=x.dtype)
    if t.ndim == 2:  # per frame
        if x.ndim != 5 or tuple(t.shape) != (x.shape[0], x.shape[2]):
            raise ValueError(
                f"per-frame times {tuple(t.shape)} need clips (B, C, T, H, W) with the same "
                f"B and T, got {tuple(x.shape)}"
            )
        return t[:, None, :, None, None]
    return t.reshape(-1, *([1] * (x.ndim - 1)))


class AffinePath:
    """Base class: subclasses define ``alpha, sigma, d_alpha, d_sigma`` on float64 ``t``.

    Derived quantities (log-SNR, its inverse, the VE-equivalent noise level
    ``sigma / alpha``) are defined here once for every path.
    """

    name = "affine"

    def alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def d_alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def d_sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def coeffs(self, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``alpha, sigma, d_alpha, d_sigma`` at ``t (B,)`` broadcast over ``x``."""
        t = t.double()
        fns = (self.alpha, self.sigma, self.d_alpha, self.d_sigma)
        return tuple(bcast(f(t), x) for f in fns)  # type: ignore[return-value]

    def logsnr(self, t: Tensor) -> Tensor:
        """``lambda(t) = log(alpha^2 / sigma^2)`` (float64), decreasing in ``t``."""
        t = t.double()
        return 2 * (self.alpha(t).log() - self.sigma(t).log())

    def t_from_logsnr(self, lam: Tensor) -> Tensor:
        """Inverse of :meth:`logsnr` by bisection in float64 (monotone paths); subclasses
        with a closed form override it. Values outside the path's range clamp to [0, 1]."""
        lam = torch.as_tensor(lam, dtype=torch.float64)
        lo, hi = torch.zeros_like(lam), torch.ones_like(lam)
        for _ in range(80):
            mid = (lo + hi) / 2
            above = self.logsnr(mid) > lam  # logsnr decreases: answer is to the right
            lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
        return (lo + hi) / 2

    def ve_sigma(self, t: Tensor) -> Tensor:
        """The VE-equivalent noise level ``sigma / alpha = exp(-lambda / 2)`` (float64)."""
        t = t.double()
        return self.sigma(t) / self.alpha(t)

    def t_from_ve_sigma(self, s: Tensor) -> Tensor:
        return self.t_from_logsnr(-2 * torch.as_tensor(s, dtype=torch.float64).log())

    def sample(self, x: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """``x_t = alpha(t) x + sigma(t) eps``; x, eps ``(B, *S)``, t ``(B,)``."""
        t = t.double()
        return bcast(self.alpha(t), x) * x + bcast(self.sigma(t), x) * eps


class LinearPath(AffinePath):
    """Rectified flow / flow matching: ``alpha = 1 - t, sigma = t`` (Liu et al. 2022;
    Lipman et al. 2023). The velocity target is ``eps - x``."""

    name = "linear"

    def alpha(self, t):
        return 1 - t

    def sigma(self, t):
        return t

    def d_alpha(self, t):
        return -torch.ones_like(t)

    def d_sigma(self, t):
        return torch.ones_like(t)

    def t_from_logsnr(self, lam):
        # (1 - t) / t = exp(lam / 2)
        return torch.sigmoid(-torch.as_tensor(lam, dtype=torch.float64) / 2)


class VPPath(AffinePath):
    """Variance preserving, continuous DDPM linear-beta schedule (Song et al. 2021).

    ``log alpha(t) = -(b0 t + (b1 - b0) t^2 / 2) / 2`` with ``b0 = N beta_1, b1 = N beta_N``.
    """

    name = "vp"

    def __init__(self, beta_1: float = 1e-4, beta_n: float = 0.02, n: int = 1000):
        self.b0, self.b1 = n * beta_1, n * beta_n

    def _int_beta(self, t):  # int_0^t beta(s) ds
        return self.b0 * t + 0.5 * (self.b1 - self.b0) * t * t

    def _beta(self, t):
        return self.b0 + (self.b1 - self.b0) * t

    def alpha(self, t):
        return torch.exp(-0.5 * self._int_beta(t))

    def sigma(self, t):
        return torch.sqrt(-torch.expm1(-self._int_beta(t)))

    def d_alpha(self, t):
        return -0.5 * self._beta(t) * self.alpha(t)

    def d_sigma(self, t):  # d sqrt(1 - a^2) = -a da / sigma
        return 0.5 * self._beta(t) * torch.exp(-self._int_beta(t)) / self.sigma(t)


class DDPMPath(AffinePath):
    """Discrete DDPM schedule (Ho et al. 2020): ``beta_i = linspace(1e-4, 0.02, 1000)``,
    ``alpha_bar_i = prod_{j<=i} (1 - beta_j)`` at ``t = i/N``; ``log alpha_bar`` is
    linearly interpolated between steps, so the derivatives are piecewise constant."""

    name = "ddpm"

    def __init__(self, beta_1: float = 1e-4, beta_n: float = 0.02, n: int = 1000):
        betas = torch.linspace(beta_1, beta_n, n, dtype=torch.float64)
        self.n = n
        self.log_ab = torch.cat(
            [torch.zeros(1, dtype=torch.float64), torch.log1p(-betas).cumsum(0)]
        )  # (n + 1,) float64 on the CPU; per-device copies in self._tables
        self._tables: dict[torch.device, Tensor] = {}

    def _table(self, device: torch.device) -> Tensor:
        """The ``log alpha_bar`` table on ``device`` (copied once per device)."""
        tab = self._tables.get(device)
        if tab is None:
            tab = self._tables[device] = self.log_ab.to(device)
        return tab

    def _log_ab(self, t):
        """``log alpha_bar(t)`` and its slope ``d/dt`` (piecewise linear in t), float64 on
        ``t``'s device."""
        tab = self._table(t.device)
        u = t.to(torch.float64).clamp(0, 1) * self.n
        i = u.floor().long().clamp(max=self.n - 1)
        lo, hi = tab[i], tab[i + 1]
        return lo + (u - i) * (hi - lo), (hi - lo) * self.n

    def alpha(self, t):
        return torch.exp(0.5 * self._log_ab(t)[0]).to(t.dtype)

    def sigma(self, t):
        return torch.sqrt(-torch.expm1(self._log_ab(t)[0])).to(t.dtype)

    def d_alpha(self, t):
        la, slope = self._log_ab(t)
        return (0.5 * slope * torch.exp(0.5 * la)).to(t.dtype)

    def d_sigma(self, t):
        la, slope = self._log_ab(t)
        return (-0.5 * slope * torch.exp(la) / torch.sqrt(-torch.expm1(la))).to(t.dtype)


class CosinePath(AffinePath):
    """Cosine schedule (Nichol & Dhariwal 2021), offset ``s = 0.008``.

    ``alpha(t) = cos(phi(t)) / cos(phi(0))``, ``phi(t) = (u + s)/(1 + s) pi/2`` with
    ``u = t * u_max``; ``sigma = sqrt(1 - alpha^2)``. ``u_max < 1`` keeps ``alpha(1) > 0``
    (logSNR(1) about -9.6), the role of their ``beta <= 0.999`` clipping.
    """

    name = "cosine"

    def __init__(self, s: float = 0.008, u_max: float = 0.9946):
        self.s, self.u_max = s, u_max
        self.c0 = math.cos(s / (1 + s) * math.pi / 2)

    def _phi(self, t):
        return (t * self.u_max + self.s) / (1 + self.s) * math.pi / 2

    def _dphi(self):
        return self.u_max / (1 + self.s) * math.pi / 2

    def alpha(self, t):
        return torch.cos(self._phi(t)) / self.c0

    def sigma(self, t):
        return torch.sqrt(1 - self.alpha(t) ** 2)

    def d_alpha(self, t):
        return -torch.sin(self._phi(t)) * self._dphi() / self.c0

    def d_sigma(self, t):
        return -self.alpha(t) * self.d_alpha(t) / self.sigma(t)


class EDMPath(AffinePath):
    """EDM / variance exploding (Karras et al. 2022): ``alpha = 1, sigma = sigma_max t``,
    so the EDM noise level is ``sigma_max t`` and Karras grids map to ``t`` linearly."""

    name = "edm"

    def __init__(self, sigma_max: float = 80.0):
        self.sigma_max = sigma_max

    def alpha(self, t):
        return torch.ones_like(t)

    def sigma(self, t):
        return self.sigma_max * t

    def d_alpha(self, t):
        return torch.zeros_like(t)

    def d_sigma(self, t):
        return torch.full_like(t, self.sigma_max)

    def t_from_logsnr(self, lam):
        return (torch.exp(-torch.as_tensor(lam, dtype=torch.float64) / 2) / self.sigma_max).clamp(
            0, 1
        )


PATHS: dict[str, type[AffinePath]] = {
    "linear": LinearPath,
    "vp": VPPath,
    "ddpm": DDPMPath,
    "cosine": CosinePath,
    "edm": EDMPath,
}


def build_path(name: str) -> AffinePath:
    if name not in PATHS:
        raise ConfigError(f"objective.path: unknown path {name!r}; choose from {', '.join(PATHS)}")
    return PATHS[name]()
