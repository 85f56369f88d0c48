"""Ratings from pairwise human (or judge) preferences: Bradley-Terry and online Elo.

A vote compares model ``a`` (shown on the left) with model ``b`` (on the right); its
``outcome`` is the left side's score: 1 (a wins), 0 (b wins), 0.5 (a tie; "both bad"
counts as a tie, as in Chatbot Arena).

- :func:`bradley_terry`: maximum-likelihood strengths of the Bradley-Terry model
  ``P(i beats j) = 1 / (1 + 10^((r_j - r_i) / 400))`` (Bradley & Terry 1952; Elo's
  400-point scale, mean 1000), ties as half a win for each side. A prior of one virtual
  tie per pair keeps the estimate finite when a model won or lost every vote and shrinks
  models with few votes towards the mean (negligible after tens of votes per pair); it is
  solved by Newton's method on the log-likelihood.
- :func:`leaderboard`: ratings; 95% intervals, each the wider of the percentile bootstrap
  over votes (100 rounds, as Chatbot Arena, Chiang et al. 2024) and the Wald interval
  ``+-1.96 SE`` from the observed information (the bootstrap alone has zero width with
  a handful of votes: resampling one vote gives that vote back); rank = 1 + the number of
  models whose lower bound is above this model's upper bound (Chatbot Arena); online Elo
  (K = 4, in vote order) as a second column; votes per model and the left slot's win rate
  among decisive votes (position bias). A model with no votes is listed with no rating.
"""

from __future__ import annotations

import math

import numpy as np

SCALE = 400 / math.log(10)  # Elo points per natural-log unit of strength
MEAN = 1000.0


def _counts(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, m: int, w=None) -> np.ndarray:
    """``W (m, m)``: ``W[i, j]`` = (weighted) wins of i over j, ties as half wins."""
    w = np.ones(len(a)) if w is None else w
    W = np.zeros((m, m))
    np.add.at(W, (a, b), w * outcome)
    np.add.at(W, (b, a), w * (1.0 - outcome))
    return W


def bradley_terry(
    a, b, outcome, m: int, prior: float = 1.0, weights=None, iters: int = 100, se: bool = False
):
    """Bradley-Terry maximum-likelihood ratings on the Elo scale.

    Args:
        a, b: ``(V,)`` integer model indices of each vote's left and right side.
        outcome: ``(V,)`` the left side's score in [0, 1] (1 win, 0.5 tie, 0 loss).
        m: number of models (indices ``0 .. m-1``).
        prior: virtual ties added to every pair (keeps ratings finite and shrinks the
            ratings of models with few votes towards the mean).
        weights: ``(V,)`` vote multiplicities (the bootstrap's resampling counts).
        se: also return the standard errors from the observed information.

    Returns:
        ``(m,)`` ratings, mean 1000 (400 points = 10:1 odds); with ``se``, also ``(m,)``
        standard errors in Elo points (the pseudo-inverse of the information, mean-zero
        gauge).

    Raises:
        ValueError: an index outside ``0 .. m-1`` or an outcome outside [0, 1].
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    outcome = np.asarray(outcome, np.float64)
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= m):
        raise ValueError(f"model indices must lie in 0..{m - 1}")
    if len(outcome) and (outcome.min() < 0 or outcome.max() > 1):
        raise ValueError("outcomes must lie in [0, 1]")
    W = _counts(a, b, outcome, m, weights) + prior / 2 * (1 - np.eye(m))
    N = W + W.T  # games per pair
    wins = W.sum(1)
    theta = np.zeros(m)
    for _ in range(iters):  # Newton on the concave log-likelihood, gauge fixed by mean 0
        p = 1 / (1 + np.exp(theta[None, :] - theta[:, None]))  # P(i beats j)
        grad = wins - (N * p).sum(1)
        c = N * p * (1 - p)
        H = np.diag(c.sum(1)) - c  # the negative Hessian: a graph Laplacian
        step = np.linalg.solve(H + np.ones((m, m)) / m, grad)
        theta += step
        theta -= theta.mean()
        if np.abs(step).max() < 1e-10:
            break
    rating = MEAN + SCALE * theta
    if not se:
        return rating
    return rating, SCALE * np.sqrt(np.clip(np.diag(np.linalg.pinv(H)), 0, None))


def online_elo(a, b, outcome, m: int, k: float = 4.0) -> np.ndarray:
    """Elo ratings updated vote by vote in the given order (start 1000, step ``k``)."""
    r = np.full(m, MEAN)
    for i, j, s in zip(a, b, outcome):
        e = 1 / (1 + 10 ** ((r[j] - r[i]) / 400))
        r[i] += k * (s - e)
        r[j] -= k * (s - e)
    return r


def leaderboard(
    names: list[str], a, b, outcome, rounds: int = 100, seed: int = 0, prior: float = 1.0
) -> list[dict]:
    """One row per model, best first (see the module docstring).

    Returns:
        ``[{"model", "rating", "lo", "hi", "rank", "elo", "votes", "wins", "ties",
        "losses"}]``; models with no votes have ``rating``/``lo``/``hi``/``rank``/``elo``
        None and come last. Also the position bias is in ``left_win_rate(outcome)``.
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    outcome = np.asarray(outcome, np.float64)
    m = len(names)
    votes = np.bincount(a, minlength=m) + np.bincount(b, minlength=m)
    seen = np.flatnonzero(votes)  # fit only the models that have votes
    index = -np.ones(m, np.int64)
    index[seen] = np.arange(len(seen))
    fa, fb = index[a], index[b]
    rating, se = (
        bradley_terry(fa, fb, outcome, len(seen), prior, se=True)
        if len(seen)
        else (np.zeros(0), np.zeros(0))
    )
    rng = np.random.default_rng(seed)
    boot = np.empty((rounds, len(seen)))
    for r in range(rounds):  # resample votes with replacement, as counts
        w = rng.multinomial(len(a), np.full(len(a), 1 / len(a))) if len(a) else None
        boot[r] = bradley_terry(fa, fb, outcome, len(seen), prior, weights=w)
    lo = np.minimum(np.percentile(boot, 2.5, axis=0), rating - 1.96 * se)
    hi = np.maximum(np.percentile(boot, 97.5, axis=0), rating + 1.96 * se)
    elo = online_elo(fa, fb, outcome, len(seen))
    rows = []
    for i, name in enumerate(names):
        mine_l, mine_r = outcome[a == i], outcome[b == i]
        score = np.concatenate([mine_l, 1 - mine_r])
        row = {
            "model": name,
            "votes": int(votes[i]),
            "wins": int((score == 1).sum()),
            "ties": int(((score > 0) & (score < 1)).sum()),
            "losses": int((score == 0).sum()),
        }
        k = index[i]
        if k >= 0:
            row |= {
                "rating": float(rating[k]),
                "lo": float(lo[k]),
                "hi": float(hi[k]),
                "rank": 1 + int((lo > hi[k]).sum()),
                "elo": float(elo[k]),
            }
        else:
            row |= dict.fromkeys(("rating", "lo", "hi", "rank", "elo"))
        rows.append(row)
    return sorted(rows, key=lambda r: (r["rating"] is None, -(r["rating"] or 0)))


def left_win_rate(outcome) -> float | None:
    """The left slot's share of decisive votes (0.5 = no position bias; None: none)."""
    outcome = np.asarray(outcome, np.float64)
    decisive = outcome[(outcome == 0) | (outcome == 1)]
    return float(decisive.mean()) if len(decisive) else None
