"""Patchify and unpatchify for 1-D, 2-D and 3-D signals.

``patchify(x (B, C, *S), p) -> (B, N, C * p^d)`` cuts every spatial axis of length
``S_i`` into ``S_i / p`` patches of ``p`` (``d = len(S)``, ``N = prod(S_i / p)``), in
row-major patch order with features ordered ``(C, p, ..., p)``. ``unpatchify`` is its
exact inverse. The same two functions serve waveforms ``(B, C, L)``, images and video.
"""

from __future__ import annotations

from torch import Tensor


def patchify(x: Tensor, p: int) -> Tensor:
    """``(B, C, *S) -> (B, N, C p^d)``; every ``S_i`` must be divisible by ``p``."""
    b, c, *s = x.shape
    d = len(s)
    if any(n % p for n in s):
        raise ValueError(f"spatial size {tuple(s)} is not divisible by patch size {p}")
    g = [n // p for n in s]
    # (B, C, g1, p, g2, p, ...) -> (B, g1, g2, ..., C, p, p, ...)
    x = x.reshape(b, c, *[v for n in g for v in (n, p)])
    grid_axes = [2 + 2 * i for i in range(d)]
    patch_axes = [3 + 2 * i for i in range(d)]
    x = x.permute(0, *grid_axes, 1, *patch_axes)
    return x.reshape(b, -1, c * p**d)


def unpatchify(tokens: Tensor, p: int, channels: int, size: tuple[int, ...]) -> Tensor:
    """``(B, N, C p^d) -> (B, C, *size)``, the inverse of :func:`patchify`."""
    b, d = tokens.shape[0], len(size)
    g = [n // p for n in size]
    x = tokens.reshape(b, *g, channels, *([p] * d))
    # (B, g1, ..., gd, C, p1, ..., pd) -> (B, C, g1, p1, g2, p2, ...)
    order = [0, d + 1]
    for i in range(d):
        order += [1 + i, d + 2 + i]
    return x.permute(*order).reshape(b, channels, *size)
