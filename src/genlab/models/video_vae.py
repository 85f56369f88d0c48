"""A causal 3-D convolutional video autoencoder: the first stage of latent video diffusion.

Clips ``(B, C, T, H, W)`` in [-1, 1] -> latents ``(B, latent_dim, T / time_down,
H / space_down, W / space_down)`` (defaults 4x in time and 4x per side: 1x20x64x64 ->
4x5x16x16) and back. Sources: the causal 3-D CNN tokenizer of MAGVIT-v2 (Yu et al. 2023),
the KL / VQ first stages of latent (video) diffusion (Rombach et al. 2022; Blattmann et al.
2023), trained against a patch discriminator (Esser et al. 2021; :class:`VideoPatchDiscriminator`).

Causality: output frame ``t`` of every layer depends only on input frames ``<= t``.

- :class:`CausalConv3d` pads time only on the past side: ``k_t - s_t`` copies of the
  first frame before it (replicate padding: the clip looks as if it had been still before
  it began), none after; space is zero-padded ``k // 2`` on each side.
- A stride-2 temporal stage (kernel 3, one replicated frame of padding) maps frames
  ``[2j - 1, 2j + 1]`` to output frame ``j``; two stages give latent frame ``j`` the input
  frames ``[4j, 4j + 3]`` and nothing later (its receptive field reaches back further).
- Frame arithmetic: pure stride, ``T' = T / time_down``, so ``model.frames`` must be a
  multiple of ``time_down`` (a :class:`~genlab.errors.ConfigError` naming it otherwise).
  No MAGVIT-v2 ``1 + T / 4`` first-frame-alone layout.
- Normalisation is a GroupNorm of each frame on its own (:class:`FrameNorm`); a GroupNorm
  over the whole clip would let later frames change earlier features.
- The decoder mirrors the encoder: causal convolutions and nearest upsampling (a latent
  frame ``j`` becomes frames ``[4j, 4j + 3]``), so decoded frame ``t`` depends only on latent
  frames ``<= t // time_down``.

Quantizer ``kl`` (the KL-AE interface of :class:`genlab.models.vae.VAE`): ``posterior(x) ->
(mu, logvar)``, ``forward(x, cond, eps) -> (out, mu, logvar)``, ``decoder(z)``,
``mean_image(out)``, ``encode(x) = (mu - shift) * scale`` and ``decode(z)``. Quantizer ``vq``
(the interface of :class:`genlab.models.vq.VQVAE`, one EMA codebook): ``forward(x) ->
(x_hat, stats)``, ``encode(x) -> tokens (B, T'*h'*w')`` row-major over ``(t, y, x)``,
``decode(tokens)``, ``tokens_to_latent``, ``latents(x)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.configs import VideoVAEConfig
from genlab.models.vq import Codebook, usage_stats
from genlab.nn.blocks import norm
from genlab.nn.embed import check_cond


class FrameNorm(nn.GroupNorm):
    """GroupNorm over each frame separately: ``(B, C, T, H, W) -> (B, C, T, H, W)``, the
    statistics of frame ``t`` taken over its channel group and ``H, W`` only."""

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(b * t, c, h, w))  # (B*T, C, H, W)
        return y.view(b, t, c, h, w).transpose(1, 2)


def frame_norm(channels: int) -> FrameNorm:
    """A :class:`FrameNorm` with at most 32 groups that divide ``channels``."""
    return FrameNorm(norm(channels).num_groups, channels)


class CausalConv3d(nn.Module):
    """A 3-D convolution that sees only the present and the past in time:
    ``(B, C_in, T, H, W) -> (B, C_out, T / s_t, H / s_s, W / s_s)`` for kernel ``k`` (odd)
    and ``stride = (s_t, s_s)`` (``T`` divisible by ``s_t``, ``s_t <= k``)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: tuple[int, int] = (1, 1)):
        super().__init__()
        st, ss = stride
        self.pad_t = k - st  # frames of the past, replicated from the first
        self.conv = nn.Conv3d(c_in, c_out, k, stride=(st, ss, ss), padding=(0, k // 2, k // 2))

    def forward(self, x: Tensor) -> Tensor:
        if self.pad_t:
            first = x[:, :, :1].expand(-1, -1, self.pad_t, -1, -1)  # (B, C, pad_t, H, W)
            x = torch.cat([first, x], 2)
        return self.conv(x)


class CausalResBlock(nn.Module):
    """``x + f(x)`` with ``f`` = (FrameNorm, SiLU, causal 3x3x3 conv) twice;
    ``(B, c_in, T, H, W) -> (B, c_out, T, H, W)`` (a 1x1x1 skip projection when the widths
    differ)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(
            frame_norm(c_in),
            nn.SiLU(),
            CausalConv3d(c_in, c_out),
            frame_norm(c_out),
            nn.SiLU(),
            CausalConv3d(c_out, c_out),
        )
        self.skip = nn.Identity() if c_in == c_out else CausalConv3d(c_in, c_out, k=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.body(x)


def res_blocks(c_in: int, c_out: int, n: int) -> list[nn.Module]:
    return [CausalResBlock(c_in if i == 0 else c_out, c_out) for i in range(n)]


def causal_encoder(cfg: VideoVAEConfig, c_out: int) -> nn.Sequential:
    """``(B, C, T, H, W) -> (B, c_out, T / time_down, H / space_down, W / space_down)``:
    per stage, residual blocks then a causal stride-2 convolution; then the middle blocks
    and a 1x1x1 projection."""
    widths = [cfg.channels * m for m in cfg.channel_mult]
    layers: list[nn.Module] = [CausalConv3d(cfg.in_channels, widths[0])]
    c = widths[0]
    for i, stride in enumerate(cfg.strides()):
        layers += res_blocks(c, widths[i], cfg.num_res_blocks)
        c = widths[i]
        layers += [CausalConv3d(c, c, 3, stride)]  # down: time by stride[0], space by [1]
    layers += res_blocks(c, widths[-1], cfg.num_res_blocks)
    c = widths[-1]
    layers += [frame_norm(c), nn.SiLU(), CausalConv3d(c, c_out, k=1)]
    return nn.Sequential(*layers)


class Upsample(nn.Module):
    """Nearest upsampling by ``(s_t, s_s, s_s)``: frame ``j`` becomes frames
    ``[s_t j, s_t (j + 1))`` (causal: none of them sees a later frame)."""

    def __init__(self, stride: tuple[int, int]):
        super().__init__()
        self.factor = (stride[0], stride[1], stride[1])

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="nearest")


def causal_decoder(cfg: VideoVAEConfig, c_out: int) -> nn.Sequential:
    """``(B, latent_dim, T', h', w') -> (B, c_out, T, H, W)``: the middle blocks, then per
    stage (coarse to fine) a causal convolution to the finer width at the coarse
    resolution, nearest upsampling and residual blocks; then FrameNorm, SiLU, causal conv."""
    widths = [cfg.channels * m for m in cfg.channel_mult]
    c = widths[-1]
    layers: list[nn.Module] = [CausalConv3d(cfg.latent_dim, c)]
    layers += res_blocks(c, c, cfg.num_res_blocks)
    for i, stride in reversed(list(enumerate(cfg.strides()))):
        layers += [CausalConv3d(c, widths[i]), Upsample(stride)]
        c = widths[i]
        layers += res_blocks(c, c, cfg.num_res_blocks)
    layers += [frame_norm(c), nn.SiLU(), CausalConv3d(c, c_out)]
    return nn.Sequential(*layers)


class VideoAutoencoder(nn.Module):
    """The causal video autoencoder of ``cfg`` (module docstring). Shapes: clips
    ``x (B, C, T, H, W)``; latents ``(B, *latent_shape())``; tokens ``(B, T'*h'*w')``."""

    def __init__(self, cfg: VideoVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.image_size, self.frames = cfg.image_size, cfg.frames
        d, kl = cfg.latent_dim, cfg.quantizer == "kl"
        self.enc = causal_encoder(cfg, 2 * d if kl else d)
        self.dec = causal_decoder(cfg, cfg.in_channels)
        if kl:
            # log of the Gaussian std / Laplace scale per channel (unused for Bernoulli)
            self.log_scale = nn.Parameter(torch.full((cfg.in_channels,), math.log(0.1)))
            # training samples seen, for the KL warm-up (saved with the weights)
            self.register_buffer("samples_seen", torch.zeros((), dtype=torch.int64))
        else:
            book = Codebook(cfg.codebook_size, d, cfg.ema_decay, cfg.restart_threshold)
            self.books = nn.ModuleList([book])

    def latent_shape(self) -> tuple[int, ...]:
        """``(latent_dim, T', h', w')``."""
        return self.cfg.latent_shape()

    def _need(self, quantizer: str, what: str) -> None:
        if self.cfg.quantizer != quantizer:
            raise ValueError(f"{what} needs model.quantizer={quantizer}, not {self.cfg.quantizer}")

    # ---------------------------------------------------------------- KL
    def posterior(self, x: Tensor, cond: dict | None = None) -> tuple[Tensor, Tensor]:
        """q(z|x): ``(mu, logvar)``, each ``(B, latent_dim, T', h', w')``."""
        self._need("kl", "posterior")
        check_cond(cond, ())
        return self.enc(x).chunk(2, dim=1)

    def decoder(self, z: Tensor, cond: dict | None = None) -> Tensor:
        """p(x|z)'s location ``(B, C, T, H, W)`` for latents ``z (B, *latent_shape)`` (for
        VQ: the decoder of continuous or quantized latents)."""
        check_cond(cond, ())
        return self.dec(z)

    def mean_image(self, out: Tensor) -> Tensor:
        """The decoder's location as clips in [-1, 1] (the likelihood's mean)."""
        if self.cfg.quantizer == "kl" and self.cfg.likelihood == "bernoulli":
            return torch.sigmoid(out) * 2 - 1
        return out

    def forward(self, x: Tensor, cond: dict | None = None, eps: Tensor | None = None):
        """KL: ``(out, mu, logvar)`` with ``z = mu + sigma * eps`` (``eps`` the latent's
        shape); VQ: ``(x_hat, stats)`` as :meth:`genlab.models.vq.VQVAE.forward` (per-sample
        ``commit`` and ``codebook`` terms ``(B,)``, the batch's ``usage`` and ``perplexity``)."""
        if self.cfg.quantizer == "vq":
            check_cond(cond, ())
            return self._vq_forward(x)
        if eps is None:
            raise ValueError("a KL video autoencoder's forward needs eps (B, *latent_shape)")
        mu, logvar = self.posterior(x, cond)
        z = mu + (0.5 * logvar).exp() * eps  # reparameterisation
        return self.decoder(z), mu, logvar

    # ---------------------------------------------------------------- VQ
    def quantize(self, f: Tensor, update: bool = True) -> tuple[Tensor, Tensor]:
        """``f (B, D, T', h', w') -> (f_hat (B, D, T', h', w'), tokens (B, N))``, no
        straight-through; the codebook's EMA updates only when training and ``update``."""
        self._need("vq", "quantize")
        b, d, *grid = f.shape
        v = f.permute(0, 2, 3, 4, 1).reshape(-1, d)  # (B*T'*h'*w', D), row-major (t, y, x)
        book = self.books[0]
        if self.training and update:
            q, idx = book(v)
        else:
            idx = book.nearest(v.detach())
            q = book.lookup(idx)
        f_hat = q.view(b, *grid, d).permute(0, 4, 1, 2, 3)
        return f_hat, idx.view(b, -1)

    def _vq_forward(self, x: Tensor) -> tuple[Tensor, dict]:
        f = self.enc(x)
        f_hat, tokens = self.quantize(f)
        commit = (f - f_hat.detach()).pow(2).flatten(1).mean(1)
        if self.cfg.ema_decay == 0:
            codebook = (f.detach() - f_hat).pow(2).flatten(1).mean(1)
        else:
            codebook = torch.zeros_like(commit)
        x_hat = self.dec(f + (f_hat - f).detach())  # straight-through estimator
        usage, ppl = usage_stats(tokens, self.cfg.codebook_size)
        return x_hat, {"commit": commit, "codebook": codebook, "usage": usage, "perplexity": ppl}

    def latents(self, x: Tensor) -> Tensor:
        """VQ: continuous encoder outputs, normalised: ``(z_e - shift) * scale``."""
        self._need("vq", "latents")
        return (self.enc(x) - self.cfg.shift) * self.cfg.scale

    def tokens_to_latent(self, tokens: Tensor) -> Tensor:
        """Tokens ``(B, N)`` -> quantized latent ``(B, D, T', h', w')``."""
        self._need("vq", "tokens_to_latent")
        d, *grid = self.latent_shape()
        if tokens.shape[1:] != (self.cfg.num_tokens(),):
            raise ValueError(
                f"expected {self.cfg.num_tokens()} tokens per clip, got {tokens.shape}"
            )
        q = self.books[0].lookup(tokens.reshape(-1))  # (B*N, D)
        return q.view(tokens.shape[0], *grid, d).permute(0, 4, 1, 2, 3)

    # ---------------------------------------------------------------- codec (DESIGN.md)
    def encode(self, x: Tensor, cond: dict | None = None) -> Tensor:
        """KL: normalised latents ``(mu - shift) * scale`` ``(B, *latent_shape)``; VQ:
        tokens ``(B, N)`` int64."""
        if self.cfg.quantizer == "vq":
            check_cond(cond, ())
            return self.quantize(self.enc(x), update=False)[1]
        mu, _ = self.posterior(x, cond)
        return (mu - self.cfg.shift) * self.cfg.scale

    def decode(self, z: Tensor, cond: dict | None = None) -> Tensor:
        """Clips ``(B, C, T, H, W)`` in [-1, 1] (not clamped) from normalised latents (KL)
        or tokens (VQ)."""
        if self.cfg.quantizer == "vq":
            return self.decoder(self.tokens_to_latent(z), cond)
        return self.mean_image(self.decoder(z / self.cfg.scale + self.cfg.shift, cond))

    def reconstruct(self, x: Tensor) -> Tensor:
        """The deterministic reconstruction ``(B, C, T, H, W)``: the decoded posterior mean
        (KL) or quantized latent (VQ; no codebook update)."""
        if self.cfg.quantizer == "vq":
            return self.dec(self.quantize(self.enc(x), update=False)[0])
        return self.mean_image(self.decoder(self.posterior(x)[0]))


class VideoPatchDiscriminator(nn.Module):
    """A video PatchGAN (Isola et al. 2017; Esser et al. 2021 in 3-D): two 3-D convolutions
    with kernel ``(3, 4, 4)`` and stride ``(1, 2, 2)`` (time kept, so each logit judges motion
    over a window of frames), then a 3x3x3 convolution to one logit per overlapping
    space-time patch; ``(B, C, T, H, W) -> (B,)``, the mean of the ``(B, 1, T, H/4, W/4)`` map.
    Not causal: it only trains the autoencoder."""

    def __init__(self, in_channels: int, channels: int = 32):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv3d(in_channels, c, (3, 4, 4), (1, 2, 2), 1),
            nn.LeakyReLU(0.2),
            nn.Conv3d(c, 2 * c, (3, 4, 4), (1, 2, 2), 1),
            norm(2 * c),
            nn.LeakyReLU(0.2),
            nn.Conv3d(2 * c, 1, 3, 1, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten(1).mean(1)
