"""Random inpainting masks for training a mask-conditioned denoiser, after Stable
Diffusion's inpainting models (synthetic masks; a quarter of the samples have everything
masked, so the model stays a plain generator) and LaMa's mask families (Suvorov et al.
2022: wide strokes and boxes; here also outpainting bands).

Masks are ``(B, 1, H, W)`` float32, 1 = to generate, 0 = known (the white-is-repaint
convention of ``genlab.sampling.edit``). For video ``(B, C, T, H, W)`` the masks are
``(B, 1, T, H, W)`` and hide every frame after the first ``k`` (:func:`frame_masks`): a
network trained on them predicts the future from a clean past, which is frame prediction
and, window by window, autoregressive rollout (``genlab.sampling.video``; the
"context frames given clean" variant of Ho et al. 2022, Video Diffusion Models, Sec. 3.1,
here with the context in the mask channels, as Voleti et al. 2022, MCVD).

Every draw comes from the loss's ``generator``, so masks are deterministic per step and
resume exactly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.sampling.video import future_mask

MASK_KINDS = ("box", "strokes", "band")


def _u(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def box_mask(h: int, w: int, g: torch.Generator) -> Tensor:
    """One axis-aligned rectangle with sides in [1/4, 3/4] of the image's, anywhere."""
    bh, bw = round(_u(g, 0.25, 0.75) * h), round(_u(g, 0.25, 0.75) * w)
    y, x = round(_u(g) * (h - bh)), round(_u(g) * (w - bw))
    m = torch.zeros(h, w)
    m[y : y + bh, x : x + bw] = 1
    return m


def stroke_mask(h: int, w: int, g: torch.Generator) -> Tensor:
    """One to three free-form strokes: polylines of 3-6 segments of about a quarter of
    the side each, with radius 1/16 to 1/8 of the side (LaMa's "wide" masks, smaller)."""
    yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    pix = torch.stack([yy.flatten(), xx.flatten()], 1)  # (HW, 2)
    m = torch.zeros(h * w, dtype=torch.bool)
    side = min(h, w)
    for _ in range(1 + int(_u(g) * 3)):
        p = torch.tensor([_u(g) * h, _u(g) * w])
        radius = _u(g, side / 16, side / 8)
        pts = [p]
        for _ in range(3 + int(_u(g) * 4)):
            angle, length = _u(g, 0, 2 * math.pi), _u(g, 0.15, 0.35) * side
            p = p + length * torch.tensor([math.sin(angle), math.cos(angle)])
            p = torch.stack([p[0].clamp(0, h), p[1].clamp(0, w)])
            pts.append(p)
        steps = torch.linspace(0, 1, 16)[:, None]
        dense = torch.cat([torch.lerp(a, b, steps) for a, b in zip(pts, pts[1:])])  # (16K, 2)
        m |= torch.cdist(pix, dense).min(1).values <= max(radius, 0.75)
    return m.view(h, w).float()


def band_mask(h: int, w: int, g: torch.Generator) -> Tensor:
    """An outpainting band: 1/4 to 1/2 of the image along one side."""
    side = int(_u(g) * 4)
    frac = _u(g, 0.25, 0.5)
    m = torch.zeros(h, w)
    if side == 0:
        m[:, : round(frac * w)] = 1
    elif side == 1:
        m[:, w - round(frac * w) :] = 1
    elif side == 2:
        m[: round(frac * h)] = 1
    else:
        m[h - round(frac * h) :] = 1
    return m


MAKERS = {"box": box_mask, "strokes": stroke_mask, "band": band_mask}  # one per MASK_KINDS


def random_masks(n: int, h: int, w: int, generator: torch.Generator, full_p: float = 0.25):
    """``(n, 1, h, w)`` masks: with probability ``full_p`` everything (plain generation),
    else a box, strokes or a band with equal probability."""
    out = []
    for _ in range(n):
        if _u(generator) < full_p:
            out.append(torch.ones(h, w))
        else:
            kind = MASK_KINDS[int(_u(generator) * len(MASK_KINDS))]
            out.append(MAKERS[kind](h, w, generator))
    return torch.stack(out)[:, None]


def frame_masks(
    n: int, frames: int, h: int, w: int, generator: torch.Generator, full_p: float = 0.25,
    context: int = 0,
) -> Tensor:  # fmt: skip
    """``(n, 1, frames, h, w)`` video masks: with probability ``full_p`` everything (plain
    generation), else the first ``k`` frames known and the rest to generate, with
    ``k = context`` when it is positive and ``k`` uniform in ``[1, frames - 1]`` when 0."""
    out = []
    for _ in range(n):
        if _u(generator) < full_p:
            k = 0
        elif context:
            k = context
        else:
            k = 1 + int(_u(generator) * (frames - 1))
        out.append(future_mask(frames, k, h, w)[0])
    return torch.stack(out)


def with_inpaint_cond(
    batch: dict, generator: torch.Generator, full_p: float = 0.25, context: int = 0
) -> dict:
    """``batch`` with ``cond["mask"]`` ``(B, 1, *S)`` and ``cond["image"]`` ``(B, C, *S)``,
    the sample with the masked pixels set to 0 (mid grey; Stable Diffusion's masked
    image). Images get :func:`random_masks`; video ``(B, C, T, H, W)`` gets
    :func:`frame_masks` with ``context`` known frames (0: a random number)."""
    x = batch["x"]
    if x.ndim == 5:
        t, h, w = x.shape[2:]
        m = frame_masks(len(x), t, h, w, generator, full_p, context).to(x)
    else:
        m = random_masks(len(x), x.shape[-2], x.shape[-1], generator, full_p).to(x)
    cond = {**batch.get("cond", {}), "mask": m, "image": x * (1 - m)}
    return {**batch, "cond": cond}


__all__ = [
    "MASK_KINDS",
    "band_mask",
    "box_mask",
    "frame_masks",
    "future_mask",
    "random_masks",
    "stroke_mask",
    "with_inpaint_cond",
]
