"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", Sec. 4).

The unbiased estimator of ``MMD^2`` with the cubic polynomial kernel
``k(x, y) = (x . y / d + 1)^3``, averaged over random subsets: by default 100 subsets of
1,000 samples from each set (torch-fidelity's defaults), reported as mean and standard
deviation over the subsets.

Small sets. A set with no more than ``subset_size`` points is used whole in every
subset; if both are, every "subset" is the same pair of sets and a spread over them is
0 by construction, not a measured one. Here the mean is then the unbiased estimate on
the whole sets (what the subset average would tend to anyway), and the spread is
measured on subsets of *half* of each set that would be used whole. (For comparison:
torch-fidelity refuses sets smaller than its subset size; clean-fid caps the subset size
at the smaller set and reports no standard deviation.)
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


def _subset_mmds(x, y, sx: int, sy: int, subsets: int, rng) -> np.ndarray:
    """:func:`mmd2_unbiased` of ``subsets`` random draws of ``sx`` rows of ``x`` and ``sy``
    of ``y`` (each without replacement)."""
    return np.array(
        [
            mmd2_unbiased(
                x[rng.choice(len(x), sx, replace=False)], y[rng.choice(len(y), sy, replace=False)]
            )
            for _ in range(subsets)
        ]
    )


def kid(
    f_real, f_fake, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and standard deviation of :func:`mmd2_unbiased` over random subsets.

    Args:
        f_real, f_fake: ``(N, D)`` and ``(M, D)`` features.
        subsets: number of subsets (at least 2: one subset has no spread).
        subset_size: samples drawn (without replacement) from each set per subset; a set
            with no more points is used whole.
        seed: seeds the subset draws, so the estimate is reproducible.
    Returns:
        ``(mean, std)``: the mean of the subset estimates (the whole-set estimate when both
        sets are used whole) and their population standard deviation; where a set is used
        whole, the spread comes from subsets of half of it (module docstring), so it is
        never a structural 0.
    Raises:
        ValueError: fewer than 4 samples in a set, ``subsets < 2`` or ``subset_size < 2``.
    """
    x, y = _as64(f_real), _as64(f_fake)
    n, m = len(x), len(y)
    if min(n, m) < 4:
        raise ValueError(f"kid: need at least 4 samples in each set, got {n} and {m}")
    if subsets < 2 or subset_size < 2:
        raise ValueError(
            f"kid: need subsets >= 2 and subset_size >= 2, got {subsets}, {subset_size}"
        )
    rng = np.random.default_rng(seed)
    sx, sy = min(subset_size, n), min(subset_size, m)
    if sx < n and sy < m:  # the paper's protocol: subsets of both sets
        vals = _subset_mmds(x, y, sx, sy, subsets, rng)
        return float(vals.mean()), float(vals.std())
    whole = sx == n and sy == m
    mean = mmd2_unbiased(x, y) if whole else float(_subset_mmds(x, y, sx, sy, subsets, rng).mean())
    hx, hy = (s if s < size else size // 2 for s, size in ((sx, n), (sy, m)))
    return mean, float(_subset_mmds(x, y, hx, hy, subsets, rng).std())
