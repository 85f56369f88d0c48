"""The diffusion / flow-matching family: the denoising objective, ODE samplers, recipes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from genlab.data import DATASETS
from genlab.errors import ConfigError
from genlab.models import build_model, preset
from genlab.objectives.denoise import DenoiseConfig, denoising_loss
from genlab.paths import build_path
from genlab.recipes.experiment import Experiment, TrainConfig
from genlab.recipes.tasks import Recipe, Task
from genlab.rng import randn_per_seed
from genlab.sampling import SAMPLERS, uniform_grid
from genlab.sampling.guidance import cfg as guided


@dataclass
class DiffusionSamplerConfig:
    name: str = "euler"
    steps: int = 50
    cfg: float = 0.0  # guidance weight w: (1 + w) f(y) - w f(null); diffusers scale = 1 + w

    def __post_init__(self):
        if self.name not in SAMPLERS:
            raise ConfigError(
                f"sampler.name: unknown sampler {self.name!r}; choose from "
                f"{', '.join(sorted(SAMPLERS))}"
            )
        if self.steps < 1:
            raise ConfigError(f"sampler.steps: must be at least 1, got {self.steps}")


def null_cond(exp: Experiment) -> dict:
    """The null class (index ``num_classes``) for condition dropout and guidance."""
    k = getattr(exp.model, "num_classes", 0)
    return {"class": torch.tensor(k, dtype=torch.int64)} if k else {}


def loss(exp: Experiment):
    o = exp.objective
    return partial(
        denoising_loss,
        path=build_path(o.path),
        target=o.target,
        t_density=o.t_density,
        cond_drop=o.cond_drop,
        null_cond=null_cond(exp),
    )


def velocity_field(model: nn.Module, exp: Experiment):
    """The network as a velocity callable ``v(x, t, cond)`` whatever it predicts."""
    o = exp.objective
    if o.target == "velocity":
        return model
    path = build_path(o.path)

    def v(x: Tensor, t: Tensor, cond: dict) -> Tensor:
        pred = model(x, t, cond)
        td = t.double()
        a, s, da, ds = (f(td) for f in (path.alpha, path.sigma, path.d_alpha, path.d_sigma))
        a, s, da, ds = (c.to(x).view(-1, *([1] * (x.ndim - 1))) for c in (a, s, da, ds))
        if o.target == "eps":  # x0 = (x - s eps) / a
            return da * (x - s * pred) / a + ds * pred
        return da * pred + ds * (x - a * pred) / s  # x0 prediction: eps = (x - a x0) / s

    return v


@torch.no_grad()
def sample(
    model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg: DiffusionSamplerConfig
) -> Tensor:
    device = next(model.parameters()).device
    x = randn_per_seed(seeds, exp.model.input_shape(), device)
    f = velocity_field(model, exp)
    if scfg.cfg and cond:
        f = guided(f, scfg.cfg, null_cond(exp))
    return SAMPLERS[scfg.name](f, x, uniform_grid(scfg.steps), cond=cond)


TASKS = {
    "denoise": Task(
        "diffusion",
        DenoiseConfig,
        DiffusionSamplerConfig,
        build=lambda exp: build_model(exp.model),
        sample=sample,
        loss=loss,
        null_cond=null_cond,
        doc="denoising / flow matching on an affine path",
    ),
}


# ----------------------------------------------------------------------------- recipes


def rf_points(name: str = "grid25", classes: bool = False) -> Experiment:
    data = DATASETS[name].config()
    k = DATASETS[name].build(data).num_classes if classes else 0
    return Experiment(
        recipe=f"rf-{name}",
        data=data,
        model=preset("mlp", num_classes=k),
        objective=DenoiseConfig(cond_drop=0.1 if k else 0.0),
        sampler=DiffusionSamplerConfig(steps=100),
        train=TrainConfig(
            steps=4000,
            batch_size=512,
            lr=1e-3,
            warmup_steps=100,
            ema_halflife=20_000,
            log_every=100,
            sample_every=1000,
            num_samples=2000,
            ckpt_every=1000,
        ),
    )


def rf_digits() -> Experiment:
    """Class-conditional rectified flow U-Net on the 8x8 scikit-learn digits."""
    return Experiment(
        recipe="rf-digits",
        data=DATASETS["digits"].config(),
        model=preset("unet-tiny", image_size=8, num_classes=10, channels=32),
        objective=DenoiseConfig(cond_drop=0.1),
        sampler=DiffusionSamplerConfig(steps=50, cfg=1.0),
        train=TrainConfig(
            steps=1500,
            batch_size=128,
            lr=2e-3,
            warmup_steps=100,
            ema_halflife=20_000,
            log_every=50,
            sample_every=500,
            num_samples=100,
            ckpt_every=500,
        ),
    )


def demo() -> Experiment:
    """The `make demo` run: class-conditional rectified flow on digits, ~2 CPU-minutes."""
    exp = rf_digits()
    exp.recipe = "demo"
    return exp


RECIPES = {
    "demo": Recipe(demo, "the `make demo` run: class-conditional rectified flow on digits"),
    "rf-digits": Recipe(rf_digits, "class-conditional rectified flow, U-Net, 8x8 digits"),
    "rf-grid25": Recipe(partial(rf_points, "grid25"), "rectified flow, MLP, 25-Gaussian grid"),
    "rf-moons": Recipe(
        partial(rf_points, "moons", classes=True),
        "class-conditional rectified flow, MLP, two moons",
    ),
}
