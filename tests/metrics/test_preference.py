"""Bradley-Terry ratings, bootstrap intervals and online Elo (genlab.metrics.preference)."""

from __future__ import annotations

import numpy as np
import pytest

from genlab.metrics.preference import bradley_terry, leaderboard, left_win_rate, online_elo

TRUE = np.array([1250.0, 1120, 1060, 1000, 900, 670])  # mean 1000


def simulate(seed: int, votes: int = 600):
    """Votes between random pairs drawn from the Bradley-Terry model with ratings TRUE
    (no ties: random ties would shrink the ratings the votes imply)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(TRUE), votes)
    b = (a + rng.integers(1, len(TRUE), votes)) % len(TRUE)
    p = 1 / (1 + 10 ** ((TRUE[b] - TRUE[a]) / 400))
    out = (rng.random(votes) < p).astype(float)
    return a, b, out


def test_closed_form_two_models():
    # i beats j 3 times in 4: the MLE odds are 3:1, i.e. 400*log10(3) Elo apart
    r = bradley_terry([0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0], 2, prior=0)
    assert r[0] - r[1] == pytest.approx(400 * np.log10(3), abs=1e-6)
    assert r.mean() == pytest.approx(1000)


def test_ties_count_as_half_wins():
    tied = bradley_terry([0, 0], [1, 1], [0.5, 0.5], 2, prior=0)
    assert tied == pytest.approx([1000, 1000])
    # one win + one tie = 1.5 wins of 2 -> odds 3:1, as three wins and a loss
    r = bradley_terry([0, 0], [1, 1], [1.0, 0.5], 2, prior=0)
    assert r[0] - r[1] == pytest.approx(400 * np.log10(3), abs=1e-6)


def test_all_wins_stay_finite_with_the_prior():
    r = bradley_terry([0] * 20, [1] * 20, [1.0] * 20, 2)
    # 20 wins + one virtual tie: odds 20.5 : 0.5
    assert r[0] - r[1] == pytest.approx(400 * np.log10(41), abs=1e-6)


def test_one_vote_is_not_a_significant_win():
    """Resampling one vote gives it back (a zero-width bootstrap); the Wald part of the
    interval keeps both models at rank 1."""
    rows = leaderboard(["a", "b"], [0], [1], [1.0])
    assert rows[0]["model"] == "a" and rows[0]["rating"] > rows[1]["rating"]
    assert [r["rank"] for r in rows] == [1, 1] and rows[0]["hi"] - rows[0]["lo"] > 200


def test_recovers_the_order_and_covers_the_truth():
    """On votes simulated from known strengths the order is recovered, and the true
    ratings fall inside the 95% bootstrap intervals in >= 90% of 50 simulations."""
    inside = total = 0
    for seed in range(50):
        a, b, out = simulate(seed)
        rows = leaderboard([str(i) for i in range(len(TRUE))], a, b, out)
        for r in rows:
            i = int(r["model"])
            inside += r["lo"] <= TRUE[i] <= r["hi"]
            total += 1
        if seed == 0:
            assert [int(r["model"]) for r in rows] == list(range(len(TRUE)))
            assert rows[0]["rank"] == 1 and rows[-1]["rank"] == len(TRUE)
    assert inside / total >= 0.90, inside / total


def test_model_without_votes_and_counts():
    a, b, out = [0, 0, 1], [1, 1, 0], [1.0, 0.5, 0.0]
    rows = leaderboard(["x", "y", "never"], a, b, out, rounds=10)
    by = {r["model"]: r for r in rows}
    assert by["never"]["votes"] == 0 and by["never"]["rating"] is None and rows[-1] is by["never"]
    assert (by["x"]["wins"], by["x"]["ties"], by["x"]["losses"]) == (2, 1, 0)
    assert by["x"]["votes"] == 3 and by["x"]["rating"] > by["y"]["rating"]


def test_online_elo_and_position_bias():
    r = online_elo([0], [1], [1.0], 2, k=4)
    assert r == pytest.approx([1002, 998])  # expected score 0.5, step 4 * 0.5
    assert left_win_rate([1, 1, 0, 0.5]) == pytest.approx(2 / 3)
    assert left_win_rate([0.5]) is None


def test_bad_input():
    with pytest.raises(ValueError, match="indices"):
        bradley_terry([0], [2], [1.0], 2)
    with pytest.raises(ValueError, match="outcomes"):
        bradley_terry([0], [1], [2.0], 2)
