"""EDM preconditioning (Karras et al. 2022, Table 1, "Ours") as a wrapper around any network.

On the VE-equivalent variable ``y = x_t / alpha`` with noise level ``sigma = sigma_t/alpha_t``:

    D(y; sigma) = c_skip y + c_out F(c_in y; c_noise)
    c_skip = sd^2 / (sigma^2 + sd^2),   c_out = sigma sd / sqrt(sigma^2 + sd^2),
    c_in   = 1 / sqrt(sigma^2 + sd^2),  c_noise = ln(sigma) / 4

(``sd = sigma_data``). The wrapper predicts ``x0``; its loss weight
``lambda(sigma) = 1 / c_out^2`` (``weighting="edm"``) makes ``F``'s effective target unit
variance. ``forward(x_t, t, cond)`` keeps the network interface, so it drops in anywhere;
the inner network receives ``c_noise`` in place of ``t``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.paths.affine import AffinePath, bcast


def edm_coeffs(sigma: Tensor, sigma_data: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``c_skip, c_out, c_in, c_noise`` for float64 noise levels ``sigma (B,)``."""
    sd2, s2 = sigma_data**2, sigma**2
    c_skip = sd2 / (s2 + sd2)
    c_out = sigma * sigma_data / (s2 + sd2).sqrt()
    c_in = 1 / (s2 + sd2).sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


def edm_weight(sigma: Tensor, sigma_data: float) -> Tensor:
    """EDM loss weight ``(sigma^2 + sd^2) / (sigma sd)^2 = 1 / c_out^2``."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


class EDMPrecond(nn.Module):
    """``x0``-predicting wrapper ``D(x_t, t, cond)`` around ``net(x, c_noise, cond)``."""

    def __init__(self, net: nn.Module, path: AffinePath, sigma_data: float = 0.5):
        super().__init__()
        self.net, self.path, self.sigma_data = net, path, sigma_data

    def forward(self, x: Tensor, t: Tensor, cond: dict | None = None) -> Tensor:
        td = t.double()
        alpha, sigma = self.path.alpha(td), self.path.ve_sigma(td)  # (B,)
        c_skip, c_out, c_in, c_noise = edm_coeffs(sigma, self.sigma_data)
        y = x / bcast(alpha, x)  # VE variable: x0 + sigma eps
        f = self.net(bcast(c_in, x) * y, c_noise.to(torch.float32), cond)
        return bcast(c_skip, x) * y + bcast(c_out, x) * f.to(x.dtype)
