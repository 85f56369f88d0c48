"""Frechet distance between Gaussians fitted to features (Heusel et al. 2017, FID).

``FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})``, computed in float64 with
``scipy.linalg.sqrtm``. As in the reference implementations, when the square root is not
finite (a near-singular product) it is retried with ``eps * I`` added to both covariances,
and a complex result is accepted only when its imaginary part is negligible.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from genlab.errors import GenlabError


def _as64(a) -> np.ndarray:
    """A float64 numpy array from a numpy array or torch tensor."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().double().numpy()
    return np.asarray(a, dtype=np.float64)


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of ``(N, D)`` features, float64."""
    f = _as64(features)
    if f.ndim != 2 or len(f) < 2:
        raise GenlabError(f"gaussian_stats: need (N >= 2, D) features, got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, max_imag: float = 1e-3) -> float:
    """Frechet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    Args:
        mu1, mu2: ``(D,)`` means. sigma1, sigma2: ``(D, D)`` covariances.
        eps: the diagonal offset of the retry when ``sqrtm(sigma1 @ sigma2)`` is not finite.
        max_imag: the largest tolerated ``|imag|`` on the square root's diagonal.
    Raises:
        GenlabError: mismatched shapes, or a square root with a large imaginary part.
    """
    mu1, mu2 = np.atleast_1d(_as64(mu1)), np.atleast_1d(_as64(mu2))
    s1, s2 = np.atleast_2d(_as64(sigma1)), np.atleast_2d(_as64(sigma2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise GenlabError(
            f"frechet_distance: shapes differ: mu {mu1.shape} vs {mu2.shape}, "
            f"sigma {s1.shape} vs {s2.shape}"
        )
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is handled below, not warned about
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(s1)) * eps
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > max_imag:
            raise GenlabError(
                f"frechet_distance: sqrtm has an imaginary component of {imag:.3g} "
                f"(> {max_imag}); the covariances are degenerate (too few samples?)"
            )
        covmean = covmean.real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid_from_features(f_real, f_fake) -> float:
    """FID between two ``(N, D)`` feature sets (float64 statistics)."""
    return frechet_distance(*gaussian_stats(f_real), *gaussian_stats(f_fake))
