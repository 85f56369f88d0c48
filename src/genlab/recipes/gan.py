"""GAN recipes: MLP GANs on the 2-D protocols (ring8, grid25; PacGAN, WGAN-GP,
mixture latents), DCGAN and StyleGAN on digits, MNIST, Stacked MNIST and shapes. Plain
values only: the family (``genlab.families.gan``) trains and samples them."""

from __future__ import annotations

import copy
from functools import partial

from genlab.data import DATASETS
from genlab.data.configs import MNIST_ROOT, TRAIN_STOP
from genlab.experiment import Experiment, TrainConfig
from genlab.models import preset
from genlab.models.configs import GanMLPConfig
from genlab.objectives.configs import GanConfig
from genlab.recipes.base import Recipe
from genlab.sampling.configs import GanSamplerConfig


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
    model = GanMLPConfig()
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


_MNIST = dict(root=MNIST_ROOT, split="test", start=0, stop=TRAIN_STOP)

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
