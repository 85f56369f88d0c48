"""k-NN manifold metrics: precision/recall (Kynkaanniemi et al. 2019) and
density/coverage (Naeem et al. 2020).

Each real (or fake) feature vector gets a ball whose radius is the distance to its k-th
nearest neighbour within its own set (itself excluded). With real ``R`` and fake ``F``:

- precision = fraction of fakes inside at least one real ball (k = 3);
- recall = fraction of reals inside at least one fake ball (k = 3);
- density = ``1/(k M) sum_j sum_i [F_j in ball(R_i)]`` (k = 5; can exceed 1);
- coverage = fraction of reals whose ball holds at least one fake (k = 5).
"""

from __future__ import annotations

import numpy as np
import torch

from genlab.metrics.fid import _as64


def _cdist(a: np.ndarray, b: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Euclidean distances ``(N, M)`` in float64, computed in row chunks."""
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return torch.cat([torch.cdist(ta[i : i + chunk], tb) for i in range(0, len(ta), chunk)]).numpy()


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance ``(N,)`` from each row of ``x`` to its k-th nearest other row."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} samples for k-NN radii, got {len(x)}")
    d = _cdist(x, x)
    return np.partition(d, k, axis=1)[:, k]  # column 0 of the sorted row is the point itself


def precision_recall(f_real, f_fake, k: int = 3) -> dict:
    """``{"precision", "recall"}`` of fakes against reals, k-NN radius ``k``."""
    r, f = _as64(f_real), _as64(f_fake)
    rr, rf = knn_radii(r, k), knn_radii(f, k)
    d = _cdist(r, f)  # (N real, M fake)
    precision = (d <= rr[:, None]).any(0).mean()
    recall = (d <= rf[None, :]).any(1).mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(f_real, f_fake, k: int = 5) -> dict:
    """``{"density", "coverage"}`` of fakes against reals, k-NN radius ``k`` of the reals."""
    r, f = _as64(f_real), _as64(f_fake)
    rr = knn_radii(r, k)
    inside = _cdist(r, f) <= rr[:, None]  # (N real, M fake)
    density = inside.sum() / (k * len(f))
    coverage = inside.any(1).mean()
    return {"density": float(density), "coverage": float(coverage)}
