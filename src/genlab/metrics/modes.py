"""Mode metrics for 2-D mixtures, in the VEEGAN / PacGAN protocol.

Srivastava et al. 2017 (VEEGAN, Sec. 5.1) and Lin et al. 2018 (PacGAN, Table 1): draw
2,500 samples; a sample is *high quality* when it lies within 3 standard deviations of
its nearest mode; a mode is *captured* when it is the nearest mode of at least one
high-quality sample; the *reverse KL* is ``KL(p_gen || uniform)`` of the histogram of
nearest modes over all samples (natural log; 0 log 0 = 0).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.data.toys import grid_modes, ring_modes

PROTOCOLS = {
    # name: (mode centres, std of each mode)
    "ring8": (ring_modes(8, 1.0), 0.01),
    "grid25": (grid_modes(5, 2.0), 0.05),
}


def nearest_mode(points: Tensor, centres: Tensor) -> tuple[Tensor, Tensor]:
    """For ``(N, D)`` points: the index ``(N,)`` of the nearest centre and the distance."""
    d = torch.cdist(points.double(), centres.double())
    dist, idx = d.min(1)
    return idx, dist


def mode_stats(points: Tensor, centres: Tensor, std: float, min_count: int = 1) -> dict:
    """Modes captured, fraction of high-quality samples and reverse KL.

    Args:
        points: ``(N, D)`` generated samples.
        centres: ``(K, D)`` mode centres.
        std: the modes' standard deviation; "high quality" means within ``3 * std``.
        min_count: high-quality samples a mode needs to count as captured (1 in VEEGAN).
    Returns:
        ``{"modes": int, "high_quality": float in [0, 1], "reverse_kl": float,
        "counts": list[int] of nearest-mode counts over all samples}``.
    """
    idx, dist = nearest_mode(points, centres)
    k = len(centres)
    good = dist <= 3 * std
    hq_counts = torch.bincount(idx[good], minlength=k)
    counts = torch.bincount(idx, minlength=k)
    p = counts.double() / counts.sum()
    nz = p > 0
    kl = float((p[nz] * (p[nz] * k).log()).sum())
    return {
        "modes": int((hq_counts >= min_count).sum()),
        "high_quality": float(good.double().mean()),
        "reverse_kl": kl,
        "counts": counts.tolist(),
    }


def protocol_stats(points: Tensor, name: str) -> dict:
    """:func:`mode_stats` for a named protocol (``"ring8"`` or ``"grid25"``)."""
    centres, std = PROTOCOLS[name]
    return mode_stats(points, centres, std)


def max_kl(k: int) -> float:
    """Reverse KL of a generator that puts every sample in one of ``k`` modes: ``log k``."""
    return math.log(k)
