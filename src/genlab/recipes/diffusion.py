"""The diffusion / flow-matching family: the denoising task and its recipes.

The network predicts the kind named by ``objective.target`` on the path
``objective.path`` (both stored in ``config.yaml``); samplers convert through the path,
so any sampler works with any trained run: ``genlab sample RUN --sampler dpmpp_2m
--steps 10 --cfg 2 --class 7``. ``--cfg`` is the guidance weight ``w`` of
``(1 + w) f(y) - w f(null)``; diffusers' ``guidance_scale`` is ``1 + w``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from genlab.data import DATASETS
from genlab.errors import ConfigError
from genlab.models import build_model, preset
from genlab.objectives.denoise import DenoiseConfig, denoising_loss
from genlab.paths import EDMPrecond, build_path
from genlab.paths.convert import convert
from genlab.recipes.experiment import Experiment, TrainConfig
from genlab.recipes.tasks import Recipe, Task
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


def null_cond(exp: Experiment) -> dict:
    """The null class (index ``num_classes``) for condition dropout and guidance."""
    k = getattr(exp.model, "num_classes", 0)
    return {"class": torch.tensor(k, dtype=torch.int64)} if k else {}


def build(exp: Experiment) -> nn.Module:
    """The network, wrapped in EDM preconditioning when ``objective.precond=edm``."""
    net = build_model(exp.model)
    o = exp.objective
    if o.precond == "edm":
        return EDMPrecond(net, build_path(o.path), o.sigma_data)
    return net


def loss(exp: Experiment):
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


TASKS = {
    "denoise": Task(
        "diffusion",
        DenoiseConfig,
        DiffusionSamplerConfig,
        build=build,
        sample=sample,
        loss=loss,
        null_cond=null_cond,
        doc="denoising / flow matching on an affine path (rf, ddpm, edm, ...)",
    ),
}


# ----------------------------------------------------------------------------- recipes

# The objective and default sampler of each family.
FAMILIES = {
    "rf": (DenoiseConfig(), DiffusionSamplerConfig(steps=50)),
    "ddpm": (
        DenoiseConfig(path="ddpm", target="eps", t_steps=1000),
        DiffusionSamplerConfig(name="ddpm", steps=100),
    ),
    "edm": (
        DenoiseConfig(
            path="edm",
            target="x0",
            precond="edm",
            weighting="edm",
            t_density="lognormal",
            t_loc=-1.2,
            t_scale=1.2,
        ),
        DiffusionSamplerConfig(name="heun", steps=18, grid="karras"),
    ),
}


def _family(name: str, cond_drop: float, **sampler) -> tuple[DenoiseConfig, DiffusionSamplerConfig]:
    import dataclasses

    o, s = FAMILIES[name]
    return dataclasses.replace(o, cond_drop=cond_drop), dataclasses.replace(s, **sampler)


def points(family: str = "rf", name: str = "grid25", classes: bool = False) -> Experiment:
    """An MLP on 2-D points (unconditional unless ``classes``).

    grid25 (25 modes of std 0.05, 2 apart) is tuned to train in under 2 CPU-minutes on
    one thread: random Fourier input features resolve the narrow modes (without them
    the same budget put about 30% of samples within 3 std of a mode).
    """
    data = DATASETS[name].config()
    k = DATASETS[name].build(data).num_classes if classes else 0
    objective, sampler = _family(family, 0.1 if k else 0.0)
    sampler.steps = {"rf": 100, "ddpm": 250, "edm": 32}[family]
    if family == "edm":  # the 25 Gaussians spread with std ~2.8: scale EDM to the data
        objective.sigma_data, objective.t_loc = 2.8, 0.5
    model = preset("mlp", num_classes=k)
    train = TrainConfig(
        steps=4000,
        batch_size=512,
        lr=1e-3,
        warmup_steps=100,
        ema_halflife=20_000,
        log_every=100,
        sample_every=1000,
        num_samples=2000,
        ckpt_every=1000,
    )
    if name == "grid25":
        model.fourier, model.fourier_scale = 128, 1.0
        train.steps, train.batch_size, train.lr = 4100, 256, 2e-3
        # a long EMA and a low final LR average out SGD noise: the modes are narrow
        train.ema_halflife, train.min_lr_ratio = 100_000, 0.02
        if family == "rf":
            objective.t_density, objective.t_loc = "logit_normal", -1.0  # more weight at low t
            sampler.name, sampler.steps = "heun", 50
    return Experiment(
        recipe=f"{family}-{name}",
        data=data,
        model=model,
        objective=objective,
        sampler=sampler,
        train=train,
    )


def _image_train(steps: int, batch: int, lr: float, every: int) -> TrainConfig:
    return TrainConfig(
        steps=steps,
        batch_size=batch,
        lr=lr,
        warmup_steps=100,
        ema_halflife=20_000,
        log_every=50,
        sample_every=every,
        num_samples=100,
        ckpt_every=every,
    )


def digits(family: str = "rf", arch: str = "unet") -> Experiment:
    """Class-conditional model on the 8x8 scikit-learn digits (U-Net or DiT), with CFG."""
    objective, sampler = _family(family, 0.1, cfg=1.0)
    if arch == "dit":
        model = preset("dit-digits", num_classes=10)
        train = _image_train(3000, 128, 1e-3, 1000)
    else:
        model = preset("unet-tiny", image_size=8, num_classes=10, channels=32)
        train = _image_train(1500, 128, 2e-3, 500)
    name = f"{family}-digits" if arch == "unet" else f"{arch}-digits"
    return Experiment(
        recipe=name,
        data=DATASETS["digits"].config(),
        model=model,
        objective=objective,
        sampler=sampler,
        train=train,
    )


def mnist(family: str = "rf", arch: str = "unet") -> Experiment:
    """Class-conditional MNIST: trains on test images [0, 8000) of ../shared/data/mnist
    (the project's convention; [8000, 10000) is held out), with CFG via cond_drop."""
    data = DATASETS["mnist"].config()
    data.root, data.split, data.start, data.stop = "../shared/data/mnist", "test", 0, 8000
    objective, sampler = _family(family, 0.1, cfg=1.0)
    if arch == "dit":
        model = preset("dit-mnist", num_classes=10)
    else:
        model = preset("unet-small", image_size=28, num_classes=10)
    name = f"{family}-mnist" if arch == "unet" else f"{arch}-mnist"
    return Experiment(
        recipe=name,
        data=data,
        model=model,
        objective=objective,
        sampler=sampler,
        train=_image_train(20_000, 128, 5e-4, 2000),
    )


def demo() -> Experiment:
    """The `make demo` run: class-conditional rectified flow on digits, under 3 minutes on
    2 idle cores (1,200 steps of 128 at about 1,000 samples/s, then 100 samples)."""
    exp = digits("rf")
    exp.recipe = "demo"
    exp.train.steps, exp.train.sample_every, exp.train.ckpt_every = 1200, 400, 400
    return exp


RECIPES = {
    "demo": Recipe(demo, "the `make demo` run: class-conditional rectified flow on digits"),
    "rf-digits": Recipe(
        partial(digits, "rf"), "class-conditional rectified flow, U-Net, 8x8 digits"
    ),
    "ddpm-digits": Recipe(partial(digits, "ddpm"), "class-conditional DDPM (eps), U-Net, digits"),
    "edm-digits": Recipe(partial(digits, "edm"), "class-conditional EDM, U-Net, digits"),
    "dit-digits": Recipe(
        partial(digits, "rf", "dit"), "class-conditional rectified flow, DiT, digits"
    ),
    "rf-grid25": Recipe(partial(points, "rf", "grid25"), "rectified flow, MLP, 25-Gaussian grid"),
    "ddpm-grid25": Recipe(partial(points, "ddpm", "grid25"), "DDPM (eps), MLP, 25-Gaussian grid"),
    "edm-grid25": Recipe(partial(points, "edm", "grid25"), "EDM, MLP, 25-Gaussian grid"),
    "rf-moons": Recipe(
        partial(points, "rf", "moons", classes=True),
        "class-conditional rectified flow, MLP, two moons",
    ),
    "rf-mnist": Recipe(partial(mnist, "rf"), "class-conditional rectified flow, U-Net, MNIST"),
    "ddpm-mnist": Recipe(partial(mnist, "ddpm"), "class-conditional DDPM (eps), U-Net, MNIST"),
    "edm-mnist": Recipe(partial(mnist, "edm"), "class-conditional EDM, U-Net, MNIST"),
    "dit-mnist": Recipe(
        partial(mnist, "rf", "dit"), "class-conditional rectified flow, DiT, MNIST"
    ),
}
