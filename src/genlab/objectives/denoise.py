"""The denoising / flow-matching loss: any affine path, any prediction kind.

For data ``x``, noise ``eps ~ N(0, I)`` and ``t`` from a training density,
``L = w(t) || f_theta(x_t, t, y) - target(x, eps, t) ||^2`` averaged over the sample's
elements. With the linear path and the ``velocity`` target this is rectified flow
(Liu et al. 2022): ``x_t = (1 - t) x + t eps``, target ``eps - x``.
Condition dropout (probability ``cond_drop``) replaces the class with the null class so
one network learns both terms of classifier-free guidance (Ho & Salimans 2022).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from genlab.errors import ConfigError
from genlab.paths import AffinePath


@dataclass
class DenoiseConfig:
    kind: Literal["denoise"] = "denoise"
    path: str = "linear"
    target: Literal["velocity", "eps", "x0"] = "velocity"
    t_density: Literal["uniform"] = "uniform"
    cond_drop: float = 0.1

    def __post_init__(self):
        if not 0 <= self.cond_drop <= 1:
            raise ConfigError(f"objective.cond_drop: must be in [0, 1], got {self.cond_drop}")


def sample_t(n: int, density: str, generator: torch.Generator) -> Tensor:
    """``(n,)`` float64 training times in (0, 1) from ``density``."""
    if density == "uniform":
        return torch.rand(n, generator=generator, dtype=torch.float64)
    raise ConfigError(f"objective.t_density: unknown density {density!r}")


def drop_cond(cond: dict, p: float, null: dict, generator: torch.Generator) -> dict:
    """Replace each sample's condition by the declared null value with probability ``p``."""
    if p <= 0 or not cond:
        return cond
    out = dict(cond)
    for k, v in cond.items():
        keep = torch.rand(len(v), generator=generator) >= p
        out[k] = torch.where(keep.view(-1, *([1] * (v.ndim - 1))).to(v.device), v, null[k].to(v))
    return out


def denoising_loss(
    model: nn.Module,
    batch: dict,
    generator: torch.Generator,
    *,
    path: AffinePath,
    target: str = "velocity",
    t_density: str = "uniform",
    cond_drop: float = 0.0,
    null_cond: dict | None = None,
) -> tuple[Tensor, dict]:
    """Per-sample denoising loss ``(B,)`` and logs.

    Args:
        model: ``f(x_t, t, cond) -> prediction`` of kind ``target``.
        batch: ``{"x": (B, *S), "cond": {...}}``.
        generator: the source of all randomness here (t, noise, dropout), on CPU.
        null_cond: per-key null values for condition dropout, e.g. ``{"class": tensor(10)}``.
    """
    x = batch["x"]
    t = sample_t(len(x), t_density, generator)
    eps = torch.randn(x.shape, generator=generator).to(x)
    cond = batch.get("cond", {})
    if cond_drop > 0 and null_cond:
        cond = drop_cond(cond, cond_drop, null_cond, generator)
    x_t = path.sample(x, eps, t)
    pred = model(x_t, t.to(x.device, torch.float32), cond)
    loss = (pred.float() - path.target(target, x, eps, t).float()).pow(2).flatten(1).mean(1)
    return loss, {}
