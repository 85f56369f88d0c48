"""Image-to-image recipes: Pix2Pix on outline -> filled shape (``shapes``) and broken ->
clean digit (MNIST), CycleGAN on circle <-> square (``shapes``). Plain values only: the
family (``genlab.families.translate``) trains and samples them.

Both papers' optimiser: Adam(2e-4, 0.5, 0.999) for G and D. Pix2Pix: U-Net G, L1 weight
100. CycleGAN: ResNet G (2 downsamplings, 6 blocks: the paper's 128x128 layout, at a
quarter of its width), least-squares losses, cycle 10, identity 0.5 x 10, pool of 50.
The papers keep the rate for half the run and decay it linearly to 0; genlab's schedule
decays it by cosine from the first step to 0 at the last (``warmup_steps=0``,
``min_lr_ratio=0``). The PatchGAN has one strided layer (16x16 patches, about half of a
32x32 image, as 70x70 is about a quarter of 256x256 and shapes are at most 10 pixels
wide).
"""

from __future__ import annotations

from genlab.data import DATASETS
from genlab.data.configs import MNIST_ROOT, TRAIN_STOP
from genlab.experiment import Experiment, TrainConfig
from genlab.models.configs import (
    PatchDiscriminatorConfig,
    TranslatorConfig,
    TranslatorGeneratorConfig,
)
from genlab.objectives.configs import CycleGANConfig, Pix2PixConfig
from genlab.recipes.base import Recipe
from genlab.sampling.configs import TranslateSamplerConfig


def _train(steps: int, batch: int = 32) -> TrainConfig:
    return TrainConfig(
        steps=steps,
        batch_size=batch,
        grad_clip=0.0,
        warmup_steps=0,
        min_lr_ratio=0.0,
        ema_halflife=2_000,
        ema_rampup=0.1,
        log_every=100,
        sample_every=500,
        num_samples=24,
        ckpt_every=500,
        threads=1,  # small nets on shared CPUs
    )


def _model(size: int, channels: int, generator: str) -> TranslatorConfig:
    """Pix2Pix: U-Net of width 32, D of width 64. CycleGAN (which runs its generators six
    times a step): ResNet of width 16 (64 at the 8x8 bottleneck), D of width 32."""
    if generator == "resnet":
        g = TranslatorGeneratorConfig(kind="resnet", channels=16, depth=2, blocks=6)
    else:
        g = TranslatorGeneratorConfig(kind="unet", channels=32)
    return TranslatorConfig(
        image_size=size,
        in_channels=channels,
        generator=g,
        discriminator=PatchDiscriminatorConfig(channels=64 if generator == "unet" else 32),
    )


def pix2pix_shapes() -> Experiment:
    """Outline (in the shape's colour) -> filled shape."""
    return Experiment(
        data=DATASETS["shapes"].config(),
        model=_model(32, 3, "unet"),
        objective=Pix2PixConfig(source="edges"),
        sampler=TranslateSamplerConfig(),
        train=_train(2000),
    )


def pix2pix_mnist() -> Experiment:
    """A digit with two 2-pixel bands erased -> the clean digit (MNIST [0, 8000))."""
    data = DATASETS["mnist"].config(root=MNIST_ROOT, split="test", start=0, stop=TRAIN_STOP)
    return Experiment(
        data=data,
        model=_model(28, 1, "unet"),
        objective=Pix2PixConfig(source="break"),
        sampler=TranslateSamplerConfig(),
        train=_train(2000),
    )


def cyclegan_shapes() -> Experiment:
    """Circles (A) <-> squares (B), unpaired; colour, size and position should stay.

    The cycle and identity terms use the squared error, not the paper's L1: a shape
    covers 2-6% of the image, and L1's full-size gradient on the black background drove
    the generators to one output colour each (docs/translation.md, "Variants tried")."""
    data = DATASETS["shapes"].config(shapes=("circle", "square"), label="shape")
    return Experiment(
        data=data,
        model=_model(32, 3, "resnet"),
        objective=CycleGANConfig(domain_a=0, domain_b=1, reconstruction="l2"),
        sampler=TranslateSamplerConfig(),
        train=_train(2000, batch=16),
    )


RECIPES = {
    "pix2pix-shapes": Recipe(pix2pix_shapes, "Pix2Pix, outline -> filled shape, shapes"),
    "pix2pix-mnist": Recipe(pix2pix_mnist, "Pix2Pix, broken strokes -> clean digit, MNIST"),
    "cyclegan-shapes": Recipe(cyclegan_shapes, "CycleGAN, circle <-> square (unpaired), shapes"),
}
