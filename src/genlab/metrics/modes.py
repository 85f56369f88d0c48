"""Mode metrics for 2-D mixtures, in the VEEGAN / PacGAN protocol.

Srivastava et al. 2017 (VEEGAN, Sec. 5.1) and Lin et al. 2018 (PacGAN, Table 1): draw
2,500 samples; a sample is *high quality* when it lies within 3 standard deviations of
its nearest mode; a mode is *captured* when it is the nearest mode of at least one
high-quality sample.

Reverse KL, ``KL(p || uniform) = sum_k p_k log(K p_k)`` (natural log; 0 log 0 = 0):

- ``reverse_kl`` (the protocol's): ``p`` is the histogram of nearest modes over the
  *high-quality* samples only. Source: the PacGAN authors' code (github.com/fjxmlzn/
  PacGAN, ``synthetic_data_experiments/PacGAN/pacgan/extensions.py``, ``MetricLogger``):
  a point adds to its nearest mode's count only when its std-normalised distance is below
  3, and the entropy and JSD of the coverage are taken of those counts. Undefined (NaN)
  when no sample is high quality.
- ``reverse_kl_all``: ``p`` over *all* samples' nearest modes (what this module reported
  as ``reverse_kl`` before): a generator that spreads junk evenly between the modes
  looks better here than under the protocol.
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
    """For ``(N, D)`` points: the index ``(N,)`` of the nearest centre and the distance
    (float64, the direct form: no matmul round-off at the 3-std edge)."""
    d = torch.cdist(points.double(), centres.double(), compute_mode="donot_use_mm_for_euclid_dist")
    dist, idx = d.min(1)
    return idx, dist


def reverse_kl(counts: Tensor) -> float:
    """``KL(p || uniform over K)`` of a histogram ``counts (K,)`` (natural log, 0 log 0 = 0);
    NaN for an empty histogram."""
    total = int(counts.sum())
    if total == 0:
        return math.nan
    p = counts.double() / total
    nz = p > 0
    return float((p[nz] * (p[nz] * len(counts)).log()).sum())


def mode_stats(points: Tensor, centres: Tensor, std: float, min_count: int = 1) -> dict:
    """Modes captured, fraction of high-quality samples and reverse KL (module docstring).

    Args:
        points: ``(N, D)`` generated samples.
        centres: ``(K, D)`` mode centres.
        std: the modes' standard deviation; "high quality" means within ``3 * std``.
        min_count: high-quality samples a mode needs to count as captured (1 in VEEGAN).
    Returns:
        ``{"modes": int, "high_quality": float in [0, 1], "reverse_kl": float (of the
        high-quality samples' modes, PacGAN; NaN if there are none), "reverse_kl_all":
        float (of every sample's nearest mode), "hq_counts": list[int] (K,) of
        high-quality samples per mode, "counts": list[int] (K,) of all samples per mode}``.
    """
    idx, dist = nearest_mode(points, centres)
    k = len(centres)
    good = dist <= 3 * std
    hq_counts = torch.bincount(idx[good], minlength=k)
    counts = torch.bincount(idx, minlength=k)
    return {
        "modes": int((hq_counts >= min_count).sum()),
        "high_quality": float(good.double().mean()),
        "reverse_kl": reverse_kl(hq_counts),
        "reverse_kl_all": reverse_kl(counts),
        "hq_counts": hq_counts.tolist(),
        "counts": counts.tolist(),
    }


def protocol_stats(points: Tensor, name: str) -> dict:
    """:func:`mode_stats` for a named protocol (``"ring8"`` or ``"grid25"``).

    Raises:
        ValueError: ``name`` is not one of :data:`PROTOCOLS`.
    """
    if name not in PROTOCOLS:
        raise ValueError(f"mode protocol {name!r}: choose from {', '.join(PROTOCOLS)}")
    centres, std = PROTOCOLS[name]
    return mode_stats(points, centres, std)


def max_kl(k: int) -> float:
    """Reverse KL of a generator that puts every sample in one of ``k`` modes: ``log k``."""
    return math.log(k)
