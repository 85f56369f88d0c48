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

import torch

from genlab.metrics.fid import _as64

CHUNK = 2048  # rows of a distance matrix held at once: memory O(CHUNK * N)


def _t(a) -> torch.Tensor:
    return torch.from_numpy(_as64(a))


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance ``(N,)`` from each row of ``x`` ``(N, D)`` to its k-th nearest other row."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} samples for k-NN radii, got {len(x)}")
    # The (k+1)-th smallest distance in a row: the first is the point itself (0).
    rows = [torch.cdist(x[i : i + CHUNK], x) for i in range(0, len(x), CHUNK)]
    return torch.cat([d.kthvalue(k + 1, 1).values for d in rows])


def _inside_any(p: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """``(len(p),)`` bool: is ``p_j`` within ``radii_i`` of some ``centres_i``."""
    return torch.cat(
        [
            (torch.cdist(p[j : j + CHUNK], centres) <= radii[None]).any(1)
            for j in range(0, len(p), CHUNK)
        ]
    )


def precision_recall(f_real, f_fake, k: int = 3) -> dict:
    """``{"precision", "recall"}`` of fakes against reals, k-NN radius ``k``."""
    r, f = _t(f_real), _t(f_fake)
    precision = _inside_any(f, r, knn_radii(r, k)).double().mean()
    recall = _inside_any(r, f, knn_radii(f, k)).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(f_real, f_fake, k: int = 5) -> dict:
    """``{"density", "coverage"}`` of fakes against reals, k-NN radius ``k`` of the reals."""
    r, f = _t(f_real), _t(f_fake)
    rr = knn_radii(r, k)
    count = sum(
        int((torch.cdist(f[j : j + CHUNK], r) <= rr[None]).sum()) for j in range(0, len(f), CHUNK)
    )
    near = torch.cat(
        [torch.cdist(r[i : i + CHUNK], f).min(1).values for i in range(0, len(r), CHUNK)]
    )
    return {"density": count / (k * len(f)), "coverage": float((near <= rr).double().mean())}
