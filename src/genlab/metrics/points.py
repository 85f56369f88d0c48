"""Distances between 2-D (or any ``(N, D)``) point sets: exact Wasserstein and MMD.

- ``wasserstein(x, y, p)``: the exact ``W_p`` between two empirical measures with the
  same number of points, by optimal assignment (``scipy.optimize.linear_sum_assignment``
  on the ``|x_i - y_j|^p`` cost): ``W_p = (1/N min_pi sum_i |x_i - y_pi(i)|^p)^(1/p)``.
- ``mmd2_gaussian(x, y, bandwidth)``: unbiased ``MMD^2`` with the Gaussian kernel
  ``exp(-|x - y|^2 / (2 h^2))``; ``h`` defaults to the median pairwise distance of the
  pooled sets (the median heuristic, Gretton et al. 2012).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from genlab.metrics.fid import _as64


def wasserstein(x, y, p: int = 1) -> float:
    """Exact ``W_p`` between equal-size point sets ``(N, D)`` (O(N^3); N up to a few 1000)."""
    a, b = _as64(x), _as64(y)
    if a.shape != b.shape:
        raise ValueError(f"wasserstein: needs equal-size sets, got {a.shape} and {b.shape}")
    cost = cdist(a, b) ** p
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean() ** (1 / p))


def mmd2_gaussian(x, y, bandwidth: float | None = None) -> tuple[float, float]:
    """Unbiased ``MMD^2`` with a Gaussian kernel; returns ``(mmd2, bandwidth used)``."""
    a, b = _as64(x), _as64(y)
    if bandwidth is None:
        pooled = np.concatenate([a, b])
        d = cdist(pooled, pooled)
        bandwidth = float(np.median(d[np.triu_indices(len(pooled), 1)]))
    k = lambda u, v: np.exp(-cdist(u, v, "sqeuclidean") / (2 * bandwidth**2))  # noqa: E731
    m, n = len(a), len(b)
    kxx, kyy = k(a, a), k(b, b)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * k(a, b).mean()), bandwidth
