"""The audio networks' config dataclasses (WaveNet, HiFi-GAN, codec, codec LM),
importable without torch; ``genlab.models.configs`` re-exports them with every other
config."""

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
    """A GAN vocoder: log-mel spectrogram ``(B, 1, n_mels, T)`` -> waveform ``(B, 1, T *
    hop_length)``, with HiFi-GAN's multi-period and multi-scale discriminators (Kong et
    al. 2020). ``generator``: HiFi-GAN's (transposed-convolution upsampling; uses
    ``channels``, ``upsample_rates``, ``resblock_*``) or Vocos's (Siuzdak 2023; uses
    ``channels``, ``layers``, ``phase``, ``gl_iters``). The mel settings are the ones
    it is trained to invert."""

    arch: Literal["hifigan"] = "hifigan"
    length: int = 8192  # samples of a full clip (what sampling resynthesises)
    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 64
    n_mels: int = 64
    # hifigan: transposed-convolution upsampling to the waveform (Kong et al. 2020);
    # vocos: ConvNeXt blocks at the frame rate and an iSTFT head (Siuzdak 2023)
    generator: Literal["hifigan", "vocos"] = "hifigan"
    channels: int = 128  # hifigan: after the input convolution, halved at every upsampling;
    # vocos: the width of every ConvNeXt block
    layers: int = 8  # vocos: ConvNeXt blocks
    # vocos: "predicted", the head's phase (Vocos); "griffin-lim", the phase of
    # gl_iters Griffin-Lim iterations on the predicted magnitude plus the head's
    # correction (zero at the start, so an untrained generator is Griffin-Lim)
    phase: Literal["predicted", "griffin-lim"] = "predicted"
    gl_iters: int = 32
    upsample_rates: tuple[int, ...] = (4, 4, 4)  # their product is hop_length
    resblock_kernels: tuple[int, ...] = (3, 7, 11)  # the multi-receptive-field fusion
    resblock_dilations: tuple[int, ...] = (1, 3, 5)
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)  # multi-period discriminator
    scales: int = 3  # multi-scale discriminator: raw, /2, /4
    d_channels: int = 32  # the discriminators' first width (HiFi-GAN: 32 MPD, 128 MSD)
    # As the autoencoder of mel-spectrogram diffusion (genlab.families.vocoder.
    # MelAutoencoder): latent = (log-mel - mel_shift) * mel_scale. The defaults map the
    # floor ln(1e-5) = -11.5 to -1 and the loudest FSDD training frame (+0.3) to +1.
    mel_shift: float = -5.6
    mel_scale: float = 0.17

    def __post_init__(self):
        for k in ("length", "sample_rate", "n_fft", "hop_length", "n_mels", "channels",
                  "layers", "gl_iters", "scales", "d_channels"):  # fmt: skip
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if self.n_fft < 2:
            raise ConfigError(f"model.n_fft: must be at least 2, got {self.n_fft}")
        if self.generator not in ("hifigan", "vocos"):
            raise ConfigError(f"model.generator: 'hifigan' or 'vocos', got {self.generator!r}")
        if self.generator == "vocos" and self.n_fft < self.hop_length:
            raise ConfigError(
                f"model.n_fft: {self.n_fft} is shorter than the hop ({self.hop_length}); "
                "Vocos's inverse STFT needs windows of at least one hop"
            )
        if self.generator == "hifigan" and self.phase != "predicted":
            raise ConfigError(
                f"model.phase: {self.phase!r} is a Vocos option; set model.generator=vocos"
            )
        if self.generator == "hifigan" and math.prod(self.upsample_rates) != self.hop_length:
            raise ConfigError(
                f"model.upsample_rates: {self.upsample_rates} multiply to "
                f"{math.prod(self.upsample_rates)}, not hop_length {self.hop_length}"
            )
        if any(k % 2 == 0 for k in self.resblock_kernels):
            raise ConfigError(
                f"model.resblock_kernels: {self.resblock_kernels}; each must be odd (same padding)"
            )
        if self.generator == "hifigan" and self.channels % 2 ** len(self.upsample_rates):
            raise ConfigError(
                f"model.channels: {self.channels} is not divisible by 2^{len(self.upsample_rates)}"
            )

    def input_shape(self) -> tuple[int, ...]:
        return (1, self.length)

    def latent_shape(self) -> tuple[int, ...]:
        """The mel spectrogram of a clip: ``(1, n_mels, length / hop_length)``."""
        return (1, self.n_mels, self.length // self.hop_length)


HIFIGAN_PRESETS = {
    "hifigan-small": HiFiGANConfig(),
    "vocos-small": HiFiGANConfig(generator="vocos", channels=256, layers=8),
    "vocos-gl-small": HiFiGANConfig(generator="vocos", channels=256, layers=8, phase="griffin-lim"),
}


# ---------------------------------------- codec (genlab.models.codec)


@dataclass
class CodecConfig:
    """A SoundStream / EnCodec-style neural audio codec (Zeghidour et al. 2021; Défossez et
    al. 2022): a convolutional encoder from the waveform ``(B, 1, L)`` to ``L / hop``
    frames of ``code_dim``, residual VQ with ``codebooks`` codebooks of
    ``codebook_size`` codes, the mirror decoder, and the multi-scale STFT discriminator.
    ``hop = prod(strides)``; tokens per second ``sample_rate / hop * codebooks``."""

    arch: Literal["codec"] = "codec"
    length: int = 8192  # samples of a full clip
    sample_rate: int = 8000
    channels: int = 16  # the first width; doubled at every downsampling
    strides: tuple[int, ...] = (2, 4, 8)  # encoder downsampling (decoder: reversed)
    code_dim: int = 64
    codebooks: int = 4  # residual VQ depth
    codebook_size: int = 256
    ema_decay: float = 0.99
    restart_threshold: float = 0.05
    quantizer_dropout: float = 0.5  # share of training clips quantized with 1..K codebooks
    # "waveform": strided convolutions on the samples (SoundStream); "mel": residual units
    # on the log-mel frames (Spectral Codecs, Langman et al. 2024)
    encoder: Literal["waveform", "mel"] = "waveform"
    # "istft": residual units at the frame rate and a Vocos head (log-magnitude and phase
    # of an n_fft-point STFT at the codec's hop, inverted); "transposed": the mirror of
    # the encoder with transposed convolutions (SoundStream / EnCodec); "mel": the
    # log-mel by regression, inverted by Griffin-Lim (no discriminator)
    decoder: Literal["istft", "transposed", "mel"] = "istft"
    decoder_channels: int = 128  # the istft and mel decoders' width
    n_fft: int = 256  # the istft / mel decoder's STFT size (a multiple of the hop, >= 2 hops)
    n_mels: int = 64  # the mel decoder's bands
    stft_sizes: tuple[int, ...] = (128, 256, 512)  # the MS-STFT discriminator's windows
    d_channels: int = 16

    def __post_init__(self):
        for k in ("length", "sample_rate", "channels", "code_dim", "codebooks",
                  "codebook_size", "d_channels", "n_mels"):  # fmt: skip
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if not self.strides or any(s < 2 for s in self.strides):
            raise ConfigError(f"model.strides: need one or more strides >= 2, got {self.strides}")
        if self.length % self.hop_length():
            raise ConfigError(
                f"model.length: {self.length} samples is not a multiple of the hop "
                f"{self.hop_length()} (the product of model.strides {self.strides})"
            )
        if not 0 < self.ema_decay < 1:  # the codec has no codebook loss: EMA only
            raise ConfigError(
                f"model.ema_decay: the codec's codebooks learn by EMA; must be in (0, 1), "
                f"got {self.ema_decay}"
            )
        mel = self.decoder == "mel" or self.encoder == "mel"
        if mel and not 1 <= self.n_mels <= self.n_fft // 2 + 1:
            raise ConfigError(
                f"model.n_mels: {self.n_mels} bands, but a {self.n_fft}-point STFT has "
                f"{self.n_fft // 2 + 1} frequency bins"
            )
        if self.n_fft > self.length:
            raise ConfigError(
                f"model.n_fft: {self.n_fft} is longer than a clip (model.length {self.length})"
            )
        if self.encoder not in ("waveform", "mel"):
            raise ConfigError(f"model.encoder: 'waveform' or 'mel', got {self.encoder!r}")
        if (self.decoder in ("istft", "mel") or self.encoder == "mel") and (
            self.n_fft % self.hop_length() or self.n_fft < 2 * self.hop_length()
        ):
            raise ConfigError(
                f"model.n_fft: {self.n_fft} must be a multiple of the hop "
                f"{self.hop_length()} and at least two hops"
            )
        if self.decoder not in ("istft", "transposed", "mel"):
            raise ConfigError(
                f"model.decoder: 'istft', 'transposed' or 'mel', got {self.decoder!r}"
            )
        if not 0 <= self.quantizer_dropout <= 1:
            raise ConfigError(
                f"model.quantizer_dropout: a probability in [0, 1], got {self.quantizer_dropout}"
            )
        if not self.stft_sizes or any(n < 16 for n in self.stft_sizes):
            raise ConfigError(
                f"model.stft_sizes: windows of 16 samples or more, got {self.stft_sizes}"
            )

    def hop_length(self) -> int:
        return math.prod(self.strides)

    def frames(self) -> int:
        """Latent frames of a full clip: ``length / hop``."""
        return self.length // self.hop_length()

    def bitrate(self, codebooks: int | None = None) -> float:
        """Bits per second with the first ``codebooks`` codebooks (default all):
        ``sample_rate / hop * codebooks * log2(codebook_size)``."""
        k = self.codebooks if codebooks is None else codebooks
        return self.sample_rate / self.hop_length() * k * math.log2(self.codebook_size)

    def input_shape(self) -> tuple[int, ...]:
        return (1, self.length)


CODEC_PRESETS = {"codec-small": CodecConfig()}


# ---------------------------------------- codec language model (genlab.models.codec_lm)


@dataclass
class CodecLMConfig:
    """A transformer over a codec's ``(K, T)`` tokens, conditioned on a class and a speaker.

    ``pattern``:
    - ``delay`` (MusicGen; Copet et al. 2023): one causal transformer over the delay
      pattern, codebook ``k`` shifted right by ``k`` frames; each step sums the ``K``
      codebooks' embeddings and predicts all ``K`` with ``K`` heads: ``T + K - 1`` steps.
    - ``coarse_fine`` (AudioLM / VALL-E; Borsos et al. 2023, Wang et al. 2023): a causal
      transformer generates codebook 0 frame by frame; a second, bidirectional one
      generates codebook ``k >= 1`` for every frame at once from codebooks ``< k``.
    """

    arch: Literal["codec_lm"] = "codec_lm"
    pattern: Literal["delay", "coarse_fine"] = "delay"
    vocab_size: int = 256  # the codec's codebook_size
    codebooks: int = 4  # K
    frames: int = 128  # T
    n_layer: int = 4  # per transformer
    n_head: int = 4
    n_embd: int = 128
    num_classes: int = 0  # cond["class"]; 0: none
    num_speakers: int = 0  # cond["speaker"]; 0: none
    dropout: float = 0.0

    def __post_init__(self):
        for k in ("vocab_size", "codebooks", "frames", "n_layer", "n_head", "n_embd"):
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if self.pattern not in ("delay", "coarse_fine"):
            raise ConfigError(f"model.pattern: 'delay' or 'coarse_fine', got {self.pattern!r}")
        if self.pattern == "coarse_fine" and self.codebooks < 2:
            raise ConfigError("model.codebooks: coarse_fine needs 2 or more codebooks")
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ConfigError(
                f"model.n_head: head width n_embd/n_head = {self.n_embd}/{self.n_head} "
                "must be an even integer"
            )
        if self.num_classes < 0 or self.num_speakers < 0:
            raise ConfigError("model.num_classes, model.num_speakers: must be >= 0")

    def steps(self) -> int:
        """Positions of the causal transformer: ``T + K - 1`` (delay) or ``T``."""
        return self.frames + (self.codebooks - 1 if self.pattern == "delay" else 0)


CODEC_LM_PRESETS = {"codec-lm-small": CodecLMConfig()}
