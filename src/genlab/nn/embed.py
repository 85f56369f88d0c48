"""Time and label embeddings, and the conditioning-dict check every network uses."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal(t: Tensor, dim: int, scale: float = 1000.0, max_period: float = 10_000.0) -> Tensor:
    """Transformer-style sinusoidal features of a scalar per sample.

    Args:
        t: ``(B,)`` times (any float dtype); multiplied by ``scale`` first so that
            t in [0, 1] spans the range DDPM's integer steps did.
        dim: output width (even).
    Returns:
        ``(B, dim)`` float32 ``[cos(s*f_k), sin(s*f_k)]`` with log-spaced frequencies.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = (t.float() * scale)[:, None] * freqs[None]
    return torch.cat([args.cos(), args.sin()], dim=1)


def sincos_grid(grid: tuple[int, ...], dim: int, max_period: float = 10_000.0) -> Tensor:
    """Fixed sine-cosine position embedding of a token grid, as ViT and DiT use
    (Peebles & Xie 2023, Sec. 3.2; MAE's 2-D version): the width is split equally among
    the axes, and each axis's integer coordinate gets :func:`sinusoidal` features of its
    share (``scale=1``).

    Args:
        grid: tokens per axis, e.g. ``(8, 8)`` (row-major order, as ``patchify``).
        dim: embedding width, divisible by ``2 * len(grid)``.
    Returns:
        ``(1, prod(grid), dim)`` float32, values in [-1, 1].
    Raises:
        ValueError: ``dim`` not divisible by ``2 * len(grid)``.
    """
    if dim % (2 * len(grid)):
        raise ValueError(f"sincos_grid: width {dim} is not divisible by 2 x {len(grid)} axes")
    share = dim // len(grid)
    coords = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in grid), indexing="ij")
    parts = [sinusoidal(c.reshape(-1), share, 1.0, max_period) for c in coords]  # (N, share)
    return torch.cat(parts, dim=1)[None]


class TimeEmbedding(nn.Module):
    """``(B,)`` time -> ``(B, dim)``: sinusoidal features then a two-layer SiLU MLP."""

    def __init__(self, dim: int, freq_dim: int = 128):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal(t, self.freq_dim))


class LabelEmbedding(nn.Module):
    """Class labels ``(B,)`` -> ``(B, dim)``; label ``num_classes`` is the null class
    used for classifier-free guidance (its own learned row)."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, dim)

    def forward(self, label: Tensor) -> Tensor:
        if label.dtype != torch.int64:
            raise TypeError(f"cond['class'] must be int64 labels, got {label.dtype}")
        return self.table(label)


def check_cond(cond: dict | None, allowed: tuple[str, ...]) -> dict:
    """Return ``cond`` (or ``{}``), failing on keys the network does not take, so a
    misspelt conditioning key is an error rather than silently ignored."""
    cond = cond or {}
    extra = sorted(set(cond) - set(allowed))
    if extra:
        raise KeyError(f"unexpected conditioning keys {extra}; this network takes {list(allowed)}")
    return cond


def class_embedding(emb: LabelEmbedding | None, cond: dict, batch: int, device) -> Tensor | None:
    """The label embedding of ``cond['class']``; a missing label means the null class."""
    if emb is None:
        return None
    label = cond.get("class")
    if label is None:
        label = torch.full((batch,), emb.num_classes, dtype=torch.int64, device=device)
    return emb(label)


def masked_mean(states: Tensor, mask: Tensor) -> Tensor:
    """``(B, L, D), (B, L) -> (B, D)``: the mean of the real tokens' states (0 for none)."""
    m = mask[..., None].to(states.dtype)
    return (states * m).sum(1) / m.sum(1).clamp(min=1)
