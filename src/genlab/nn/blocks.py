"""Convolutional building blocks for 1-D, 2-D and 3-D signals, and residual attention.

``dims`` selects the rank: 1 for waveforms ``(B, C, L)``, 2 for images ``(B, C, H, W)``,
3 for video ``(B, C, T, H, W)``. Attention flattens all positions, so it is rank-agnostic;
its math is :func:`genlab.nn.attention.attend`.

**(2+1)-D video** (``factored=True``, ``dims=3``): convolutions are 2-D per frame (kernel
``1 x k x k``), each :class:`ResBlock` ends with a zero-initialised temporal convolution
(``3 x 1 x 1``), group norms normalise each frame alone (temporal attention: each pixel's
time series; :class:`VideoGroupNorm`), and attention runs within frames
(``mode="spatial"``) or across frames (``"temporal"``; :class:`SpaceTimeAttention` chains
the two). Only the temporal layers mix frames, so at initialisation the network is a
per-frame image network (Ho et al. 2022, "Video Diffusion Models", factorised space-time
U-Net; Singer et al. 2022, "Make-A-Video", pseudo-3-D convolution and attention layers
initialised to the identity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.nn.attention import attend, attend_space_time, merge_heads, split_heads, split_qkv

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def conv(
    dims: int, c_in: int, c_out: int, k: int = 3, stride: int = 1, *, factored: bool = False
) -> nn.Module:
    """A ``dims``-D convolution with 'same' padding for odd ``k``; ``factored`` (``dims=3``
    only): in space only, kernel ``1 x k x k`` and stride ``1 x s x s`` (each frame alone)."""
    if factored:
        pad = (0, k // 2, k // 2)
        return nn.Conv3d(c_in, c_out, (1, k, k), stride=(1, stride, stride), padding=pad)
    return _CONV[dims](c_in, c_out, k, stride=stride, padding=k // 2)


def temporal_conv(c_in: int, c_out: int, k: int = 3) -> nn.Conv3d:
    """A convolution along time only, kernel ``k x 1 x 1`` with 'same' (zero) padding:
    frame ``t`` of the output reads frames ``t - k//2 .. t + k//2`` (not causal)."""
    return nn.Conv3d(c_in, c_out, (k, 1, 1), padding=(k // 2, 0, 0))


class VideoGroupNorm(nn.GroupNorm):
    """GroupNorm on video ``(B, C, T, H, W)`` whose statistics stay within what a factored
    layer may mix: ``per="frame"`` over ``C/G x H x W`` of each frame (spatial layers: never
    mixes frames), ``per="pixel"`` over ``C/G x T`` of each pixel (temporal layers: never
    mixes positions). Parameters as ``nn.GroupNorm`` (``weight``, ``bias``)."""

    def __init__(self, groups: int, channels: int, per: str):
        super().__init__(groups, channels)
        if per not in ("frame", "pixel"):
            raise ValueError(f"per={per!r}: choose frame or pixel")
        self.per = per

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        if self.per == "frame":
            y = super().forward(x.transpose(1, 2).reshape(b * t, c, h, w))  # (B T, C, H, W)
            return y.view(b, t, c, h, w).transpose(1, 2)
        y = super().forward(x.permute(0, 3, 4, 1, 2).reshape(b * h * w, c, t))  # (B H W, C, T)
        return y.view(b, h, w, c, t).permute(0, 3, 4, 1, 2)


def norm(channels: int, groups: int = 32, *, per: str | None = None) -> nn.GroupNorm:
    """GroupNorm with at most ``groups`` groups that divide ``channels``; ``per`` (video
    only): a :class:`VideoGroupNorm` per ``"frame"`` or per ``"pixel"``."""
    g = min(groups, channels)
    while channels % g:
        g -= 1
    return nn.GroupNorm(g, channels) if per is None else VideoGroupNorm(g, channels, per)


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

    ``factored`` (video, ``dims=3``): the convolutions are per frame (``1 x 3 x 3``), the
    norms per frame, and the block ends with a temporal residual ``out + conv_t(SiLU(
    norm_t(out)))`` whose ``3 x 1 x 1`` convolution starts at zero (parameters ``norm_t``,
    ``conv_t``): the only place where a ResBlock mixes frames.
    """

    def __init__(
        self,
        dims: int,
        c_in: int,
        c_out: int,
        emb_dim: int,
        dropout: float = 0.0,
        *,
        factored: bool = False,
    ):
        super().__init__()
        f, per = factored, "frame" if factored else None
        self.norm1, self.conv1 = norm(c_in, per=per), conv(dims, c_in, c_out, factored=f)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.drop = norm(c_out, per=per), nn.Dropout(dropout)
        self.conv2 = zero_(conv(dims, c_out, c_out, factored=f))
        self.skip = conv(dims, c_in, c_out, k=1) if c_in != c_out else nn.Identity()
        self.factored = factored
        if factored:
            self.norm_t = norm(c_out, per="frame")  # so conv_t reaches one frame each side
            self.conv_t = zero_(temporal_conv(c_out, c_out))

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = (
            self.emb(F.silu(emb)).view(*emb.shape[:1], -1, *([1] * (x.ndim - 2))).chunk(2, 1)
        )
        h = self.norm2(h) * (1 + scale) + shift
        out = self.skip(x) + self.conv2(self.drop(F.silu(h)))
        if self.factored:  # (2+1)-D: mix neighbouring frames
            out = out + self.conv_t(F.silu(self.norm_t(out)))
        return out


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
    ``norm``, ``qkv``, ``out`` (checkpoint keys).

    ``mode`` (video ``(B, C, T, H, W)`` only, else ``"full"``): ``"spatial"`` attends
    within each frame and ``"temporal"`` across frames at each pixel
    (:func:`genlab.nn.attention.attend_space_time`), with a group norm per frame or per
    pixel (:class:`VideoGroupNorm`), so spatial attention never mixes frames and temporal
    attention never mixes pixels.
    """

    def __init__(self, channels: int, heads: int = 4, mode: str = "full"):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels {channels} not divisible by heads {heads}")
        if mode not in ("full", "spatial", "temporal"):
            raise ValueError(f"attention mode {mode!r}: choose from full, spatial, temporal")
        self.heads, self.mode = heads, mode
        self.norm = norm(channels, per={"full": None, "spatial": "frame"}.get(mode, "pixel"))
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = zero_(nn.Linear(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        b, c, *s = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, N, C), frame-major for video
        q, k, v = split_qkv(self.qkv(h), self.heads)  # (B, H, N, C/H)
        if self.mode == "full":
            a = attend(q, k, v)
        else:
            a = attend_space_time(q, k, v, s[0], self.mode)  # s[0]: the frames T
        return x + self.out(merge_heads(a)).transpose(1, 2).reshape(b, c, *s)


class SpaceTimeAttention(nn.Module):
    """Factorised space-time attention over video ``(B, C, T, H, W)``: a residual
    :class:`Attention` within each frame (``spatial``), then one across frames at each
    pixel (``temporal``), each with its own norm, projections and zero-initialised output
    (Ho et al. 2022, Video Diffusion Models)."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.spatial = Attention(channels, heads, mode="spatial")
        self.temporal = Attention(channels, heads, mode="temporal")

    def forward(self, x: Tensor) -> Tensor:
        return self.temporal(self.spatial(x))


class CrossAttention(nn.Module):
    """Residual cross-attention from every position of ``(B, C, *S)`` to context tokens
    (a prompt's token states), as Stable Diffusion's U-Net reads text (Rombach et al.
    2022, Eq. 3): ``x + out(attend(q(GN(x)), kv(context), key_mask))``; ``out`` starts at
    zero, so a new block passes ``x`` through unchanged. Padding keys (``key_mask`` False)
    are never attended; a sample with no real key (the empty prompt of a word-level
    encoder) gets nothing added. Parameters ``norm``, ``q``, ``kv``, ``out``."""

    def __init__(self, channels: int, context_dim: int, heads: int = 4, *, per_frame: bool = False):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels {channels} not divisible by heads {heads}")
        self.heads = heads
        self.norm = norm(channels, per="frame" if per_frame else None)  # (2+1)-D video
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
    """Strided 3x3 convolution halving every spatial size (rounding up); ``factored``
    (video): height and width only, every frame kept."""

    def __init__(self, dims: int, channels: int, *, factored: bool = False):
        super().__init__()
        self.conv = conv(dims, channels, channels, stride=2, factored=factored)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour resize to ``size`` (the matching skip's size) then a 3x3 conv,
    so odd sizes (28 -> 14 -> 7 -> 4) come back exactly; ``factored``: a per-frame conv."""

    def __init__(self, dims: int, channels: int, *, factored: bool = False):
        super().__init__()
        self.conv = conv(dims, channels, channels, factored=factored)

    def forward(self, x: Tensor, size: tuple[int, ...]) -> Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class ConvUpsample(nn.Module):
    """3x3 convolution at the *low* resolution (``c_in -> c_out``), then nearest resize to
    ``size``. The convolution runs on ``2^-dims`` of the positions of resize-then-conv,
    and the decoder's next block sees ``c_out`` instead of ``c_in`` channels; ``factored``:
    a per-frame conv."""

    def __init__(self, dims: int, c_in: int, c_out: int, *, factored: bool = False):
        super().__init__()
        self.conv = conv(dims, c_in, c_out, factored=factored)

    def forward(self, x: Tensor, size: tuple[int, ...]) -> Tensor:
        return F.interpolate(self.conv(x), size=size, mode="nearest")
