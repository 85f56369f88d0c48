"""Latent-space walks for any latent model (GAN generators, VAE decoders, ...).

- :func:`lerp`: the linear path ``z_t = t z0 + (1 - t) z1`` (so ``t = 1`` is ``z0`` and
  ``t = 0`` is ``z1``, as written in the seed text).
- :func:`slerp`: the spherical path (Shoemake 1985; White 2016 for GAN latents), which
  keeps ``|z|`` near the typical shell of a Gaussian latent instead of cutting through
  the low-density centre: ``z_t = sin(t W) / sin W z0 + sin((1-t) W) / sin W z1`` with
  ``cos W = <z0, z1> / (|z0| |z1|)`` (same ``t`` convention as :func:`lerp`).
- :func:`interpolate`: decode a path with any ``decode(z) -> x`` callable and write an
  image strip (PNG) and an animated GIF.
- :func:`style_mixing_grid`: StyleGAN's coarse/fine style mixing table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from genlab.viz import save_gif, save_grid


def lerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """``z_t = t z0 + (1 - t) z1`` for ``t`` of shape ``(T,)``: ``(*S), (*S) -> (T, *S)``."""
    t = t.to(z0).view(-1, *([1] * z0.ndim))
    return t * z0 + (1 - t) * z1


def slerp(z0: Tensor, z1: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation, ``(*S), (*S), (T,) -> (T, *S)``; ``t = 1`` gives ``z0``.

    Falls back to :func:`lerp` when ``z0`` and ``z1`` are (anti)parallel (``sin W ~ 0``).
    Computed in float64 and cast back.
    """
    a, b = z0.double().flatten(), z1.double().flatten()
    cos = (a @ b) / (a.norm() * b.norm()).clamp_min(eps)
    w = torch.arccos(cos.clamp(-1, 1))
    sw = torch.sin(w)
    if sw.abs() < 1e-6:
        return lerp(z0, z1, t)
    td = t.double().view(-1, 1)
    out = (torch.sin(td * w) / sw) * a + (torch.sin((1 - td) * w) / sw) * b  # (T, N)
    return out.view(len(t), *z0.shape).to(z0.dtype)


PATHS = {"linear": lerp, "spherical": slerp}


@torch.no_grad()
def interpolate(
    decode: Callable[[Tensor], Tensor],
    z0: Tensor,
    z1: Tensor,
    steps: int = 8,
    kind: str = "spherical",
    strip: Path | None = None,
    gif: Path | None = None,
    fps: int = 8,
) -> Tensor:
    """Decode ``steps`` points from ``z1`` (t = 0) to ``z0`` (t = 1).

    Args:
        decode: ``(T, *S) latents -> (T, C, H, W)`` images in [-1, 1].
        z0, z1: one latent each, shape ``(*S)``.
        kind: "linear" or "spherical".
        strip: if given, write the frames as one PNG row there.
        gif: if given, write an animated GIF there (forwards then backwards).
    Returns:
        ``(T, C, H, W)`` decoded frames.
    """
    if kind not in PATHS:
        raise ValueError(f"interpolation kind {kind!r}: choose from {', '.join(PATHS)}")
    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    x = decode(PATHS[kind](z0, z1, t)).cpu()
    if strip is not None:
        save_grid(x, strip, nrow=steps)
    if gif is not None:
        save_gif(torch.cat([x, x.flip(0)[1:-1]]), gif, fps=fps)
    return x


@torch.no_grad()
def style_mixing_grid(
    synthesize: Callable[[Tensor], Tensor],
    w_rows: Tensor,
    w_cols: Tensor,
    crossover: int,
    path: Path | None = None,
) -> Tensor:
    """StyleGAN style mixing (Karras et al. 2019, Fig. 3) as a picture.

    Args:
        synthesize: ``(B, L, W) per-layer styles -> (B, C, H, W)`` images.
        w_rows: ``(R, L, W)`` styles of the row sources ("destination").
        w_cols: ``(K, L, W)`` styles of the column sources.
        crossover: layers ``< crossover`` take the column's style (coarse styles from
            the column source), the rest the row's.
        path: where to write the grid PNG: first row = column sources, first column =
            row sources, cell (r, k) = the mix.
    Returns:
        ``(R + 1, K + 1, C, H, W)`` images (the top-left cell is blank, -1).
    """
    r, k = len(w_rows), len(w_cols)
    rows_img, cols_img = synthesize(w_rows), synthesize(w_cols)  # (R, ...), (K, ...)
    w = w_rows[:, None].repeat(1, k, 1, 1)  # (R, K, L, W)
    w[:, :, :crossover] = w_cols[None, :, :crossover]
    mixed = synthesize(w.flatten(0, 1)).view(r, k, *rows_img.shape[1:])
    grid = torch.full((r + 1, k + 1, *rows_img.shape[1:]), -1.0, dtype=mixed.dtype)
    grid[0, 1:], grid[1:, 0], grid[1:, 1:] = cols_img.cpu(), rows_img.cpu(), mixed.cpu()
    if path is not None:
        save_grid(grid.flatten(0, 1), path, nrow=k + 1)
    return grid
