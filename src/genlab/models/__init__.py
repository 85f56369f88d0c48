"""Networks by name. ``MODELS`` maps an architecture tag (``model.arch``) to its spec;
``PRESETS`` maps a preset name to a ready config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from genlab.errors import ConfigError
from genlab.models import classifier, dcgan, dit, gan_mlp, gpt, mlp, stylegan, unet, vae, var, vq


@dataclass(frozen=True)
class ModelSpec:
    config: type
    build: Callable[[Any], nn.Module]
    doc: str


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(mlp.MLPConfig, mlp.MLP, "residual MLP for (B, D) points"),
    "unet": ModelSpec(
        unet.UNetConfig, unet.UNet, "U-Net with residual blocks and attention, 1/2/3-D"
    ),
    "dit": ModelSpec(dit.DiTConfig, dit.DiT, "diffusion transformer, adaLN-Zero, 1/2/3-D patches"),
    "vae": ModelSpec(vae.VAEConfig, vae.VAE, "VAE: MLP or conv encoder, Gaussian posterior"),
    "vqvae": ModelSpec(vq.VQConfig, vq.VQVAE, "VQ-VAE: EMA codebook, residual / multi-scale VQ"),
    "gpt": ModelSpec(gpt.GPTConfig, gpt.GPT, "causal transformer over tokens, RoPE, KV cache"),
    "var": ModelSpec(var.VARConfig, var.VAR, "VAR next-scale transformer, block-causal mask"),
    "classifier": ModelSpec(
        classifier.ClassifierConfig,
        classifier.Classifier,
        "CNN/MLP image classifier with one or more heads (metric feature network)",
    ),
    "gan-mlp": ModelSpec(
        gan_mlp.GanMLPConfig, gan_mlp.MLPGenerator, "MLP GAN (generator + discriminator), points"
    ),
    "dcgan": ModelSpec(
        dcgan.DCGANConfig, dcgan.DCGANGenerator, "DCGAN generator + discriminator (projection)"
    ),
    "stylegan": ModelSpec(
        stylegan.StyleGANConfig,
        stylegan.StyleGenerator,
        "StyleGAN generator (mapping, AdaIN / modconv, noise) + DCGAN discriminator",
    ),
}

PRESETS: dict[str, Any] = {
    **mlp.PRESETS,
    **unet.PRESETS,
    **dit.PRESETS,
    **classifier.PRESETS,
    **vae.PRESETS,
    **vq.PRESETS,
    **gpt.PRESETS,
    **var.PRESETS,
    **gan_mlp.PRESETS,
    **dcgan.PRESETS,
    **stylegan.PRESETS,
}


def model_config(arch: str) -> type:
    if arch not in MODELS:
        raise ConfigError(
            f"model.arch: unknown architecture {arch!r}; choose from {', '.join(sorted(MODELS))}"
        )
    return MODELS[arch].config


def preset(name: str, **changes) -> Any:
    """A copy of preset ``name`` with fields changed: ``preset("unet-small", num_classes=10)``."""
    if name not in PRESETS:
        raise ConfigError(
            f"unknown model preset {name!r}; choose from {', '.join(sorted(PRESETS))}"
        )
    return dataclasses.replace(PRESETS[name], **changes)


def build_model(cfg: Any) -> nn.Module:
    return MODELS[cfg.arch].build(cfg)
