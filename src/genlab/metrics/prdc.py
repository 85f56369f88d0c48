"""k-NN manifold metrics: precision/recall (Kynkaanniemi et al. 2019) and
density/coverage (Naeem et al. 2020).

Each real (or fake) feature vector gets a ball whose radius is the distance to its k-th
nearest neighbour within its own set (itself excluded). With real ``R`` and fake ``F``:

- precision = fraction of fakes inside at least one real ball (k = 3);
- recall = fraction of reals inside at least one fake ball (k = 3);
- density = ``1/(k M) sum_j sum_i [F_j in ball(R_i)]`` (k = 5; can exceed 1);
- coverage = fraction of reals whose ball holds at least one fake (k = 5).

"Inside" is ``d <= radius``, and points on a ball's edge are common: a real's k-th
neighbour lies exactly on its ball's edge, so a set against itself has density exactly
``(k + 1) / k`` (each real's ball holds itself and its k neighbours) and recall,
precision and coverage exactly 1; duplicated points give zero radii. Every test is
therefore decided on *exact* distances: the direct float64 form ``sqrt(sum (a - b)^2)``
(``torch.cdist`` without the matmul shortcut), which is symmetric bit for bit and the
same however the sets are chunked, so a radius and the query that meets it agree. The
fast matmul form ``|a|^2 + |b|^2 - 2 a.b`` settles every pair farther from the radius
than its round-off bound; only the few pairs within it are recomputed directly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.metrics.fid import _as64

CHUNK = 1024  # rows of a distance matrix held at once: memory O(CHUNK * N)
SLACK = 8  # extra nearest-neighbour candidates measured exactly per row
DIRECT = "donot_use_mm_for_euclid_dist"
EPS = torch.finfo(torch.float64).eps
REL = 1e-9  # relative band around a radius settled exactly (>> any rounding of d or d^2)


def _t(a) -> Tensor:
    return torch.from_numpy(_as64(a))


def _exact(a: Tensor, b: Tensor) -> Tensor:
    """Exact distances ``(P,)`` between paired rows ``a[p]`` and ``b[p]`` ``(P, D)``."""
    return torch.cdist(a[:, None], b[:, None], compute_mode=DIRECT)[:, 0, 0]


def _fast(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Squared distances ``(len(a), len(b))`` by the matmul form, and a bound ``(len(a), 1)``
    on their error against the exact ones (dot products of ``D + 2`` terms:
    ``|err| <= ~2 (D + 2) eps (|a|^2 + |b|^2)``; taken 8x wider)."""
    d2 = torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist").square_()
    na, nb = (a * a).sum(1, keepdim=True), (b * b).sum(1).max()
    return d2, 16 * (a.shape[1] + 2) * EPS * (na + nb)


def _radii_chunk(a: Tensor, x: Tensor, k: int) -> Tensor:
    """Exact k-NN radii of the rows ``a`` (a chunk of ``x``) within ``x``."""
    d2, tol = _fast(a, x)
    m = min(len(x), k + 1 + SLACK)
    cand = d2.topk(m, dim=1, largest=False).indices  # (c, m): the true k+1 are among them
    rows = torch.arange(len(a))[:, None].expand(-1, m)
    r = _exact(a[rows.reshape(-1)], x[cand.reshape(-1)]).view(len(a), m).kthvalue(k + 1, 1).values
    # a non-candidate could only lower r if it might be nearer than r: then the whole row
    lower = (d2 - tol).scatter(1, cand, float("inf")).min(1).values
    for i in torch.nonzero((lower < r * r * (1 + REL)) & (r > 0)).flatten().tolist():
        r[i] = torch.cdist(a[i : i + 1], x, compute_mode=DIRECT)[0].kthvalue(k + 1).values
    return r


def knn_radii(x: Tensor, k: int) -> Tensor:
    """Exact distance ``(N,)`` from each row of ``x`` ``(N, D)`` to its k-th nearest other
    row (the (k+1)-th smallest distance in its row; the first is the point itself, 0)."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} samples for k-NN radii, got {len(x)}")
    return torch.cat([_radii_chunk(x[i : i + CHUNK], x, k) for i in range(0, len(x), CHUNK)])


def _inside(p: Tensor, centres: Tensor, radii: Tensor) -> Tensor:
    """``(len(p), len(centres))`` bool: exact ``|p_j - centres_i| <= radii_i``."""
    d2, tol = _fast(p, centres)
    r2 = (radii * radii)[None]
    band = tol + REL * r2
    inside = d2 + band <= r2
    j, i = torch.nonzero(~inside & (d2 - band <= r2), as_tuple=True)
    inside[j, i] = _exact(p[j], centres[i]) <= radii[i]
    return inside


def precision_recall(f_real, f_fake, k: int = 3) -> dict:
    """``{"precision", "recall"}`` of fakes ``(M, D)`` against reals ``(N, D)``, k-NN radius
    ``k`` (Kynkaanniemi et al. 2019, Eq. 1-2); exact at ball edges (module docstring).

    Raises:
        ValueError: a set has no more than ``k`` points.
    """
    r, f = _t(f_real), _t(f_fake)
    rr, rf = knn_radii(r, k), knn_radii(f, k)
    prec = torch.cat([_inside(f[j : j + CHUNK], r, rr).any(1) for j in range(0, len(f), CHUNK)])
    rec = torch.cat([_inside(r[i : i + CHUNK], f, rf).any(1) for i in range(0, len(r), CHUNK)])
    return {"precision": float(prec.double().mean()), "recall": float(rec.double().mean())}


def density_coverage(f_real, f_fake, k: int = 5) -> dict:
    """``{"density", "coverage"}`` of fakes ``(M, D)`` against reals ``(N, D)``, k-NN radius
    ``k`` of the reals (Naeem et al. 2020, Eq. 3-4); exact at ball edges, so a set against
    itself gives density ``(k + 1) / k`` and coverage 1.

    Raises:
        ValueError: the real set has no more than ``k`` points.
    """
    r, f = _t(f_real), _t(f_fake)
    rr = knn_radii(r, k)
    count, covered = 0, torch.zeros(len(r), dtype=torch.bool)
    for j in range(0, len(f), CHUNK):
        inside = _inside(f[j : j + CHUNK], r, rr)
        count += int(inside.sum())
        covered |= inside.any(0)
    return {"density": count / (k * len(f)), "coverage": float(covered.double().mean())}
