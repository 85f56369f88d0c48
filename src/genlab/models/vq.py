"""VQ-VAE (van den Oord et al. 2017) with EMA codebooks, dead-code restarts, residual VQ
(several codebooks in sequence; Zeghidour et al. 2021) and the multi-scale residual
quantizer of VAR (Tian et al. 2024) that shares one codebook over scales 1x1 ... g x g.

- Encoder: strided convolutions to a ``(code_dim, g, g)`` grid, ``g = S / 2**levels``.
- Quantizer: nearest code in L2; the decoder sees ``z_e + sg(z_q - z_e)`` (straight-through
  estimator), so reconstruction gradients reach the encoder.
- EMA codebook (van den Oord et al. 2017, appendix A.1): per code, counts
  ``N <- g N + (1-g) n`` and sums ``m <- g m + (1-g) sum z``; code ``= m / N`` (counts
  Laplace-smoothed). With ``ema_decay = 0`` the codebook is a parameter trained by the
  codebook loss instead.
- Dead codes: a code whose EMA count falls below ``restart_threshold`` is moved onto a
  random encoder output of the current batch. Counts start at zero, so the first training
  step initialises every code from data.

Tokens (``(B, N)`` int64, DESIGN.md): single VQ: ``N = g*g`` row-major; residual VQ with
``depth`` codebooks: position-major, depth inner (``N = g*g*depth``); multi-scale:
scales concatenated coarse to fine (``N = sum s*s``). ``encode(x) -> tokens``,
``decode(tokens) -> images`` in [-1, 1]; ``latents(x)`` gives the continuous ``z_e``
normalised by the config's ``scale`` / ``shift``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.configs import VQConfig
from genlab.models.vae import conv_decoder, conv_encoder


class Codebook(nn.Module):
    """``K`` codes of size ``D``; ``forward(z (N, D)) -> (z_q (N, D), index (N,))``,
    updating the codes by EMA (and restarting dead ones) in training mode."""

    def __init__(self, k: int, d: int, decay: float, threshold: float, eps: float = 1e-5):
        super().__init__()
        self.k, self.decay, self.threshold, self.eps = k, decay, threshold, eps
        init = torch.randn(k, d) / d**0.5
        if decay > 0:
            self.register_buffer("codes", init)
            self.register_buffer("ema_count", torch.zeros(k))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codes = nn.Parameter(init)
            self.register_buffer("ema_count", torch.zeros(k))  # usage only

    def nearest(self, z: Tensor) -> Tensor:
        """Index of the nearest code, ``(N, D) -> (N,)``."""
        c = self.codes.detach()
        d2 = z.pow(2).sum(1, keepdim=True) - 2 * z @ c.T + c.pow(2).sum(1)[None]
        return d2.argmin(1)

    def lookup(self, index: Tensor) -> Tensor:
        return F.embedding(index, self.codes)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        if self.training:
            self._update(z.detach())
        index = self.nearest(z.detach())
        return self.lookup(index), index

    @torch.no_grad()
    def _update(self, z: Tensor) -> None:
        index = self.nearest(z)
        onehot = F.one_hot(index, self.k).to(z.dtype)  # (N, K)
        count = onehot.sum(0)
        g = self.decay if self.decay > 0 else 0.99
        self.ema_count.mul_(g).add_(count, alpha=1 - g)
        if self.decay > 0:
            self.ema_sum.mul_(g).add_(onehot.T @ z, alpha=1 - g)
            n = self.ema_count.sum()
            smoothed = (self.ema_count + self.eps) / (n + self.k * self.eps) * n
            self.codes.copy_(self.ema_sum / smoothed[:, None])
        dead = self.ema_count < self.threshold
        if dead.any():  # restart onto random encoder outputs (global RNG: seeded by the loop)
            pick = z[torch.randint(0, len(z), (int(dead.sum()),), device=z.device)]
            self.codes.data[dead] = pick
            self.ema_count[dead] = 1.0
            if self.decay > 0:
                self.ema_sum[dead] = pick


def usage_stats(index: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Fraction of the ``k`` codes used in ``index``, and the perplexity ``exp(H(p))`` of
    the empirical code distribution."""
    p = torch.bincount(index.flatten(), minlength=k).float()
    p = p / p.sum()
    h = -(p[p > 0] * p[p > 0].log()).sum()
    return (p > 0).float().mean(), h.exp()


def to_vectors(f: Tensor) -> Tensor:
    """``(B, D, h, w) -> (B*h*w, D)``."""
    return f.permute(0, 2, 3, 1).reshape(-1, f.shape[1])


def to_grid(v: Tensor, b: int, h: int) -> Tensor:
    """``(B*h*h, D) -> (B, D, h, h)``."""
    return v.view(b, h, h, -1).permute(0, 3, 1, 2)


def upsample(q: Tensor, g: int) -> Tensor:
    return q if q.shape[-1] == g else F.interpolate(q, size=(g, g), mode="bicubic")


