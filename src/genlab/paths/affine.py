"""Affine paths between data (t = 0) and Gaussian noise (t = 1).

``x_t = alpha(t) x + sigma(t) eps`` with ``alpha(0) = 1, sigma(0) = 0``. Coefficients are
computed in float64 and cast to the sample's dtype at the end. The training target for a
prediction kind and the velocity ``dx_t/dt = d_alpha x + d_sigma eps`` follow from the
coefficients alone, so a new path only defines ``alpha``, ``sigma`` and their derivatives.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.errors import ConfigError


def bcast(t: Tensor, x: Tensor) -> Tensor:
    """View a per-sample ``(B,)`` tensor as ``(B, 1, ..., 1)`` to broadcast over ``x``
    of any rank, in ``x``'s dtype and device."""
    return t.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


class AffinePath:
    """Base class: subclasses define ``alpha, sigma, d_alpha, d_sigma`` on float64 ``t``."""

    name = "affine"

    def alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def d_alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def d_sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(self, x: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """``x_t = alpha(t) x + sigma(t) eps``; x, eps ``(B, *S)``, t ``(B,)``."""
        t = t.double()
        return bcast(self.alpha(t), x) * x + bcast(self.sigma(t), x) * eps

    def target(self, kind: str, x: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """The regression target for prediction ``kind``.

        ``x0`` -> x; ``eps`` -> eps; ``velocity`` -> ``d_alpha x + d_sigma eps``
        (for the linear path, ``eps - x`` as in rectified flow).
        """
        t = t.double()
        if kind == "x0":
            return x
        if kind == "eps":
            return eps
        if kind == "velocity":
            return bcast(self.d_alpha(t), x) * x + bcast(self.d_sigma(t), x) * eps
        raise ConfigError(f"objective.target: unknown prediction kind {kind!r}")


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


PATHS: dict[str, type[AffinePath]] = {"linear": LinearPath}


def build_path(name: str) -> AffinePath:
    if name not in PATHS:
        raise ConfigError(f"objective.path: unknown path {name!r}; choose from {', '.join(PATHS)}")
    return PATHS[name]()
