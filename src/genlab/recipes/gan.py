"""The GAN family: the ``gan`` objective section, the task (build / sample / fit) and
recipes.

A GAN run's ``model`` section holds both networks (``model.generator.*`` and
``model.discriminator.*``: see ``models/gan_mlp.py``, ``dcgan.py``, ``stylegan.py``);
``build(exp)`` returns the generator (what ``genlab sample`` needs) and
:func:`build_discriminator` the discriminator. The ``objective`` section
(:class:`GanConfig`) holds the game: loss, regularizers, ``n_critic``, the two learning
rates (TTUR), packing. ``train.lr`` is not used by GANs: ``d_lr`` and ``g_lr`` are the
peaks of ``train``'s warm-up + cosine schedule (``train.min_lr_ratio=1``: constant, as in
most papers).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
from torch import Tensor, nn

from genlab.data import DATASETS
from genlab.errors import ConfigError
from genlab.models import gan_mlp, preset
from genlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from genlab.models.gan_mlp import MLPDiscriminator, MLPGenerator
from genlab.models.stylegan import StyleDiscriminator, StyleGenerator, draw_noise
from genlab.objectives.gan import spectral_norm_
from genlab.recipes.experiment import Experiment, TrainConfig
from genlab.recipes.tasks import Recipe, Task
from genlab.rng import keyed, randn_per_seed

_NOISE_KEY = 0x4015E

# model.arch -> (generator class, discriminator builder(cfg, pack))
NETWORKS = {
    "gan-mlp": (MLPGenerator, MLPDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "stylegan": (StyleGenerator, StyleDiscriminator),
}


@dataclass
class GanConfig:
    """The two-player game. ``d_lr`` / ``g_lr`` differ for TTUR (Heusel et al. 2017)."""

    kind: Literal["gan"] = "gan"
    loss: Literal["minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan"] = "ns"
    n_critic: int = 1  # D steps per G step
    d_lr: float = 2e-4
    g_lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam, as in DCGAN
    gp_weight: float = 0.0  # lambda of the gradient penalty (10 for WGAN-GP)
    r1_gamma: float = 0.0  # R1 weight gamma (loss += gamma / 2 * R1)
    r1_every: int = 16  # lazy R1: every k D steps, scaled by k
    clip: float = 0.01  # WGAN weight clipping (loss "wgan" only)
    spectral_norm: bool = False  # spectral normalisation of D's layers
    pack: int = 1  # PacGAN: D sees `pack` samples at once
    # instance noise (Sønderby et al. 2016): N(0, sigma^2) added to every D input, real
    # and fake; sigma decays linearly from `instance_noise` to 0 over the first
    # `instance_noise_steps` steps (0: the whole run)
    instance_noise: float = 0.0
    instance_noise_steps: int = 0

    def __post_init__(self):
        for k in ("n_critic", "r1_every", "pack"):
            if getattr(self, k) < 1:
                raise ConfigError(f"objective.{k}: must be at least 1, got {getattr(self, k)}")
        for k in ("d_lr", "g_lr"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"objective.{k}: must be positive, got {getattr(self, k)}")
        for k in ("gp_weight", "r1_gamma", "clip", "instance_noise", "instance_noise_steps"):
            if getattr(self, k) < 0:
                raise ConfigError(f"objective.{k}: must be >= 0, got {getattr(self, k)}")
        if self.loss == "wgan-gp" and self.gp_weight == 0:
            raise ConfigError("objective.gp_weight: loss 'wgan-gp' needs a positive weight")


@dataclass
class GanSamplerConfig:
    truncation: float = 1.0  # StyleGAN truncation psi: w_avg + psi (w - w_avg)

    def __post_init__(self):
        if not 0 <= self.truncation <= 1:
            raise ConfigError(f"sampler.truncation: must be in [0, 1], got {self.truncation}")


def _networks(exp: Experiment):
    if exp.model.arch not in NETWORKS:
        raise ConfigError(
            f"model.arch: {exp.model.arch!r} is not a GAN; choose from {', '.join(NETWORKS)}"
        )
    return NETWORKS[exp.model.arch]


def build(exp: Experiment) -> nn.Module:
    """The generator ``G(z, cond)``."""
    return _networks(exp)[0](exp.model)


def build_discriminator(exp: Experiment) -> nn.Module:
    """The discriminator ``D(x, cond) -> (B,)``, packed and spectrally normalised as the
    objective says."""
    o = exp.objective
    if o.pack > 1 and getattr(exp.model, "num_classes", 0):
        raise ConfigError("objective.pack: packing is for unconditional GANs (num_classes=0)")
    d = _networks(exp)[1](exp.model, o.pack)
    return spectral_norm_(d) if o.spectral_norm else d


def generate(
    g: nn.Module, z: Tensor, cond: dict, generator: torch.Generator, mix_prob: float = 0.0
) -> Tensor:
    """One generator forward for training: StyleGAN draws its noise inputs and, with
    probability ``mix_prob``, a second latent and a crossover layer from ``generator``."""
    if not isinstance(g, StyleGenerator):
        return g(z, cond)
    noise = draw_noise(g, len(z), generator, z.device)
    if float(torch.rand((), generator=generator)) < mix_prob:
        z2 = torch.randn(z.shape, generator=generator).to(z)
        k = int(torch.randint(1, g.num_layers, (), generator=generator))
        return g(z, cond, noise, z2=z2, crossover=k)
    return g(z, cond, noise)


@torch.no_grad()
def sample(
    model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg: GanSamplerConfig
) -> Tensor:
    """``G(z_i)`` with ``z_i`` (and StyleGAN's noise) drawn from seed ``i`` only."""
    device = next(model.parameters()).device
    z = randn_per_seed(seeds, (exp.model.z_dim,), device)
    if isinstance(model, StyleGenerator):
        gens = [keyed(s, _NOISE_KEY) for s in seeds]
        noise = [
            torch.stack([torch.randn(shape, generator=g) for g in gens]).to(device)
            for shape in model.noise_shapes()
        ]
        return model(z, cond, noise, truncation=scfg.truncation)
    if scfg.truncation != 1.0:
        raise ConfigError("sampler.truncation: only StyleGAN generators support truncation")
    return model(z, cond)


def fit(exp: Experiment, run_dir, resume: bool = False):
    from genlab.train.gan_loop import fit_gan

    return fit_gan(exp, run_dir, resume)


TASKS = {
    "gan": Task(
        "gan",
        GanConfig,
        GanSamplerConfig,
        build=build,
        sample=sample,
        fit=fit,
        doc="two-player GAN game (minimax, NS, WGAN(-GP), hinge, LSGAN)",
    ),
}


# ----------------------------------------------------------------------------- recipes


def _train(**kw) -> TrainConfig:
    base = dict(
        batch_size=64,
        grad_clip=0.0,
        warmup_steps=0,
        min_lr_ratio=1.0,  # constant learning rates unless a recipe decays them
        ema_halflife=5_000,
        ema_rampup=0.1,
        log_every=100,
        sample_every=1000,
        num_samples=100,
        ckpt_every=1000,
        threads=1,  # small nets on shared CPUs: one thread is much faster
    )
    base.update(kw)
    return TrainConfig(**base)


def points(
    name: str,
    loss: str = "ns",
    pack: int = 1,
    gp: float = 0.0,
    steps: int = 4000,
    n_critic: int = 1,
    mixture: int = 0,
    mbstd: bool = False,
    batch: int = 256,
) -> Experiment:
    """MLP GAN on a 2-D mixture, evaluated in the VEEGAN / PacGAN protocol.

    WGAN-GP: the paper's constant Adam(1e-4, 0.5, 0.9), 5 critic steps per G step, 400 G
    steps. Every other loss: the discriminator is the bottleneck (a ReLU MLP D is slow to
    resolve modes of std 0.01-0.05), so D learns 4x faster than G (TTUR, ``d_lr=2e-3``,
    ``g_lr=5e-4``) and both rates decay by cosine to 1% of their peak
    (``train.min_lr_ratio=0.01``). The points sharpen while the rates are high and the
    decay settles them, so the high-quality share keeps rising with the length of the
    schedule (grid25, PacGAN4: 19% after 4,000 steps, 93% after 30,000).

    ``mixture=K`` gives G a K-component Gaussian-mixture latent (``gan_mlp``) and
    ``mbstd`` appends the minibatch-std feature to D's last hidden layer. ``batch`` is
    the real (and fake) batch per step; a larger one lowers the gradient noise that keeps
    the late points spread around their modes.
    """
    wgan = loss.startswith("wgan")
    lrs = (1e-4, 1e-4) if wgan else (2e-3, 5e-4)
    model = gan_mlp.GanMLPConfig()
    model.generator.mixture, model.discriminator.minibatch_std = mixture, mbstd
    return Experiment(
        data=DATASETS[name].config(),
        model=model,
        objective=GanConfig(
            loss=loss,
            pack=pack,
            gp_weight=gp,
            n_critic=5 if wgan else n_critic,
            d_lr=lrs[0],
            g_lr=lrs[1],
            betas=(0.5, 0.9) if wgan else (0.5, 0.999),
        ),
        sampler=GanSamplerConfig(),
        train=_train(
            steps=400 if wgan else steps,
            batch_size=batch,
            min_lr_ratio=1.0 if wgan else 0.01,
            log_every=100,
            num_samples=2500,
            sample_every=0,
            ckpt_every=500,
        ),
    )


def images(
    data: str,
    arch: str = "dcgan",
    classes: bool = False,
    pack: int = 1,
    steps: int = 3000,
    mbstd: bool = False,
    **data_kw,
) -> Experiment:
    """DCGAN / StyleGAN on an image dataset: non-saturating loss, Adam(2e-4, 0.5, 0.999),
    batch 64, constant rates; ``mbstd`` appends the minibatch-std feature to D (Karras et
    al. 2018), which lets D see a batch's diversity."""
    dspec = DATASETS[data]
    dcfg = dspec.config(**data_kw)
    shape = {
        "digits": (1, 8),
        "mnist": (1, 28),
        "stacked-mnist": (3, 28),
        "shapes": (3, dcfg.image_size if hasattr(dcfg, "image_size") else 32),
    }[data]
    k = 10 if classes else 0
    if arch == "dcgan":
        model = copy.deepcopy(preset("dcgan-8" if shape[1] == 8 else "dcgan-28"))
    else:
        model = copy.deepcopy(preset("stylegan-32"))
    model.image_size = shape[1]
    model.in_channels, model.num_classes = shape[0], k
    if mbstd:  # (StyleGAN's D has it by default)
        model.discriminator.minibatch_std = True
    return Experiment(
        data=dcfg,
        model=model,
        objective=GanConfig(loss="ns", pack=pack, r1_gamma=0.1 if arch == "stylegan" else 0.0),
        sampler=GanSamplerConfig(),
        train=_train(steps=steps),
    )


_MNIST = dict(root="../shared/data/mnist", split="test", start=0, stop=8000)

RECIPES = {
    "gan-ring8": Recipe(
        partial(points, "ring8", steps=30_000),
        "non-saturating MLP GAN (TTUR, decaying lr), 8 Gaussians on a ring",
    ),
    "gan-grid25": Recipe(
        partial(points, "grid25", n_critic=2),
        "pacgan-grid25's game without packing, 25-Gaussian grid (collapses)",
    ),
    "wgan-gp-grid25": Recipe(
        partial(points, "grid25", "wgan-gp", gp=10.0), "WGAN-GP MLP, 25-Gaussian grid"
    ),
    "pacgan-grid25": Recipe(
        partial(points, "grid25", pack=4, steps=30_000, n_critic=2),
        "PacGAN4 (packed D, 2 D steps, TTUR, decaying lr) MLP, 25-Gaussian grid",
    ),
    "pacgan-mix-grid25": Recipe(
        partial(
            points,
            "grid25",
            pack=4,
            steps=30_000,
            n_critic=2,
            mixture=100,
            mbstd=True,
            batch=512,
        ),
        "pacgan-grid25 + minibatch-std D + 100-component mixture latent, batch 512 "
        "(our best grid25 GAN)",
    ),
    "dcgan-digits": Recipe(partial(images, "digits"), "DCGAN on 8x8 digits"),
    "cdcgan-digits": Recipe(
        partial(images, "digits", classes=True),
        "class-conditional DCGAN (label-embedded G, projection D), 8x8 digits",
    ),
    "dcgan-mnist": Recipe(partial(images, "mnist", **_MNIST), "DCGAN on MNIST [0, 8000)"),
    "cdcgan-mnist": Recipe(
        partial(images, "mnist", classes=True, **_MNIST),
        "class-conditional DCGAN (projection D) on MNIST [0, 8000)",
    ),
    "stylegan-shapes": Recipe(
        partial(images, "shapes", "stylegan"), "StyleGAN generator on 32x32 shapes"
    ),
    "stylegan-mnist": Recipe(
        partial(images, "mnist", "stylegan", **_MNIST), "StyleGAN generator on MNIST [0, 8000)"
    ),
    "dcgan-stacked-mnist": Recipe(
        partial(images, "stacked-mnist"), "DCGAN on Stacked MNIST (1,000 modes)"
    ),
    "dcgan-mbstd-stacked-mnist": Recipe(
        partial(images, "stacked-mnist", mbstd=True, steps=12_000),
        "DCGAN with a minibatch-std discriminator on Stacked MNIST (1,000 modes, 12,000 steps)",
    ),
    "pacdcgan-stacked-mnist": Recipe(
        partial(images, "stacked-mnist", pack=2), "PacDCGAN2 on Stacked MNIST (1,000 modes)"
    ),
}


# ------------------------------------------------------------------------ latent walks


@torch.no_grad()
def latent_walks(run_dir, out_dir, seeds=(0, 1), steps: int = 8, weights: str = "ema") -> list:
    """Write latent interpolations of a trained GAN run (unconditional or class 0):
    ``linear.png`` / ``linear.gif``, ``spherical.png`` / ``spherical.gif`` from the latent
    of ``seeds[0]`` (t = 0) to ``seeds[1]`` (t = 1) and, for StyleGAN, ``mixing.png``
    (rows: seeds 10-13, columns: seeds 20-24, coarse styles from the column). Returns
    the paths written."""
    from pathlib import Path

    from genlab.runs import load_model
    from genlab.sampling.latent import interpolate, style_mixing_grid

    exp, g = load_model(Path(run_dir), weights)
    out = Path(out_dir)
    device = next(g.parameters()).device
    z1, z0 = randn_per_seed(list(seeds), (exp.model.z_dim,), device)  # t = 0: seeds[0]

    def decode(z):
        cond = {"class": torch.zeros(len(z), dtype=torch.int64)} if exp.model.num_classes else {}
        return g(z.float(), cond)

    paths = []
    for kind in ("linear", "spherical"):
        strip, gif = out / f"{kind}.png", out / f"{kind}.gif"
        interpolate(decode, z0, z1, steps, kind, strip, gif)
        paths += [strip, gif]
    if isinstance(g, StyleGenerator) and not exp.model.num_classes:
        rows = g.styles(randn_per_seed(list(range(10, 14)), (exp.model.z_dim,), device))
        cols = g.styles(randn_per_seed(list(range(20, 25)), (exp.model.z_dim,), device))
        paths.append(out / "mixing.png")
        style_mixing_grid(g.synthesize, rows, cols, g.num_layers // 2, paths[-1])
    return paths


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="latent walks (PNG strip + GIF) of a GAN run")
    p.add_argument("run")
    p.add_argument("out")
    p.add_argument("--seeds", type=int, nargs=2, default=(0, 1))
    p.add_argument("--steps", type=int, default=8)
    a = p.parse_args()
    for path in latent_walks(a.run, a.out, a.seeds, a.steps):
        print(path)