def ms_decode(codes: Tensor, tokens: Tensor, scales: tuple[int, ...], g: int) -> Tensor:
    """Multi-scale tokens ``(B, sum s*s)`` -> the summed latent ``f_hat (B, D, g, g)``,
    with ``codes (K, D)`` the shared codebook."""
    b, f_hat, at = tokens.shape[0], 0, 0
    for s in scales:
        q = to_grid(F.embedding(tokens[:, at : at + s * s].reshape(-1), codes), b, s)
        f_hat = f_hat + upsample(q, g)
        at += s * s
    return f_hat


def ms_next_inputs(codes: Tensor, tokens: Tensor, scales: tuple[int, ...], g: int) -> Tensor:
    """VAR's teacher-forcing inputs: for each scale k >= 2, the sum of scales ``< k``
    upsampled to ``g`` and area-resized to ``s_k``; ``(B, sum_{k>=2} s_k^2, D)``. Only the
    tokens of scales before the last are read."""
    b, f_hat, at, out = tokens.shape[0], 0, 0, []
    for s, s_next in zip(scales[:-1], scales[1:]):
        q = to_grid(F.embedding(tokens[:, at : at + s * s].reshape(-1), codes), b, s)
        f_hat = f_hat + upsample(q, g)
        at += s * s
        out.append(F.adaptive_avg_pool2d(f_hat, s_next).flatten(2).transpose(1, 2))
    return torch.cat(out, 1)


class VQVAE(nn.Module):
    """``forward(x (B, C, S, S)) -> (x_hat, stats)`` with per-sample ``commit`` and
    ``codebook`` terms ``(B,)`` and the batch's ``usage`` and ``perplexity``."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.cfg = cfg
        self.enc = conv_encoder(cfg.in_channels, cfg.channels, cfg.levels, cfg.code_dim)
        self.dec = conv_decoder(cfg.code_dim, cfg.channels, cfg.levels, cfg.in_channels)
        self.books = nn.ModuleList(
            Codebook(cfg.codebook_size, cfg.code_dim, cfg.ema_decay, cfg.restart_threshold)
            for _ in range(cfg.depth)
        )

    def quantize(self, f: Tensor) -> tuple[Tensor, Tensor]:
        """``f (B, D, g, g) -> (f_hat (B, D, g, g), tokens (B, N))`` (no straight-through)."""
        b, g, cfg = f.shape[0], f.shape[-1], self.cfg
        if cfg.scales:
            book, f_hat, toks = self.books[0], torch.zeros_like(f), []
            for s in cfg.scales:
                r = F.adaptive_avg_pool2d(f - f_hat, s)  # area-downsampled residual
                q, idx = book(to_vectors(r))
                f_hat = f_hat + upsample(to_grid(q, b, s), g)
                toks.append(idx.view(b, s * s))
            return f_hat, torch.cat(toks, 1)
        r, f_hat, toks = to_vectors(f), 0, []
        for book in self.books:
            q, idx = book(r)
            f_hat, r = f_hat + q, r - q
            toks.append(idx.view(b, g * g))
        return to_grid(f_hat, b, g), torch.stack(toks, -1).reshape(b, -1)

    def forward(self, x: Tensor) -> tuple[Tensor, dict]:
        f = self.enc(x)
        f_hat, tokens = self.quantize(f)
        commit = (f - f_hat.detach()).pow(2).flatten(1).mean(1)
        codebook = (f.detach() - f_hat).pow(2).flatten(1).mean(1) if self.cfg.ema_decay == 0 else 0
        x_hat = self.dec(f + (f_hat - f).detach())  # straight-through estimator
        usage, ppl = usage_stats(tokens, self.cfg.codebook_size)
        stats = {"commit": commit, "codebook": codebook * torch.ones_like(commit)}
        return x_hat, {**stats, "usage": usage, "perplexity": ppl}

    # ---------------------------------------------------------------- codec (DESIGN.md)
    def latents(self, x: Tensor) -> Tensor:
        """Continuous encoder outputs, normalised: ``(z_e - shift) * scale``."""
        return (self.enc(x) - self.cfg.shift) * self.cfg.scale

    def encode(self, x: Tensor) -> Tensor:
        """Images ``(B, C, S, S)`` -> tokens ``(B, N)`` int64."""
        return self.quantize(self.enc(x))[1]

    def tokens_to_latent(self, tokens: Tensor) -> Tensor:
        """Tokens ``(B, N)`` -> quantized latent ``(B, D, g, g)``."""
        cfg, b, g = self.cfg, tokens.shape[0], self.cfg.grid()
        if tokens.shape[1] != cfg.num_tokens():
            raise ValueError(f"expected {cfg.num_tokens()} tokens per sample, got {tokens.shape}")
        if cfg.scales:
            return ms_decode(self.books[0].codes, tokens, cfg.scales, g)
        t = tokens.view(b, g * g, cfg.depth)
        v = sum(book.lookup(t[..., i].reshape(-1)) for i, book in enumerate(self.books))
        return to_grid(v, b, g)

    def decode(self, tokens: Tensor) -> Tensor:
        """Tokens ``(B, N)`` -> images ``(B, C, S, S)``."""
        return self.dec(self.tokens_to_latent(tokens))
