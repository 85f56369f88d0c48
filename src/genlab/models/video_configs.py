"""The video autoencoder's config dataclass and presets (``genlab.models.video_vae``),
importable without torch; ``genlab.models.configs`` re-exports them with every other config.

Frame arithmetic (pure stride): ``time_down = 2**n`` causal stride-2 stages map ``T``
frames to ``T' = T / time_down`` latent frames; latent frame ``j`` covers input frames
``[j * time_down, (j + 1) * time_down)`` and depends on no later frame. ``model.frames``
must therefore be a multiple of ``time_down`` (20 frames -> 5 latent frames at 4x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlab.errors import ConfigError

# ---------------------------------------- video_vae (genlab.models.video_vae)


def _log2(n: int) -> int | None:
    """``k`` with ``2**k == n``, or None when ``n`` is not a power of two."""
    return n.bit_length() - 1 if n >= 1 and n & (n - 1) == 0 else None


@dataclass
class VideoVAEConfig:
    """A causal 3-D convolutional autoencoder of clips ``(C, T, H, W)`` in [-1, 1]: a KL
    (Gaussian posterior) or VQ latent ``(latent_dim, T / time_down, H / space_down,
    W / space_down)``."""

    arch: Literal["video_vae"] = "video_vae"
    in_channels: int = 1
    frames: int = 20  # T: clip length in frames (a multiple of time_down)
    image_size: int = 64  # H = W
    channels: int = 16  # base width
    # one width multiplier per resolution: full, then after each stride-2 stage; the
    # number of stages is log2(max(time_down, space_down))
    channel_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 1  # causal residual blocks per resolution (and in the middle)
    time_down: int = 4  # temporal compression (a power of two: causal stride-2 stages)
    space_down: int = 4  # spatial compression per side (a power of two)
    latent_dim: int = 4  # latent channels (the code size for quantizer=vq)
    quantizer: Literal["kl", "vq"] = "kl"
    # quantizer=vq: one codebook of codebook_size codes (genlab.models.vq.Codebook)
    codebook_size: int = 512
    ema_decay: float = 0.99  # 0: codes learned by gradient (codebook loss)
    restart_threshold: float = 0.05  # restart codes whose EMA count is below this
    # quantizer=kl. Gaussian: Laplace's L1 optimum is the per-pixel median, which stays
    # black where small digits cover few pixels (video-klae-moving-mnist-small, 500 steps)
    likelihood: Literal["bernoulli", "gaussian", "laplace"] = "gaussian"
    scale: float = 1.0  # codec latent scale (encode multiplies by it; measured after training)
    shift: float = 0.0  # codec latent shift (encode subtracts it first)

    def __post_init__(self):
        for k in ("in_channels", "frames", "image_size", "channels", "num_res_blocks",
                  "latent_dim", "codebook_size"):  # fmt: skip
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        for k in ("time_down", "space_down"):
            if _log2(getattr(self, k)) is None:
                raise ConfigError(f"model.{k}: must be a power of two, got {getattr(self, k)}")
        if len(self.channel_mult) != self.stages() + 1 or min(self.channel_mult) < 1:
            raise ConfigError(
                f"model.channel_mult: needs {self.stages() + 1} positive multipliers (full "
                f"resolution, then one per stride-2 stage of time_down={self.time_down}, "
                f"space_down={self.space_down}), got {list(self.channel_mult)}"
            )
        if self.frames % self.time_down:
            raise ConfigError(
                f"model.frames: {self.frames} frames do not fit time_down={self.time_down}; "
                f"latent frame j covers frames [{self.time_down}j, {self.time_down}(j+1)), so "
                f"model.frames must be a multiple of {self.time_down}"
            )
        if self.image_size % self.space_down:
            raise ConfigError(
                f"model.image_size: {self.image_size} is not divisible by "
                f"space_down={self.space_down}"
            )
        if self.quantizer not in ("kl", "vq"):
            raise ConfigError(f"model.quantizer: must be 'kl' or 'vq', got {self.quantizer!r}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"model.ema_decay: must be in [0, 1), got {self.ema_decay}")
        if self.scale <= 0:
            raise ConfigError(f"model.scale: must be positive, got {self.scale}")

    def stages(self) -> int:
        """Stride-2 stages: ``log2(max(time_down, space_down))``; stage ``i`` halves time
        while ``i < log2(time_down)`` and space while ``i < log2(space_down)``."""
        return max(_log2(self.time_down) or 0, _log2(self.space_down) or 0)

    def strides(self) -> list[tuple[int, int]]:
        """``(time, space)`` stride of each stage, first stage first."""
        nt, ns = _log2(self.time_down) or 0, _log2(self.space_down) or 0
        return [(2 if i < nt else 1, 2 if i < ns else 1) for i in range(self.stages())]

    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.frames, self.image_size, self.image_size)

    def latent_shape(self) -> tuple[int, ...]:
        """``(latent_dim, T', h', w')``: the posterior's (or the code grid's) shape."""
        g = self.image_size // self.space_down
        return (self.latent_dim, self.frames // self.time_down, g, g)

    def num_tokens(self) -> int:
        """quantizer=vq: tokens per clip, ``T' * h' * w'`` (row-major over t, y, x)."""
        return self.frames // self.time_down * (self.image_size // self.space_down) ** 2


VIDEO_VAE_PRESETS = {
    # 1x20x64x64 clips (moving MNIST) -> a 4x5x16x16 KL latent
    "video-klae-small": VideoVAEConfig(),
    # the same network with a 512-code VQ latent of 5x16x16 tokens
    "video-vq-small": VideoVAEConfig(quantizer="vq", latent_dim=16),
}
