"""Every network's config dataclass and the named presets, importable without torch.

``genlab list``, ``--dry-run`` and config parsing read these alone; the network classes
(``genlab.models.unet.UNet``, ...) import their config from here. ``PRESETS`` maps a
preset name (what recipes start from: ``preset("unet-small", num_classes=10)``) to a
ready config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlab.errors import ConfigError
from genlab.models.audio_configs import (  # noqa: F401 (re-exported: every config is here)
    CODEC_LM_PRESETS,
    CODEC_PRESETS,
    HIFIGAN_PRESETS,
    WAVENET_PRESETS,
    CodecConfig,
    CodecLMConfig,
    HiFiGANConfig,
    WaveNetConfig,
)
from genlab.models.gan_configs import (  # noqa: F401 (re-exported: every config is here)
    DCGAN_PRESETS,
    GAN_MLP_PRESETS,
    STYLEGAN_PRESETS,
    DCGANConfig,
    DCGANDiscriminatorConfig,
    DCGANGeneratorConfig,
    GanMLPConfig,
    MLPDiscriminatorConfig,
    MLPGeneratorConfig,
    PatchDiscriminatorConfig,
    StyleGANConfig,
    StyleGeneratorConfig,
    TranslatorConfig,
    TranslatorGeneratorConfig,
    patch_grid,
    receptive_field,
)
from genlab.models.video_configs import (  # noqa: F401 (re-exported: every config is here)
    VIDEO_VAE_PRESETS,
    VideoVAEConfig,
)

# The self-attention modes of genlab.nn.attention.MODES, named here without importing torch
# (tests/test_registries.py checks they agree).
ATTENTION_MODES = ("full", "factored", "spatial", "temporal")
# The DiT's video layouts: those modes in every block's one attention layer, or two layers
# per block (genlab.nn.attention.TWO_LAYER_MODES): "divided" = a spatial then a temporal
# attention sublayer inside each block; "temporal_layers" = image blocks (spatial) each
# followed by an inserted, zero-initialised temporal attention layer.
DIT_ATTENTION = (*ATTENTION_MODES, "divided", "temporal_layers")
DiTAttention = Literal["full", "factored", "spatial", "temporal", "divided", "temporal_layers"]

# ---------------------------------------- mlp (genlab.models.mlp)


@dataclass
class MLPConfig:
    arch: Literal["mlp"] = "mlp"
    dim: int = 2
    hidden: int = 256
    depth: int = 4
    num_classes: int = 0
    dropout: float = 0.0
    fourier: int = 0  # > 0: add sin/cos of this many random projections of x (Tancik 2020)
    fourier_scale: float = 1.0  # std of the projection frequencies

    def __post_init__(self):
        for k in ("dim", "hidden", "depth"):
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")

    def input_shape(self) -> tuple[int, ...]:
        return (self.dim,)


MLP_PRESETS = {
    "mlp-small": MLPConfig(hidden=128, depth=3),
    "mlp": MLPConfig(),
    "mlp-large": MLPConfig(hidden=512, depth=6),
}


# ---------------------------------------- unet (genlab.models.unet)


@dataclass
class UNetConfig:
    arch: Literal["unet"] = "unet"
    in_channels: int = 1
    out_channels: int = 0  # 0: same as in_channels
    image_size: int = 28
    dims: Literal[1, 2, 3] = 2
    # The length of the time axis when it differs from image_size; 0: every axis image_size.
    # dims=2: a mel spectrogram's (n_mels, frames) = (image_size, frames), input (C, F, L);
    # dims=3: a video's frames T, input (C, T, image_size, image_size).
    frames: int = 0
    # dims=3 only: "3d" = 3x3x3 convolutions, attention over all positions, every axis
    # downsampled; "factored" = (2+1)-D: 1x3x3 convolutions each followed by a 3x1x1
    # temporal one, spatial then temporal attention, space-only down/upsampling and
    # per-frame group norms (Ho et al. 2022, VDM; Singer et al. 2022, Make-A-Video).
    video: Literal["3d", "factored"] = "3d"
    channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 2
    attn_levels: tuple[int, ...] = (2,)  # levels (0 = full resolution) with self-attention
    heads: int = 4
    dropout: float = 0.0
    num_classes: int = 0
    # "conv_resize": convolve at the low resolution to the next level's width, then resize
    # (about 25% fewer FLOPs at 28x28); "resize_conv": resize, then convolve (older runs).
    upsample: Literal["resize_conv", "conv_resize"] = "resize_conv"
    # Also read cond["mask"] (B, 1, *S) and cond["image"] (B, C, *S), the masked image,
    # through a zero-initialised input convolution: a trained inpainting model (the input
    # layout of Stable Diffusion's inpainting U-Net; genlab.objectives.masks).
    inpaint: bool = False
    # Text: the width D of the prompt's token states cond["text"] (B, L, D) with key mask
    # cond["text_mask"] (B, L) (genlab.cond.text); 0: none. Each attention level (and the
    # middle) gets cross-attention to them, and their masked mean joins the time embedding.
    text_dim: int = 0

    def __post_init__(self):
        if self.text_dim < 0:
            raise ConfigError(f"model.text_dim: must be >= 0, got {self.text_dim}")
        if self.frames < 0 or (self.frames and self.dims == 1):
            raise ConfigError(
                f"model.frames: {self.frames}; a time axis needs model.dims=2 or 3 and >= 1"
            )
        if self.video not in ("3d", "factored") or (self.video != "3d" and self.dims != 3):
            raise ConfigError(
                f"model.video: {self.video!r}; choose 3d or factored (video: model.dims=3)"
            )
        if self.channels < 1 or self.num_res_blocks < 1 or not self.channel_mult:
            raise ConfigError("model: channels, num_res_blocks and channel_mult must be positive")
        bad = [lv for lv in self.attn_levels if not 0 <= lv < len(self.channel_mult)]
        if bad:
            raise ConfigError(
                f"model.attn_levels: levels {bad} do not exist "
                f"(channel_mult has {len(self.channel_mult)} levels)"
            )
        for m in self.channel_mult:
            if (self.channels * m) % self.heads:
                raise ConfigError(
                    f"model.heads: {self.heads} does not divide width {self.channels * m}"
                )

    def input_shape(self) -> tuple[int, ...]:
        """``(C, S, frames)`` for a spectrogram, ``(C, frames, S, S)`` for a video, else
        ``(C, S, ...)`` with ``dims`` sides ``S = image_size``."""
        if self.frames and self.dims == 3:
            return (self.in_channels, self.frames, self.image_size, self.image_size)
        if self.frames:
            return (self.in_channels, self.image_size, self.frames)
        return (self.in_channels, *([self.image_size] * self.dims))


@dataclass
class ControlNetConfig(UNetConfig):
    """A frozen U-Net (the other fields: the base run's network) steered by a ControlNet
    (``genlab.adapters.controlnet``) reading ``cond["control"]``, the image made from
    each training image by ``control`` (``genlab.data.pairs``: ``edges`` = outlines)."""

    arch: Literal["controlnet"] = "controlnet"  # type: ignore[assignment]
    control: Literal["edges", "thicken", "break", "position"] = "edges"
    # 0: the image's channels; 1: the control's brightness (a colourless outline or map)
    control_channels: int = 0

    def __post_init__(self):
        super().__post_init__()
        if self.inpaint:
            raise ConfigError("model.inpaint: a ControlNet's base is a plain U-Net")
        if self.control_channels not in (0, 1, self.in_channels):
            raise ConfigError(
                f"model.control_channels: must be 0 (the image's {self.in_channels}), 1 or "
                f"{self.in_channels}, got {self.control_channels}"
            )


_UP = "conv_resize"


UNET_PRESETS = {
    "unet-tiny": UNetConfig(
        channels=32, channel_mult=(1, 2), num_res_blocks=1, attn_levels=(1,), upsample=_UP
    ),
    "unet-small": UNetConfig(channels=64, channel_mult=(1, 2, 2), num_res_blocks=1, upsample=_UP),
    "unet": UNetConfig(upsample=_UP),
    "unet-base": UNetConfig(
        channels=128,
        channel_mult=(1, 2, 2, 2),
        num_res_blocks=2,
        attn_levels=(2,),
        dropout=0.1,
        upsample=_UP,
    ),
}


# ---------------------------------------- dit (genlab.models.dit)


TEXT_CONDITIONING = ("cross", "pooled", "joint")


@dataclass
class DiTConfig:
    arch: Literal["dit"] = "dit"
    in_channels: int = 1
    out_channels: int = 0  # 0: same as in_channels
    image_size: int = 28
    dims: Literal[1, 2, 3] = 2
    patch: int = 2
    hidden: int = 384
    depth: int = 12
    heads: int = 6
    mlp_ratio: float = 4.0
    num_classes: int = 0
    # Video (dims=3, input (C, T, S, S)): the number of frames T, patched temporal_patch at a
    # time (spatial and temporal position embeddings added: parameters pos, pos_time);
    # frames=0: the older cubic video (C, S, S, S), patch on every axis, one pos embedding.
    frames: int = 0
    temporal_patch: int = 1
    # Video self-attention (genlab.models.dit docstring): "full" (3-D, every token),
    # "factored" (one layer: spatial then temporal with the same q, k), "spatial" (within
    # each frame), "temporal" (across frames at each position), "divided" (a spatial then a
    # temporal sublayer in each block, TimeSformer), "temporal_layers" (image DiT blocks,
    # each followed by a zero-initialised temporal layer, Make-A-Video / AnimateDiff).
    attention: DiTAttention = "full"
    # Text: the width D of cond["text"] (B, L, D) with cond["text_mask"] (B, L); 0: none.
    # The prompt's pooled (masked-mean) states always join the adaLN conditioning;
    # text_conditioning says what else reads the tokens: "cross" (cross-attention after
    # each self-attention, PixArt-alpha), "pooled" (nothing: adaLN only) or "joint"
    # (MM-DiT: text tokens as a second stream in one joint attention, SD3).
    text_dim: int = 0
    text_conditioning: Literal["cross", "pooled", "joint"] = "cross"
    # Also read cond["mask"] (B, 1, *S) and cond["image"] (B, C, *S), the masked input,
    # through a zero-initialised second patch embedding (as the U-Net's inpaint): a trained
    # inpainting model; on video, frame prediction (genlab.objectives.masks.frame_masks).
    inpaint: bool = False
    # The learned position embedding's start: "random" (N(0, 0.02^2)) or "sincos" (the
    # fixed sine-cosine table of ViT and DiT, then learned; genlab.nn.embed.sincos_grid).
    # A 32x32 shapes DiT with "random" never learned where things are in 3,000 steps
    # (docs/text_to_image.md).
    pos_init: Literal["random", "sincos"] = "random"

    def __post_init__(self):
        if self.pos_init not in ("random", "sincos"):
            raise ConfigError(f"model.pos_init: 'random' or 'sincos', got {self.pos_init!r}")
        axes = 2 if self.frames else self.dims  # the sine-cosine table's spatial axes
        if self.pos_init == "sincos" and self.hidden % (2 * axes):
            raise ConfigError(
                f"model.pos_init: sincos splits model.hidden among {axes} axes as sine and "
                f"cosine pairs; {self.hidden} is not a multiple of {2 * axes}"
            )
        if self.text_dim < 0:
            raise ConfigError(f"model.text_dim: must be >= 0, got {self.text_dim}")
        if self.text_conditioning not in TEXT_CONDITIONING:
            raise ConfigError(
                f"model.text_conditioning: {self.text_conditioning!r} is not one of "
                f"{', '.join(TEXT_CONDITIONING)}"
            )
        if not self.text_dim and self.text_conditioning != "cross":  # cross is the default
            raise ConfigError(
                f"model.text_conditioning: {self.text_conditioning!r} says how the network "
                "reads a prompt, but this run has no text (set text.encoder and model.text_dim, "
                "as t2i-dit-shapes does)"
            )
        if self.text_dim and self.text_conditioning == "joint" and self.attention != "full":
            raise ConfigError(
                "model.text_conditioning: joint attention runs over every token at once; "
                f"it needs model.attention=full, not {self.attention!r}"
            )
        if self.attention not in DIT_ATTENTION:
            raise ConfigError(
                f"model.attention: unknown mode {self.attention!r}; choose from "
                f"{', '.join(DIT_ATTENTION)}"
            )
        if self.attention != "full" and self.dims != 3:
            raise ConfigError(
                f"model.attention: {self.attention!r} is for video (dims=3), got dims={self.dims}"
            )
        for k in ("patch", "hidden", "depth", "heads", "image_size", "in_channels",
                  "temporal_patch"):  # fmt: skip
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if self.image_size % self.patch:
            raise ConfigError(
                f"model.patch: {self.patch} does not divide image_size {self.image_size}"
            )
        if self.hidden % self.heads:
            raise ConfigError(f"model.heads: {self.heads} does not divide hidden {self.hidden}")
        self._check_video()

    def _check_video(self) -> None:
        if self.frames < 0 or (self.frames and self.dims != 3):
            raise ConfigError(
                f"model.frames: {self.frames}; the frames of a video need model.dims=3 and >= 1"
            )
        if self.temporal_patch != 1 and not self.frames:
            raise ConfigError(
                "model.temporal_patch: needs model.frames (a cubic video, frames=0, is "
                "patched model.patch on every axis)"
            )
        if self.frames % self.temporal_patch:
            raise ConfigError(
                f"model.temporal_patch: {self.temporal_patch} does not divide frames {self.frames}"
            )
        if self.attention == "temporal_layers" and not self.frames:
            raise ConfigError(
                "model.frames: attention=temporal_layers needs the number of frames (>= 1)"
            )

    def patch_size(self) -> tuple[int, ...]:
        """The patch along each axis: ``(temporal_patch, patch, patch)`` for video with
        ``frames``, else ``patch`` on each of the ``dims`` axes."""
        if self.frames:
            return (self.temporal_patch, self.patch, self.patch)
        return (self.patch,) * self.dims

    def input_shape(self) -> tuple[int, ...]:
        if self.frames:
            return (self.in_channels, self.frames, self.image_size, self.image_size)
        return (self.in_channels, *([self.image_size] * self.dims))


DIT_PRESETS = {
    # tiny ones for tests and the 8x8 digits
    "dit-tiny": DiTConfig(image_size=8, patch=2, hidden=64, depth=2, heads=2),
    "dit-digits": DiTConfig(image_size=8, patch=2, hidden=128, depth=4, heads=4),
    "dit-mnist": DiTConfig(image_size=28, patch=4, hidden=192, depth=6, heads=6),
    # Peebles & Xie 2023, Table 1 (patch 2)
    "dit-s/2": DiTConfig(patch=2, hidden=384, depth=12, heads=6),
    "dit-b/2": DiTConfig(patch=2, hidden=768, depth=12, heads=12),
}


# ---------------------------------------- vae (genlab.models.vae)


@dataclass
class VAEConfig:
    arch: Literal["vae"] = "vae"
    in_channels: int = 1
    image_size: int = 28
    encoder: Literal["mlp", "conv"] = "mlp"
    hidden: int = 512  # MLP width
    depth: int = 2  # MLP hidden layers (encoder and decoder each)
    channels: int = 32  # conv base width (doubles per level)
    levels: int = 2  # conv stride-2 levels: latent grid = image_size / 2**levels
    latent_dim: int = 50  # vector size, or channels of the spatial grid
    spatial: bool = False  # conv only: keep a (latent_dim, h, w) latent grid
    likelihood: Literal["bernoulli", "gaussian", "laplace"] = "bernoulli"
    num_classes: int = 0
    scale: float = 1.0  # codec latent scale (encode multiplies by it)
    shift: float = 0.0  # codec latent shift (encode subtracts it first)

    def __post_init__(self):
        for k in ("in_channels", "image_size", "hidden", "depth", "channels", "latent_dim"):
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if self.encoder == "conv" and self.image_size % 2**self.levels:
            raise ConfigError(
                f"model.levels: image_size {self.image_size} is not divisible by 2**{self.levels}"
            )
        if self.spatial and self.encoder != "conv":
            raise ConfigError("model.spatial: a spatial latent needs model.encoder=conv")
        if self.spatial and self.num_classes:
            raise ConfigError(
                "model.num_classes: the spatial (KL autoencoder) VAE is unconditional"
            )
        if self.scale <= 0:
            raise ConfigError(f"model.scale: must be positive, got {self.scale}")

    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.image_size, self.image_size)

    def latent_shape(self) -> tuple[int, ...]:
        if self.spatial:
            g = self.image_size // 2**self.levels
            return (self.latent_dim, g, g)
        return (self.latent_dim,)


VAE_PRESETS = {
    "vae-mlp": VAEConfig(),
    "vae-conv": VAEConfig(encoder="conv", latent_dim=16),
    "klae-small": VAEConfig(
        encoder="conv", spatial=True, latent_dim=4, channels=32, likelihood="laplace"
    ),
}


# ---------------------------------------- vq (genlab.models.vq)


@dataclass
class VQConfig:
    arch: Literal["vqvae"] = "vqvae"
    in_channels: int = 1
    image_size: int = 28
    channels: int = 32
    levels: int = 2
    codebook_size: int = 256
    code_dim: int = 32
    depth: int = 1  # residual VQ: codebooks applied in sequence to the residual
    scales: tuple[int, ...] = ()  # multi-scale residual VQ (VAR): side of each scale
    ema_decay: float = 0.99  # 0: codebook learned by gradient (codebook loss)
    restart_threshold: float = 0.05  # restart codes whose EMA count is below this
    scale: float = 1.0
    shift: float = 0.0

    def __post_init__(self):
        for k in ("in_channels", "image_size", "channels", "codebook_size", "code_dim", "depth"):
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if self.image_size % 2**self.levels:
            raise ConfigError(
                f"model.levels: image_size {self.image_size} is not divisible by 2**{self.levels}"
            )
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"model.ema_decay: must be in [0, 1), got {self.ema_decay}")
        if self.scales:
            g = self.grid()
            if list(self.scales) != sorted(set(self.scales)) or self.scales[-1] != g:
                raise ConfigError(
                    f"model.scales: must increase strictly and end at the latent grid {g}, "
                    f"got {list(self.scales)}"
                )
            if self.depth != 1:
                raise ConfigError("model.depth: multi-scale VQ uses one codebook (depth=1)")

    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.image_size, self.image_size)

    def grid(self) -> int:
        return self.image_size // 2**self.levels

    def num_tokens(self) -> int:
        if self.scales:
            return sum(s * s for s in self.scales)
        return self.grid() ** 2 * self.depth


VQ_PRESETS = {
    "vqvae-small": VQConfig(),
    "msvq-small": VQConfig(scales=(1, 2, 3, 4, 5, 7)),
    "rvq-small": VQConfig(depth=4),
}


# ---------------------------------------- gpt (genlab.models.gpt)


@dataclass
class GPTConfig:
    arch: Literal["gpt"] = "gpt"
    vocab_size: int = 256
    seq_len: int = 49  # tokens per sample
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    num_classes: int = 0
    dropout: float = 0.0

    def __post_init__(self):
        for k in ("vocab_size", "seq_len", "n_layer", "n_head", "n_embd"):
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ConfigError(
                f"model.n_head: head width n_embd/n_head = {self.n_embd}/{self.n_head} "
                "must be an even integer"
            )


GPT_PRESETS = {"gpt-small": GPTConfig()}


# ---------------------------------------- var (genlab.models.var)


@dataclass
class VARConfig:
    arch: Literal["var"] = "var"
    vocab_size: int = 256
    code_dim: int = 32
    scales: tuple[int, ...] = (1, 2, 3, 4, 5, 7)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    num_classes: int = 0
    dropout: float = 0.0

    def __post_init__(self):
        for k in ("vocab_size", "code_dim", "n_layer", "n_head", "n_embd"):
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if not self.scales or list(self.scales) != sorted(set(self.scales)) or self.scales[0] < 1:
            raise ConfigError(f"model.scales: must increase strictly, got {list(self.scales)}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"model.n_head: {self.n_head} does not divide {self.n_embd}")

    def seq_len(self) -> int:
        return sum(s * s for s in self.scales)


VAR_PRESETS = {"var-small": VARConfig()}


# ---------------------------------------- classifier (genlab.models.classifier)


@dataclass
class ClassifierConfig:
    arch: Literal["classifier"] = "classifier"
    # cnn, mlp: images (B, C, S, S); mel: waveforms (B, 1, length) through a log-mel CNN;
    # video: clips (B, C, frames, S, S) through a 3-D CNN (genlab.models.classifier)
    kind: Literal["cnn", "mlp", "mel", "video"] = "cnn"
    in_channels: int = 1
    image_size: int = 28
    heads: tuple[int, ...] = (10,)  # classes per head
    head_names: tuple[str, ...] = ("class",)  # the batch's cond key each head predicts
    # heads whose label is a set of classes (cond (N, slots) int64, e.g. the digits in a
    # Moving MNIST clip): independent sigmoid logits, trained by binary cross-entropy on
    # the multi-hot target; every other head is one softmax, trained by cross-entropy
    multi_label: tuple[str, ...] = ()
    frames: int = 16  # kind=video: frames per clip
    width: int = 32
    features: int = 128
    dropout: float = 0.0
    # kind=mel: the waveform and its log-mel spectrogram
    length: int = 8192  # samples
    sample_rate: int = 8000
    n_fft: int = 256
    hop_length: int = 64
    n_mels: int = 64

    def __post_init__(self):
        for k in ("in_channels", "image_size", "width", "features", "length", "sample_rate",
                  "n_fft", "hop_length", "n_mels", "frames"):  # fmt: skip
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        unknown = [h for h in self.multi_label if h not in self.head_names]
        if unknown:
            raise ConfigError(
                f"model.multi_label: {unknown[0]!r} is not a head; the heads are "
                f"{', '.join(self.head_names)}"
            )
        if len(self.heads) != len(self.head_names) or not self.heads:
            raise ConfigError(
                f"model.heads: {len(self.heads)} heads but {len(self.head_names)} head_names"
            )
        if min(self.heads) < 2:
            raise ConfigError(f"model.heads: every head needs >= 2 classes, got {self.heads}")
        if self.kind == "mel" and self.in_channels != 1:
            raise ConfigError(
                f"model.in_channels: kind=mel reads mono audio, got {self.in_channels}"
            )

    def input_shape(self) -> tuple[int, ...]:
        if self.kind == "mel":
            return (1, self.length)
        if self.kind == "video":
            return (self.in_channels, self.frames, self.image_size, self.image_size)
        return (self.in_channels, self.image_size, self.image_size)


@dataclass
class DualEncoderConfig:
    """A CLIP-style dual encoder (``genlab.models.clip``): an image CNN and a word-level
    text transformer mapped into one ``embed_dim`` space."""

    arch: Literal["clip"] = "clip"
    in_channels: int = 3
    image_size: int = 32
    width: int = 32  # image tower: the classifier CNN's width
    features: int = 256  # image tower's penultimate width
    # the text tower's words (the recipe fills them in from the captions; any other word,
    # and every word when empty, is the one "unknown" id)
    vocab: tuple[str, ...] = ()
    text_dim: int = 128
    text_depth: int = 2
    text_heads: int = 4
    max_length: int = 16  # words per caption
    embed_dim: int = 64  # the joint space

    def __post_init__(self):
        for k in ("in_channels", "image_size", "width", "features", "text_dim", "text_depth",
                  "text_heads", "max_length", "embed_dim"):  # fmt: skip
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if self.text_dim % self.text_heads:
            raise ConfigError(
                f"model.text_heads: {self.text_heads} does not divide text_dim {self.text_dim}"
            )

    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.image_size, self.image_size)


CLASSIFIER_PRESETS = {
    "classifier-mnist": ClassifierConfig(width=16),
    "classifier-digits": ClassifierConfig(image_size=8),
    "classifier-shapes": ClassifierConfig(
        in_channels=3,
        image_size=32,
        width=16,
        heads=(5, 6, 3, 9),
        head_names=("shape", "color", "size", "position"),
    ),
    "classifier-fsdd": ClassifierConfig(
        kind="mel", width=16, heads=(10, 6), head_names=("digit", "speaker"), dropout=0.2
    ),
    # Moving MNIST clips: which digits appear and which ways they start moving (sets)
    "classifier-moving-mnist": ClassifierConfig(
        kind="video",
        image_size=64,
        frames=20,
        width=16,
        heads=(10, 8),
        head_names=("digits", "directions"),
        multi_label=("digits", "directions"),
    ),
}


PRESETS: dict[str, object] = {
    **MLP_PRESETS,
    **UNET_PRESETS,
    **DIT_PRESETS,
    **CLASSIFIER_PRESETS,
    **WAVENET_PRESETS,
    **HIFIGAN_PRESETS,
    **CODEC_PRESETS,
    **CODEC_LM_PRESETS,
    **VAE_PRESETS,
    **VQ_PRESETS,
    **GPT_PRESETS,
    **VAR_PRESETS,
    **GAN_MLP_PRESETS,
    **DCGAN_PRESETS,
    **STYLEGAN_PRESETS,
    **VIDEO_VAE_PRESETS,
}
