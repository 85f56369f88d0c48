"""The diffusion / flow-matching family: the denoising objective on an affine path.

The network predicts the kind named by ``objective.target`` on the path
``objective.path`` (both stored in ``config.yaml``); samplers convert through the path,
so any sampler works with any trained run: ``genlab sample RUN --sampler dpmpp_2m
--steps 10 --cfg 2 --class 7``. ``--cfg`` is the guidance weight ``w`` of
``(1 + w) f(y) - w f(null)``; diffusers' ``guidance_scale`` is ``1 + w``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families.base import (
    Family,
    class_cond_keys,
    class_null_cond,
    class_preview,
    fit_one_objective,
    no_dependencies,
)
from genlab.models import build_model
from genlab.objectives.denoise import DenoiseConfig, denoising_loss
from genlab.paths import EDMPrecond, build_path
from genlab.paths.convert import convert
from genlab.rng import keyed
from genlab.sampling import GRIDS, SAMPLERS, make_grid
from genlab.sampling.guidance import cfg as guided


@dataclass
class DiffusionSamplerConfig:
    """How ``genlab sample`` and the training previews draw samples.

    ``cfg`` is the guidance weight w: ``(1 + w) f(y) - w f(null)`` (diffusers' scale is
    ``1 + w``), applied for ``guidance_lo <= t <= guidance_hi``. ``eta`` is DDIM's
    stochasticity; ``churn`` is EDM's ``S_churn`` for ``heun``.
    """

    name: str = "euler"
    steps: int = 50
    cfg: float = 0.0
    grid: str = "uniform"  # uniform | karras | shifted
    rho: float = 7.0  # karras grid
    shift: float = 3.0  # shifted grid
    eta: float = 0.0  # ddim
    churn: float = 0.0  # heun
    guidance_lo: float = 0.0
    guidance_hi: float = 1.0

    def __post_init__(self):
        if self.name not in SAMPLERS:
            raise ConfigError(
                f"sampler.name: unknown sampler {self.name!r}; choose from "
                f"{', '.join(sorted(SAMPLERS))}"
            )
        if self.steps < 1:
            raise ConfigError(f"sampler.steps: must be at least 1, got {self.steps}")
        if self.grid not in GRIDS:
            raise ConfigError(f"sampler.grid: unknown grid {self.grid!r}; choose from {GRIDS}")
        if not 0 <= self.eta <= 1:
            raise ConfigError(f"sampler.eta: must be in [0, 1], got {self.eta}")
        if self.churn < 0:
            raise ConfigError(f"sampler.churn: must be >= 0, got {self.churn}")
        if not (math.isfinite(self.cfg) and self.cfg >= 0):
            raise ConfigError(f"sampler.cfg: the guidance weight must be >= 0, got {self.cfg}")
        for k in ("rho", "shift"):
            if not getattr(self, k) > 0:
                raise ConfigError(f"sampler.{k}: must be positive, got {getattr(self, k)}")
        if not 0 <= self.guidance_lo <= self.guidance_hi <= 1:
            raise ConfigError(
                "sampler.guidance_lo/guidance_hi: need 0 <= lo <= hi <= 1, got "
                f"{self.guidance_lo}, {self.guidance_hi}"
            )


null_cond = class_null_cond


cond_keys = class_cond_keys


def build(exp: Experiment) -> nn.Module:
    """The network, wrapped in EDM preconditioning when ``objective.precond=edm``."""
    net = build_model(exp.model)
    o = exp.objective
    if o.precond == "edm":
        return EDMPrecond(net, build_path(o.path), o.sigma_data)
    return net


def loss(exp: Experiment):
    """The per-sample denoising loss of ``exp.objective`` (``objectives/denoise.py``)."""
    o = exp.objective
    return partial(
        denoising_loss,
        path=build_path(o.path),
        target=o.target,
        t_density=o.t_density,
        t_loc=o.t_loc,
        t_scale=o.t_scale,
        t_shift=o.t_shift,
        t_steps=o.t_steps,
        weighting=o.weighting,
        sigma_data=o.sigma_data,
        min_snr_gamma=o.min_snr_gamma,
        cond_drop=o.cond_drop,
        null_cond=null_cond(exp),
    )


def sampler_options(scfg: DiffusionSamplerConfig) -> dict:
    """The sampler-specific keywords of ``scfg.name``."""
    if scfg.name == "ddim":
        return {"eta": scfg.eta}
    if scfg.name == "heun":
        return {"churn": scfg.churn}
    return {}


def velocity_field(model: nn.Module, exp: Experiment):
    """The network as a velocity callable ``v(x, t, cond) = dx_t/dt`` whatever kind it
    predicts (``objective.target``), for ODE likelihoods and custom integrators."""
    kind = exp.objective.target
    if kind == "velocity":
        return model
    path = build_path(exp.objective.path)

    def v(x: Tensor, t: Tensor, cond: dict) -> Tensor:
        return convert(path, model(x, t, cond), kind, "velocity", x, t)

    return v


@torch.no_grad()
def sample(
    model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg: DiffusionSamplerConfig
) -> Tensor:
    """``(n, *shape)`` samples; sample ``i`` uses only the generator ``keyed(seeds[i])``
    (its initial noise first, then any per-step noise)."""
    device = next(model.parameters()).device
    path = build_path(exp.objective.path)
    grid = make_grid(scfg.grid, scfg.steps, path, rho=scfg.rho, shift=scfg.shift)
    gens = [keyed(s) for s in seeds]
    x = torch.stack([torch.randn(exp.model.input_shape(), generator=g) for g in gens])
    x = x.to(device) * float(path.sigma(grid[:1]))  # the prior at grid[0]
    f = model
    if scfg.cfg and cond:
        f = guided(model, scfg.cfg, null_cond(exp), (scfg.guidance_lo, scfg.guidance_hi))
    return SAMPLERS[scfg.name](
        f,
        x,
        grid,
        path=path,
        kind=exp.objective.target,
        cond=cond,
        generators=gens,
        **sampler_options(scfg),
    )


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train the denoiser in the one-objective loop."""
    return fit_one_objective(
        exp,
        run_dir,
        resume,
        build=build,
        loss=loss(exp),
        cond_keys=cond_keys(exp),
        preview=lambda exp, data: class_preview(sample, exp),
    )


FAMILY = Family(
    name="diffusion",
    objectives={"denoise": DenoiseConfig},
    samplers={"denoise": DiffusionSamplerConfig},
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=null_cond,
    dependencies=no_dependencies,
    doc="denoising / flow matching on an affine path (rf, ddpm, edm, ...)",
)
