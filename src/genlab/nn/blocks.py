"""Convolutional building blocks for 1-D, 2-D and 3-D signals, and residual attention.

``dims`` selects the rank: 1 for waveforms ``(B, C, L)``, 2 for images ``(B, C, H, W)``,
3 for video ``(B, C, T, H, W)``. Attention flattens all positions, so it is rank-agnostic;
its math is :func:`genlab.nn.attention.attend`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.nn.attention import attend, merge_heads, split_heads, split_qkv

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def conv(dims: int, c_in: int, c_out: int, k: int = 3, stride: int = 1) -> nn.Module:
    """A ``dims``-D convolution with 'same' padding for odd ``k``."""
    return _CONV[dims](c_in, c_out, k, stride=stride, padding=k // 2)


def norm(channels: int, groups: int = 32) -> nn.GroupNorm:
    """GroupNorm with at most ``groups`` groups that divide ``channels``."""
    g = min(groups, channels)
    while channels % g:
        g -= 1
    return nn.GroupNorm(g, channels)


def zero_(module: nn.Module) -> nn.Module:
    """Zero a module's parameters in place (residual branches start as the identity)."""
    for p in module.parameters():
        p.detach().zero_()
    return module


class ResBlock(nn.Module):
    """Pre-norm residual block with scale/shift conditioning on an embedding.

    ``h = conv(SiLU(GN(x))); h = GN(h) * (1 + scale) + shift; out = x + conv(SiLU(h))``
    (the adaptive group norm of Dhariwal & Nichol 2021). x: ``(B, C_in, *S)``,
    emb: ``(B, E)`` -> ``(B, C_out, *S)``.
    """

    def __init__(self, dims: int, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.conv1 = norm(c_in), conv(dims, c_in, c_out)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.drop = norm(c_out), nn.Dropout(dropout)
        self.conv2 = zero_(conv(dims, c_out, c_out))
        self.skip = conv(dims, c_in, c_out, k=1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = (
            self.emb(F.silu(emb)).view(*emb.shape[:1], -1, *([1] * (x.ndim - 2))).chunk(2, 1)
        )
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(self.drop(F.silu(h)))


def minibatch_std(x: Tensor, group: int = 4) -> Tensor:
    """Append the minibatch standard deviation as one extra channel (Karras et al. 2018).

    Samples are split into groups of ``group`` (the batch must divide; smaller batches use
    one group); the std over each group, averaged over channels and positions, becomes a
    constant feature map. ``(B, C, *S) -> (B, C + 1, *S)``; points ``(B, D) -> (B, D + 1)``.
    """
    b = x.shape[0]
    g = min(group, b)
    if b % g:
        g = b
    y = x.reshape(g, b // g, *x.shape[1:])  # (G, B/G, C, *S): member k of every group
    std = (y.var(0, unbiased=False) + 1e-8).sqrt()  # (B/G, C, *S)
    s = std.flatten(1).mean(1)  # (B/G,)
    s = s.repeat(g).view(b, *([1] * (x.ndim - 1)))  # sample i belongs to group i % (B/G)
    feat = s.expand(b, 1, *x.shape[2:]) if x.ndim > 2 else s
    return torch.cat([x, feat], 1)


class Attention(nn.Module):
    """Multi-head self-attention over all positions of ``(B, C, *S)`` with a residual
    connection: ``x + out(attend(qkv(GN(x))))``; ``out`` starts at zero. Parameters
    ``norm``, ``qkv``, ``out`` (checkpoint keys)."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels {channels} not divisible by heads {heads}")
        self.heads = heads
        self.norm = norm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = zero_(nn.Linear(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        b, c, *s = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, N, C)
        a = merge_heads(attend(*split_qkv(self.qkv(h), self.heads)))  # (B, N, C)
        return x + self.out(a).transpose(1, 2).reshape(b, c, *s)


class CrossAttention(nn.Module):
    """Residual cross-attention from every position of ``(B, C, *S)`` to context tokens
    (a prompt's token states), as Stable Diffusion's U-Net reads text (Rombach et al.
    2022, Eq. 3): ``x + out(attend(q(GN(x)), kv(context), key_mask))``; ``out`` starts at
    zero, so a new block passes ``x`` through unchanged. Padding keys (``key_mask`` False)
    are never attended; a sample with no real key (the empty prompt of a word-level
    encoder) gets nothing added. Parameters ``norm``, ``q``, ``kv``, ``out``."""

    def __init__(self, channels: int, context_dim: int, heads: int = 4):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels {channels} not divisible by heads {heads}")
        self.heads = heads
        self.norm = norm(channels)
        self.q = nn.Linear(channels, channels)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.out = zero_(nn.Linear(channels, channels))

    def forward(self, x: Tensor, context: Tensor, key_mask: Tensor | None = None) -> Tensor:
        """``x`` ``(B, C, *S)``, ``context`` ``(B, L, D)``, ``key_mask`` ``(B, L)`` bool."""
        b, c, *s = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, N, C)
        q = split_heads(self.q(h), self.heads)  # (B, H, N, d)
        k, v = (split_heads(t, self.heads) for t in self.kv(context).chunk(2, -1))  # (B, H, L, d)
        a = merge_heads(attend(q, k, v, key_mask=key_mask))  # (B, N, C)
        return x + self.out(a).transpose(1, 2).reshape(b, c, *s)


class Downsample(nn.Module):
    """Strided 3x3 convolution halving every spatial size (rounding up)."""

    def __init__(self, dims: int, channels: int):
        super().__init__()
        self.conv = conv(dims, channels, channels, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour resize to ``size`` (the matching skip's size) then a 3x3 conv,
    so odd sizes (28 -> 14 -> 7 -> 4) come back exactly."""

    def __init__(self, dims: int, channels: int):
        super().__init__()
        self.conv = conv(dims, channels, channels)

    def forward(self, x: Tensor, size: tuple[int, ...]) -> Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class ConvUpsample(nn.Module):
    """3x3 convolution at the *low* resolution (``c_in -> c_out``), then nearest resize to
    ``size``. The convolution runs on ``2^-dims`` of the positions of resize-then-conv,
    and the decoder's next block sees ``c_out`` instead of ``c_in`` channels."""

    def __init__(self, dims: int, c_in: int, c_out: int):
        super().__init__()
        self.conv = conv(dims, c_in, c_out)

    def forward(self, x: Tensor, size: tuple[int, ...]) -> Tensor:
        return F.interpolate(self.conv(x), size=size, mode="nearest")
