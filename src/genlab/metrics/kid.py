"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs").

The unbiased estimator of ``MMD^2`` with the cubic polynomial kernel
``k(x, y) = (x . y / d + 1)^3``, averaged over random subsets: by default 100 subsets of
1,000 samples from each set (fewer when a set is smaller), as in the paper's code.
"""

from __future__ import annotations

import numpy as np

from genlab.metrics.fid import _as64


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(x . y / d + 1)^3`` for ``(N, D)`` and ``(M, D)`` features -> ``(N, M)``."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased ``MMD^2`` (Gretton et al. 2012, eq. 3) with :func:`polynomial_kernel`.

    ``1/(m(m-1)) sum_{i!=j} k(x_i,x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i,y_j)
    - 2/(mn) sum_{i,j} k(x_i, y_j)``.
    """
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(
    f_real, f_fake, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and standard deviation of :func:`mmd2_unbiased` over random subsets.

    Args:
        f_real, f_fake: ``(N, D)`` and ``(M, D)`` features.
        subsets: number of subsets; subset_size: samples drawn (without replacement)
            from each set per subset, capped at the smaller set's size.
        seed: seeds the subset draws, so the estimate is reproducible.
    """
    x, y = _as64(f_real), _as64(f_fake)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError(f"kid: need at least 2 samples in each set, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    vals = [
        mmd2_unbiased(
            x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)]
        )
        for _ in range(subsets)
    ]
    return float(np.mean(vals)), float(np.std(vals))
