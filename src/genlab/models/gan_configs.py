"""The GAN networks' config dataclasses and presets (MLP GAN, DCGAN, StyleGAN, the
image-to-image translators), importable without torch; ``genlab.models.configs``
re-exports them with every other config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from genlab.errors import ConfigError

# ---------------------------------------- gan_mlp (genlab.models.gan_mlp)


@dataclass
class MLPGeneratorConfig:
    z_dim: int = 8
    hidden: int = 256
    depth: int = 3  # hidden layers
    batch_norm: bool = False
    mixture: int = 0  # K > 0: Gaussian-mixture latent with K fixed components
    mixture_std: float = 0.1  # std of each component (means uniform in [-1, 1])


@dataclass
class MLPDiscriminatorConfig:
    hidden: int = 256
    depth: int = 3
    minibatch_std: bool = False  # append the minibatch std feature before the head


@dataclass
class GanMLPConfig:
    arch: Literal["gan-mlp"] = "gan-mlp"
    dim: int = 2
    num_classes: int = 0
    generator: MLPGeneratorConfig = field(default_factory=MLPGeneratorConfig)
    discriminator: MLPDiscriminatorConfig = field(default_factory=MLPDiscriminatorConfig)

    def __post_init__(self):
        for k in (
            "generator.z_dim",
            "generator.hidden",
            "generator.depth",
            "discriminator.hidden",
            "discriminator.depth",
            "dim",
        ):
            obj = self
            for p in k.split("."):
                obj = getattr(obj, p)
            if obj < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {obj}")
        g = self.generator
        if g.mixture < 0 or (g.mixture and g.z_dim < 2):
            raise ConfigError(
                f"model.generator.mixture: needs mixture >= 0 and z_dim >= 2 (z_0 picks the "
                f"component), got mixture={g.mixture}, z_dim={g.z_dim}"
            )
        if g.mixture_std <= 0:
            raise ConfigError(f"model.generator.mixture_std: must be positive, got {g.mixture_std}")

    def input_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    @property
    def z_dim(self) -> int:
        return self.generator.z_dim


GAN_MLP_PRESETS = {"gan-mlp": GanMLPConfig()}


# ---------------------------------------- dcgan (genlab.models.dcgan)


@dataclass
class DCGANGeneratorConfig:
    z_dim: int = 64
    channels: int = 64  # width at full resolution; doubles per 2x down towards s0
    max_channels: int = 256


@dataclass
class DCGANDiscriminatorConfig:
    channels: int = 64  # width after the first strided conv; doubles per stage
    max_channels: int = 256
    norm: Literal["batch", "none"] = "batch"
    minibatch_std: bool = False


@dataclass
class DCGANConfig:
    arch: Literal["dcgan"] = "dcgan"
    image_size: int = 28
    in_channels: int = 1
    num_classes: int = 0
    generator: DCGANGeneratorConfig = field(default_factory=DCGANGeneratorConfig)
    discriminator: DCGANDiscriminatorConfig = field(default_factory=DCGANDiscriminatorConfig)

    def __post_init__(self):
        if self.image_size < 4:
            raise ConfigError(f"model.image_size: must be at least 4, got {self.image_size}")
        for k in ("in_channels",):
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if self.generator.z_dim < 1:
            raise ConfigError(f"model.generator.z_dim: must be >= 1, got {self.generator.z_dim}")

    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.image_size, self.image_size)

    @property
    def z_dim(self) -> int:
        return self.generator.z_dim


DCGAN_PRESETS = {
    "dcgan-8": DCGANConfig(image_size=8, generator=DCGANGeneratorConfig(z_dim=32, channels=64)),
    # CPU-sized: G widths 128 -> 64 -> 32 (about 4x cheaper than the 256-wide original)
    "dcgan-28": DCGANConfig(
        image_size=28, generator=DCGANGeneratorConfig(channels=32, max_channels=128)
    ),
}


# ---------------------------------------- stylegan (genlab.models.stylegan)


@dataclass
class StyleGeneratorConfig:
    z_dim: int = 64
    w_dim: int = 64
    n_mapping: int = 4
    channels: int = 32  # width at full resolution; doubles per 2x down towards s0
    max_channels: int = 128
    modulation: Literal["adain", "modconv"] = "adain"
    mixing_prob: float = 0.9  # training: share of batches generated with two latents
    w_avg_beta: float = 0.995  # running mean of w for truncation


@dataclass
class StyleGANConfig:
    arch: Literal["stylegan"] = "stylegan"
    image_size: int = 32
    in_channels: int = 3
    num_classes: int = 0
    generator: StyleGeneratorConfig = field(default_factory=StyleGeneratorConfig)
    discriminator: DCGANDiscriminatorConfig = field(
        default_factory=lambda: DCGANDiscriminatorConfig(norm="none", minibatch_std=True)
    )

    def __post_init__(self):
        g = self.generator
        for k in ("z_dim", "w_dim", "n_mapping", "channels"):
            if getattr(g, k) < 1:
                raise ConfigError(f"model.generator.{k}: must be >= 1, got {getattr(g, k)}")
        if not 0 <= g.mixing_prob <= 1:
            raise ConfigError(
                f"model.generator.mixing_prob: must be in [0, 1], got {g.mixing_prob}"
            )
        if self.image_size < 4:
            raise ConfigError(f"model.image_size: must be at least 4, got {self.image_size}")

    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.image_size, self.image_size)

    @property
    def z_dim(self) -> int:
        return self.generator.z_dim


STYLEGAN_PRESETS = {"stylegan-32": StyleGANConfig()}


# ---------------------------------------- translator (genlab.models.translate)


@dataclass
class TranslatorGeneratorConfig:
    # "unet": Pix2Pix's encoder-decoder with skips; "resnet": CycleGAN's (Johnson et al.)
    kind: Literal["unet", "resnet"] = "unet"
    channels: int = 32  # width at full resolution; doubles per 2x down up to max_channels
    max_channels: int = 256
    depth: int = 5  # 2x downsamplings; unet: 5 takes 32 to 1 pixel; resnet: set 2 (paper)
    blocks: int = 6  # resnet: residual blocks at the bottleneck
    dropout: float = 0.5  # unet: in the 3 innermost decoder blocks (Pix2Pix's noise)


@dataclass
class PatchDiscriminatorConfig:
    channels: int = 64  # width of the first layer; doubles per layer up to max_channels
    max_channels: int = 256
    # strided 4x4 convolutions: 1 = 16x16 patches (half a 32x32 image); 3 = the paper's
    # 70x70 PatchGAN, for 256x256 images
    layers: int = 1


def receptive_field(layers: int) -> int:
    """The side in pixels of the input patch one PatchGAN logit sees: 16, 34, 70 for
    ``layers`` 1, 2, 3 (from the output back: two 4x4 stride-1 convolutions, then
    ``layers`` 4x4 stride-2 ones, ``r <- stride * (r - 1) + 4``)."""
    r = 1
    for stride in [1, 1] + [2] * layers:
        r = stride * (r - 1) + 4
    return r


def patch_grid(size: int, layers: int) -> int:
    """The side of the PatchGAN's logit map for ``size`` x ``size`` inputs."""
    for _ in range(layers):
        size = (size - 2) // 2 + 1  # 4x4, stride 2, padding 1
    return size - 2  # two 4x4, stride 1, padding 1


