"""2-D toy distributions, parameterised and seeded.

Each returns a :class:`Dataset` of points ``(n, 2)``; where the distribution has discrete
components (the modes of ``ring8`` and ``grid25``, the two moons, ...) the component
index is ``cond["class"]``. ``ring8`` and ``grid25`` default to the exact PacGAN / VEEGAN
protocol: 8 Gaussians on a circle of radius 1 with std 0.01 (angles 2*pi*i/8), and 25
Gaussians on {-4,-2,0,2,4}^2 with std 0.05.
"""

from __future__ import annotations

import math

import torch

from genlab.data.base import Dataset
from genlab.data.configs import (
    CheckerboardConfig,
    CirclesConfig,
    Grid25Config,
    MoonsConfig,
    Ring8Config,
    SpiralConfig,
    SwissRollConfig,
)


def ring_modes(k: int = 8, radius: float = 1.0) -> torch.Tensor:
    """``(k, 2)`` mode centres at angles ``2*pi*i/k`` on a circle."""
    ang = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    return radius * torch.stack([ang.cos(), ang.sin()], 1)


def grid_modes(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """``(side**2, 2)`` mode centres on a centred square grid (row-major)."""
    c = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(c, c)


def _mixture(centres: torch.Tensor, n: int, std: float, seed: int) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(len(centres), (n,), generator=g)
    x = centres[label] + std * torch.randn(n, 2, generator=g, dtype=torch.float64)
    names = tuple(f"mode {i}" for i in range(len(centres)))
    return Dataset(x.float(), {"class": label}, "points", len(centres), names)


def make_ring8(cfg: Ring8Config) -> Dataset:
    return _mixture(ring_modes(cfg.modes, cfg.radius), cfg.n, cfg.std, cfg.seed)


def make_grid25(cfg: Grid25Config) -> Dataset:
    return _mixture(grid_modes(cfg.side, cfg.spacing), cfg.n, cfg.std, cfg.seed)


def make_moons(cfg: MoonsConfig) -> Dataset:
    """Two interleaving half circles (as scikit-learn's ``make_moons``), centred."""
    g = torch.Generator().manual_seed(cfg.seed)
    label = torch.randint(2, (cfg.n,), generator=g)
    a = math.pi * torch.rand(cfg.n, generator=g, dtype=torch.float64)
    upper = torch.stack([a.cos(), a.sin()], 1)
    lower = torch.stack([1 - a.cos(), 0.5 - a.sin()], 1)
    x = torch.where(label[:, None] == 0, upper, lower) - torch.tensor([0.5, 0.25])
    x = x + cfg.std * torch.randn(cfg.n, 2, generator=g, dtype=torch.float64)
    return Dataset(x.float(), {"class": label}, "points", 2, ("upper", "lower"))


def make_circles(cfg: CirclesConfig) -> Dataset:
    """Two concentric circles of radius 1 and ``factor``."""
    g = torch.Generator().manual_seed(cfg.seed)
    label = torch.randint(2, (cfg.n,), generator=g)
    a = 2 * math.pi * torch.rand(cfg.n, generator=g, dtype=torch.float64)
    r = torch.where(label == 0, 1.0, cfg.factor).to(torch.float64)
    x = r[:, None] * torch.stack([a.cos(), a.sin()], 1)
    x = x + cfg.std * torch.randn(cfg.n, 2, generator=g, dtype=torch.float64)
    return Dataset(x.float(), {"class": label}, "points", 2, ("outer", "inner"))


def make_spiral(cfg: SpiralConfig) -> Dataset:
    """``arms`` interleaved Archimedean spirals of radius up to 1; the arm is the class."""
    g = torch.Generator().manual_seed(cfg.seed)
    label = torch.randint(cfg.arms, (cfg.n,), generator=g)
    u = torch.rand(cfg.n, generator=g, dtype=torch.float64).sqrt()  # uniform along the arm
    a = 2 * math.pi * (cfg.turns * u + label / cfg.arms)
    x = u[:, None] * torch.stack([a.cos(), a.sin()], 1)
    x = x + cfg.std * torch.randn(cfg.n, 2, generator=g, dtype=torch.float64)
    return Dataset(
        x.float(), {"class": label}, "points", cfg.arms, tuple(f"arm {i}" for i in range(cfg.arms))
    )


def make_checkerboard(cfg: CheckerboardConfig) -> Dataset:
    """Uniform on the dark squares of a ``squares x squares`` board of side ``size``."""
    k = cfg.squares
    g = torch.Generator().manual_seed(cfg.seed)
    dark = torch.tensor(
        [(i, j) for i in range(k) for j in range(k) if (i + j) % 2 == 0], dtype=torch.float64
    )
    ij = dark[torch.randint(len(dark), (cfg.n,), generator=g)]
    x = (ij + torch.rand(cfg.n, 2, generator=g, dtype=torch.float64)) / k * cfg.size - cfg.size / 2
    return Dataset(x.float(), {}, "points")


def make_swissroll(cfg: SwissRollConfig) -> Dataset:
    """The 2-D swiss roll ``t (cos t, sin t)``, ``t ~ 1.5 pi (1 + 2u)``, scaled into [-1, 1]."""
    g = torch.Generator().manual_seed(cfg.seed)
    t = 1.5 * math.pi * (1 + 2 * torch.rand(cfg.n, generator=g, dtype=torch.float64))
    x = t[:, None] * torch.stack([t.cos(), t.sin()], 1) / (4.5 * math.pi)
    x = x + cfg.std * torch.randn(cfg.n, 2, generator=g, dtype=torch.float64)
    return Dataset(x.float(), {}, "points")
