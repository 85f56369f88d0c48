"""FID and KID against closed forms and exact properties."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from genlab.errors import GenlabError
from genlab.metrics.fid import fid_from_features, frechet_distance, gaussian_stats
from genlab.metrics.kid import kid, mmd2_unbiased


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_frechet_diagonal_closed_form():
    # Diagonal covariances commute: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (s1 - s2)^2.
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 16.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    want = 5.0 + ((np.sqrt(s1) - np.sqrt(s2)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(want, rel=1e-10)


def test_frechet_non_commuting_matches_symmetric_form():
    # Tr sqrt(S1 S2) = Tr sqrt(S1^{1/2} S2 S1^{1/2}) (the symmetric, always-real form).
    rng = np.random.default_rng(0)
    s1, s2 = _spd(rng, 5), _spd(rng, 5)
    assert not np.allclose(s1 @ s2, s2 @ s1)
    r = linalg.sqrtm(s1).real
    tr = np.trace(linalg.sqrtm(r @ s2 @ r).real)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    want = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-8)


def test_frechet_1d_closed_form():
    # W2^2 between N(m1, a^2) and N(m2, b^2) is (m1 - m2)^2 + (a - b)^2.
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)


def test_fid_of_a_set_with_itself_is_zero_and_stats_are_float64():
    x = np.random.default_rng(1).normal(size=(500, 16)).astype(np.float32)
    mu, sigma = gaussian_stats(x)
    assert mu.dtype == sigma.dtype == np.float64 and sigma.shape == (16, 16)
    assert abs(fid_from_features(x, x)) < 1e-6


def test_singular_covariance_is_handled():
    # Fewer samples than dimensions: singular covariances; the eps retry keeps it finite.
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(10, 32)), rng.normal(size=(10, 32))
    assert np.isfinite(fid_from_features(a, b))


def test_frechet_shape_mismatch_is_an_error():
    with pytest.raises(GenlabError, match="shapes differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_kid_is_unbiased_on_equal_distributions():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    mean, std = kid(x, y, subsets=50, subset_size=200)
    assert abs(mean) < 3 * std / np.sqrt(50) + 1e-4  # zero within the standard error
    shifted, _ = kid(x, y + 0.5, subsets=50, subset_size=200)
    assert shifted > 20 * std / np.sqrt(50)


def test_mmd2_closed_form_on_two_points():
    # x = {a, b}, y = {c, d} in 1-D: k(u, v) = (uv + 1)^3.
    k = lambda u, v: (u * v + 1) ** 3  # noqa: E731
    a, b, c, d = 0.5, -1.0, 2.0, 0.0
    want = 2 * k(a, b) / 2 + 2 * k(c, d) / 2 - 2 * (k(a, c) + k(a, d) + k(b, c) + k(b, d)) / 4
    got = mmd2_unbiased(np.array([[a], [b]]), np.array([[c], [d]]))
    assert got == pytest.approx(want)


def test_kid_of_small_sets_reports_a_real_spread_and_the_whole_set_mean():
    """Sets of at most subset_size points: every "subset" used to be the whole set, so the
    std was 0 (up to round-off, ~2e-16). The mean is the whole-set unbiased estimate and
    the std is measured on half-size subsets: of the order of the estimate's own spread
    over fresh draws of the data."""
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(200, 16)), rng.normal(size=(200, 16)) + 0.3
    mean, std = kid(x, y)
    assert mean == pytest.approx(mmd2_unbiased(x, y), rel=1e-12)
    fresh = np.std(
        [
            mmd2_unbiased(rng.normal(size=(200, 16)), rng.normal(size=(200, 16)) + 0.3)
            for _ in range(60)
        ]
    )
    assert 0.3 < std / fresh < 3, (std, fresh)
    # the same when only subset_size makes the sets "small"
    assert kid(x, y, subset_size=200) == (mean, std)


def test_kid_with_one_set_used_whole_still_spreads():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(1500, 8)), rng.normal(size=(60, 8))
    mean, std = kid(x, y, subsets=20)
    assert std > 1e-3 and abs(mean) < 3 * std


def test_kid_needs_enough_points_and_subsets():
    x = np.zeros((10, 4))
    with pytest.raises(ValueError, match="at least 4 samples"):
        kid(x, x[:3])
    with pytest.raises(ValueError, match="subsets >= 2"):
        kid(x, x, subsets=1)