@dataclass
class TranslatorConfig:
    """Image-to-image translation networks (Pix2Pix, CycleGAN): source and target share
    ``in_channels`` and ``image_size``."""

    arch: Literal["translator"] = "translator"
    image_size: int = 32
    in_channels: int = 3
    # normalisation in G and D ("--norm" of the papers' code): instance norm removes each
    # channel's mean and scale per image, which on flat-coloured images also removes
    # their colour to the sign of each channel's response; batch norm, layer norm (one
    # mean and scale per image over all channels, GroupNorm(1, C)) and none keep it. (On
    # shapes the norm was not why CycleGAN lost colour: see objective.reconstruction.)
    norm: Literal["instance", "layer", "batch", "none"] = "instance"
    generator: TranslatorGeneratorConfig = field(default_factory=TranslatorGeneratorConfig)
    discriminator: PatchDiscriminatorConfig = field(default_factory=PatchDiscriminatorConfig)

    def __post_init__(self):
        g, d = self.generator, self.discriminator
        for key, value, low in (
            ("image_size", self.image_size, 8),
            ("in_channels", self.in_channels, 1),
            ("generator.channels", g.channels, 1),
            ("generator.max_channels", g.max_channels, 1),
            ("discriminator.max_channels", d.max_channels, 1),
            ("generator.depth", g.depth, 1),
            ("generator.blocks", g.blocks, 0),
            ("discriminator.channels", d.channels, 1),
            ("discriminator.layers", d.layers, 1),
        ):
            if value < low:
                raise ConfigError(f"model.{key}: must be at least {low}, got {value}")
        if not 0 <= g.dropout < 1:
            raise ConfigError(f"model.generator.dropout: must be in [0, 1), got {g.dropout}")
        if patch_grid(self.image_size, d.layers) < 1:
            raise ConfigError(
                f"model.discriminator.layers: {d.layers} strided layers leave no patch of a "
                f"{self.image_size}-pixel image; use fewer"
            )
        if g.kind == "resnet" and (
            self.image_size % 2**g.depth or self.image_size < 2 ** (g.depth + 1)
        ):
            raise ConfigError(
                f"model.generator.depth: the resnet generator halves the size {g.depth} "
                f"times; image_size {self.image_size} must be a multiple of {2**g.depth} "
                f"and leave at least 2x2 pixels (the paper's resnet uses depth 2)"
            )

    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.image_size, self.image_size)
