"""VAE-family recipes: VAE / beta-VAE / conditional VAE, the KL autoencoders and the VQ
tokenizers, on MNIST, digits and shapes. Plain values only: the family
(``genlab.families.vae``) trains and samples them."""

from __future__ import annotations

from functools import partial

import genlab.config as C
from genlab.data import DATASETS
from genlab.data.configs import MNIST_ROOT, TRAIN_STOP
from genlab.experiment import Experiment, TrainConfig
from genlab.models.configs import VAEConfig, VQConfig
from genlab.objectives.configs import ELBOConfig, KLAEConfig, VQLossConfig
from genlab.recipes.base import Recipe
from genlab.sampling.configs import VAESamplerConfig, VQSamplerConfig

MNIST = {"name": "mnist", "root": MNIST_ROOT, "split": "test", "start": 0, "stop": TRAIN_STOP}


def _train(steps: int, batch: int = 128, lr: float = 1e-3, **kw) -> TrainConfig:
    base = dict(
        steps=steps,
        batch_size=batch,
        lr=lr,
        warmup_steps=100,
        ema_halflife=5_000.0,
        log_every=50,
        sample_every=1000,
        num_samples=64,
        ckpt_every=1000,
    )
    return TrainConfig(**{**base, **kw})


def _data(name: str, **kw):
    if name == "mnist":
        return C.from_dict(DATASETS["mnist"].config, {**MNIST, **kw})
    return DATASETS[name].config(**kw)


def vae(data: str = "mnist", **model) -> Experiment:
    """One-layer-latent VAE (MLP, Bernoulli, dynamic binarisation on MNIST)."""
    if data == "mnist":
        m = VAEConfig(**{"latent_dim": 50, "hidden": 500, "depth": 2, **model})
        obj = ELBOConfig(binarize=True, warmup_samples=100_000)
        return Experiment(
            data=_data("mnist"),
            model=m,
            objective=obj,
            sampler=VAESamplerConfig(),
            train=_train(10_000, 100),
        )
    base = dict(in_channels=3, image_size=32, encoder="conv", latent_dim=32, likelihood="laplace")
    m = VAEConfig(**{**base, **model})
    return Experiment(
        data=_data("shapes"),
        model=m,
        objective=ELBOConfig(warmup_samples=50_000),
        sampler=VAESamplerConfig(),
        train=_train(4000),
    )


def beta_vae_shapes() -> Experiment:
    """beta-VAE (beta = 4, KL warm-up) on shapes: a small latent for traversals."""
    exp = vae("shapes", latent_dim=10)
    exp.objective = ELBOConfig(beta=4.0, warmup_samples=100_000)
    return exp


def cvae(data: str = "digits") -> Experiment:
    """Conditional VAE: the label enters encoder and decoder."""
    if data == "digits":
        m = VAEConfig(
            image_size=8, hidden=256, depth=2, latent_dim=8, num_classes=10, likelihood="gaussian"
        )
        return Experiment(
            data=_data("digits"),
            model=m,
            objective=ELBOConfig(warmup_samples=20_000),
            sampler=VAESamplerConfig(),
            train=_train(3000),
        )
    exp = vae(data, num_classes=10 if data == "mnist" else 5)
    return exp


def klae(data: str = "mnist") -> Experiment:
    """KL autoencoder: spatial 4-channel latent, KL weight 1e-3, and a patch discriminator
    (hinge, weight 50) from step 300. The reconstruction term is Laplace (L1) on MNIST and
    Gaussian (squared error) on ``shapes``: there the background is black on about 96% of
    the pixels, and L1, whose gradient has the same size for every pixel, trains the
    decoder to paint every pixel black (PSNR 19.6 dB, the shapes classifier at chance on
    the reconstructions, with or without the discriminator; benchmarks/shapes_codec.py,
    docs/text_to_image.md)."""
    c, s = (1, 28) if data == "mnist" else (3, 32)
    m = VAEConfig(
        in_channels=c,
        image_size=s,
        encoder="conv",
        spatial=True,
        latent_dim=4,
        channels=16,
        likelihood="laplace" if data == "mnist" else "gaussian",
    )
    return Experiment(
        data=_data(data),
        model=m,
        objective=KLAEConfig(disc_weight=50.0, disc_start=300),
        sampler=VAESamplerConfig(),
        train=_train(1500, 64, 2e-3, sample_every=500, ckpt_every=500),
    )


def vqvae(data: str = "mnist", scales: tuple[int, ...] = ()) -> Experiment:
    """VQ-VAE tokenizer: 256 EMA codes of size 32 on a 7x7 (MNIST) / 8x8 (shapes) grid;
    with ``scales`` the multi-scale residual tokenizer that VAR needs."""
    c, s = (1, 28) if data == "mnist" else (3, 32)
    m = VQConfig(in_channels=c, image_size=s, channels=16, scales=scales)
    return Experiment(
        data=_data(data),
        model=m,
        objective=VQLossConfig(),
        sampler=VQSamplerConfig(),
        train=_train(1500, 64, 2e-3, ema_halflife=500.0, sample_every=500, ckpt_every=500),
    )


RECIPES = {
    "vae-mnist": Recipe(vae, "VAE, MLP, Bernoulli, dynamically binarised MNIST [0,8000)"),
    "vae-shapes": Recipe(partial(vae, "shapes"), "conv VAE, Laplace likelihood, shapes"),
    "beta-vae-shapes": Recipe(beta_vae_shapes, "beta-VAE (beta=4, KL warm-up), shapes"),
    "cvae-digits": Recipe(cvae, "conditional VAE, Gaussian likelihood, 8x8 digits"),
    "cvae-mnist": Recipe(partial(cvae, "mnist"), "conditional VAE, Bernoulli, MNIST"),
    "cvae-shapes": Recipe(partial(cvae, "shapes"), "conditional VAE (shape label), shapes"),
    "klae-mnist": Recipe(
        klae, "KL autoencoder (4x7x7 latent) + patch discriminator, MNIST [0,8000)"
    ),
    "klae-shapes": Recipe(
        partial(klae, "shapes"), "KL autoencoder (4x8x8 latent) + patch discriminator, shapes"
    ),
    "vqvae-mnist": Recipe(vqvae, "VQ-VAE tokenizer, 256 codes, 7x7 tokens, MNIST"),
    "vqvae-shapes": Recipe(partial(vqvae, "shapes"), "VQ-VAE tokenizer, 8x8 tokens, shapes"),
    "msvq-mnist": Recipe(
        partial(vqvae, "mnist", (1, 2, 3, 4, 5, 7)), "multi-scale VQ tokenizer for VAR, MNIST"
    ),
    "msvq-shapes": Recipe(
        partial(vqvae, "shapes", (1, 2, 4, 6, 8)), "multi-scale VQ tokenizer for VAR, shapes"
    ),
}
