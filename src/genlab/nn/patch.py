"""Patchify and unpatchify for 1-D, 2-D and 3-D signals, with one patch size per axis.

``patchify(x (B, C, *S), p) -> (B, N, C * prod(p))`` cuts every spatial axis of length
``S_i`` into ``S_i / p_i`` patches of ``p_i`` (``d = len(S)``, ``N = prod(S_i / p_i)``), in
row-major patch order with features ordered ``(C, p_1, ..., p_d)``. ``p`` is an int (the
same size on every axis) or a tuple of ``d`` sizes, e.g. ``(2, 4, 4)`` for video ``(B, C,
T, H, W)``: 2 frames by 4 x 4 pixels per patch, tokens frame-major (token ``t * S + s`` is
spatial patch ``s`` of temporal slice ``t``). ``unpatchify`` is its exact inverse. The same
two functions serve waveforms ``(B, C, L)``, images and video.
"""

from __future__ import annotations

import math

from torch import Tensor


def patch_sizes(p: int | tuple[int, ...], d: int) -> tuple[int, ...]:
    """``p`` as one size per axis: an int repeated ``d`` times, or a tuple of ``d`` sizes.
    Raises ValueError for a tuple of the wrong length or a size below 1."""
    ps = (p,) * d if isinstance(p, int) else tuple(p)
    if len(ps) != d or min(ps) < 1:
        raise ValueError(f"patch size {p} does not give one positive size to each of {d} axes")
    return ps


def patchify(x: Tensor, p: int | tuple[int, ...]) -> Tensor:
    """``(B, C, *S) -> (B, N, C prod(p))``; every ``S_i`` must be divisible by ``p_i``.

    Raises ValueError for a size not divisible by its patch, or a bad ``p``."""
    b, c, *s = x.shape
    d = len(s)
    ps = patch_sizes(p, d)
    if any(n % q for n, q in zip(s, ps)):
        raise ValueError(f"spatial size {tuple(s)} is not divisible by patch size {p}")
    g = [n // q for n, q in zip(s, ps)]
    # (B, C, g1, p1, g2, p2, ...) -> (B, g1, g2, ..., C, p1, p2, ...)
    x = x.reshape(b, c, *[v for n, q in zip(g, ps) for v in (n, q)])
    grid_axes = [2 + 2 * i for i in range(d)]
    patch_axes = [3 + 2 * i for i in range(d)]
    x = x.permute(0, *grid_axes, 1, *patch_axes)
    return x.reshape(b, -1, c * math.prod(ps))


def unpatchify(
    tokens: Tensor, p: int | tuple[int, ...], channels: int, size: tuple[int, ...]
) -> Tensor:
    """``(B, N, C prod(p)) -> (B, C, *size)``, the inverse of :func:`patchify`."""
    b, d = tokens.shape[0], len(size)
    ps = patch_sizes(p, d)
    g = [n // q for n, q in zip(size, ps)]
    x = tokens.reshape(b, *g, channels, *ps)
    # (B, g1, ..., gd, C, p1, ..., pd) -> (B, C, g1, p1, g2, p2, ...)
    order = [0, d + 1]
    for i in range(d):
        order += [1 + i, d + 2 + i]
    return x.permute(*order).reshape(b, channels, *size)
