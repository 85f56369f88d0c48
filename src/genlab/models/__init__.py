"""Networks by name. ``MODELS`` maps an architecture tag (``model.arch``) to its spec;
``PRESETS`` maps a preset name to a ready config.

Importing this package does not import torch: the configs live in
:mod:`genlab.models.configs` and a network's module is imported by :func:`build_model`
the first time it is needed (so ``genlab list`` and ``--dry-run`` start fast).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genlab.errors import ConfigError
from genlab.models import configs as K
from genlab.models.configs import PRESETS

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: the config dataclass, where the network class lives
    (``"module:Class"``, or a function of the config returning the network, imported on
    first use) and a one-line description."""

    config: type
    network: str
    doc: str

    def build(self, cfg: Any) -> nn.Module:
        module, name = self.network.split(":")
        return getattr(importlib.import_module(module), name)(cfg)


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(K.MLPConfig, "genlab.models.mlp:MLP", "residual MLP for (B, D) points"),
    "unet": ModelSpec(
        K.UNetConfig,
        "genlab.models.unet:UNet",
        "U-Net with residual blocks and attention, 1/2/3-D",
    ),
    "controlnet": ModelSpec(
        K.ControlNetConfig,
        "genlab.adapters.controlnet:ControlledUNet",
        "a frozen U-Net steered by a ControlNet (trainable encoder copy, zero convolutions)",
    ),
    "dit": ModelSpec(
        K.DiTConfig, "genlab.models.dit:DiT", "diffusion transformer, adaLN-Zero, 1/2/3-D patches"
    ),
    "vae": ModelSpec(
        K.VAEConfig, "genlab.models.vae:VAE", "VAE: MLP or conv encoder, Gaussian posterior"
    ),
    "vqvae": ModelSpec(
        K.VQConfig, "genlab.models.vq:VQVAE", "VQ-VAE: EMA codebook, residual / multi-scale VQ"
    ),
    "video_vae": ModelSpec(
        K.VideoVAEConfig,
        "genlab.models.video_vae:VideoAutoencoder",
        "video autoencoder: causal 3-D convolutions, KL or VQ latent, 4x time and space",
    ),
    "gpt": ModelSpec(
        K.GPTConfig, "genlab.models.gpt:GPT", "causal transformer over tokens, RoPE, KV cache"
    ),
    "var": ModelSpec(
        K.VARConfig, "genlab.models.var:VAR", "VAR next-scale transformer, block-causal mask"
    ),
    "wavenet": ModelSpec(
        K.WaveNetConfig,
        "genlab.models.wavenet:WaveNet",
        "WaveNet: dilated causal convolutions, gated units, mu-law softmax, cached generation",
    ),
    "hifigan": ModelSpec(
        K.HiFiGANConfig,
        "genlab.models.hifigan:generator",
        "vocoder: mel -> waveform, HiFi-GAN (transposed convs + MRF) or Vocos (ConvNeXt at "
        "the frame rate + iSTFT, model.generator=vocos); MPD + MSD discriminators",
    ),
    "codec": ModelSpec(
        K.CodecConfig,
        "genlab.models.codec:Codec",
        "neural audio codec: waveform or log-mel encoder/decoder, residual VQ, MS-STFT critic",
    ),
    "codec_lm": ModelSpec(
        K.CodecLMConfig,
        "genlab.models.codec_lm:CodecLM",
        "transformer over codec tokens: MusicGen delay pattern or coarse-to-fine (VALL-E)",
    ),
    "classifier": ModelSpec(
        K.ClassifierConfig,
        "genlab.models.classifier:Classifier",
        "classifier of images (CNN/MLP), audio (log-mel CNN) or video (3-D CNN) with one or "
        "more heads (metric feature network)",
    ),
    "clip": ModelSpec(
        K.DualEncoderConfig,
        "genlab.models.clip:DualEncoder",
        "CLIP-style dual encoder: image CNN + word transformer, contrastive (CLIP score)",
    ),
    "gan-mlp": ModelSpec(
        K.GanMLPConfig,
        "genlab.models.gan_mlp:MLPGenerator",
        "MLP GAN (generator + discriminator), points",
    ),
    "dcgan": ModelSpec(
        K.DCGANConfig,
        "genlab.models.dcgan:DCGANGenerator",
        "DCGAN generator + discriminator (projection)",
    ),
    "stylegan": ModelSpec(
        K.StyleGANConfig,
        "genlab.models.stylegan:StyleGenerator",
        "StyleGAN generator (mapping, AdaIN / modconv, noise) + DCGAN discriminator",
    ),
    "translator": ModelSpec(
        K.TranslatorConfig,
        "genlab.models.translate:build_generator",
        "image-to-image generator (Pix2Pix U-Net / CycleGAN ResNet) + PatchGAN",
    ),
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
    """The network ``cfg`` (any registered model config) describes, freshly initialised."""
    return MODELS[cfg.arch].build(cfg)


__all__ = ["MODELS", "PRESETS", "ModelSpec", "build_model", "model_config", "preset"]
