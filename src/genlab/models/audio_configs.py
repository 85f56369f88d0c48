"""The audio networks' config dataclasses (WaveNet, HiFi-GAN), importable without torch;
``genlab.models.configs`` re-exports them with every other config."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from genlab.errors import ConfigError

# ---------------------------------------- wavenet (genlab.models.wavenet)


@dataclass
class WaveNetConfig:
    """WaveNet (van den Oord et al. 2016) over mu-law codes of a waveform ``(B, 1, L)``:
    ``stacks`` x ``layers`` gated residual layers with dilations 1, 2, ..., 2^(layers-1)."""

    arch: Literal["wavenet"] = "wavenet"
    length: int = 8192  # samples a sample is generated with
    quantization: int = 256  # mu-law levels (mu = quantization - 1)
    residual_channels: int = 32
    gate_channels: int = 32
    skip_channels: int = 64
    layers: int = 10  # per stack; receptive field stacks * (2^layers - 1) + 1 samples
    stacks: int = 2
    num_classes: int = 0  # cond["class"] (e.g. the digit); 0: none
    num_speakers: int = 0  # cond["speaker"]; 0: none
    cond_dim: int = 64  # the global condition's embedding width

    def __post_init__(self):
        for k in ("length", "residual_channels", "gate_channels", "skip_channels", "layers",
                  "stacks", "cond_dim"):  # fmt: skip
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if self.quantization < 2:
            raise ConfigError(f"model.quantization: needs >= 2 levels, got {self.quantization}")
        if self.num_classes < 0 or self.num_speakers < 0:
            raise ConfigError("model.num_classes, model.num_speakers: must be >= 0")

    def input_shape(self) -> tuple[int, ...]:
        return (1, self.length)

    def receptive_field(self) -> int:
        """Samples each prediction sees: the ``stacks * (2^layers - 1)`` of the dilated
        layers plus the previous sample itself."""
        return self.stacks * (2**self.layers - 1) + 1


WAVENET_PRESETS = {"wavenet-small": WaveNetConfig()}


# ---------------------------------------- hifigan (genlab.models.hifigan)


@dataclass
class HiFiGANConfig:
    """A HiFi-GAN vocoder (Kong et al. 2020): log-mel spectrogram ``(B, 1, n_mels, T)``
    -> waveform ``(B, 1, T * hop_length)``, with its multi-period and multi-scale
    discriminators. The mel settings are the ones it is trained to invert."""

    arch: Literal["hifigan"] = "hifigan"
    length: int = 8192  # samples of a full clip (what sampling resynthesises)
    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 64
    n_mels: int = 64
    channels: int = 128  # after the input convolution; halved at every upsampling
    upsample_rates: tuple[int, ...] = (4, 4, 4)  # their product is hop_length
    resblock_kernels: tuple[int, ...] = (3, 7, 11)  # the multi-receptive-field fusion
    resblock_dilations: tuple[int, ...] = (1, 3, 5)
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)  # multi-period discriminator
    scales: int = 3  # multi-scale discriminator: raw, /2, /4
    d_channels: int = 32  # the discriminators' first width (HiFi-GAN: 32 MPD, 128 MSD)

    def __post_init__(self):
        for k in ("length", "sample_rate", "n_fft", "hop_length", "n_mels", "channels",
                  "scales", "d_channels"):  # fmt: skip
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if math.prod(self.upsample_rates) != self.hop_length:
            raise ConfigError(
                f"model.upsample_rates: {self.upsample_rates} multiply to "
                f"{math.prod(self.upsample_rates)}, not hop_length {self.hop_length}"
            )
        if any(k % 2 == 0 for k in self.resblock_kernels):
            raise ConfigError(
                f"model.resblock_kernels: {self.resblock_kernels}; each must be odd (same padding)"
            )
        if self.channels % 2 ** len(self.upsample_rates):
            raise ConfigError(
                f"model.channels: {self.channels} is not divisible by 2^{len(self.upsample_rates)}"
            )

    def input_shape(self) -> tuple[int, ...]:
        return (1, self.length)


HIFIGAN_PRESETS = {"hifigan-small": HiFiGANConfig()}
