"""W1/W2, MMD, the 2-D mode protocol on constructed generators, and the PF-ODE likelihood
on Gaussian data against its closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.metrics.likelihood import bits_per_dim, pf_ode_log_likelihood
from genlab.metrics.modes import PROTOCOLS, mode_stats, protocol_stats
from genlab.metrics.points import mmd2_gaussian, wasserstein


def test_wasserstein_of_a_shift_is_the_shift():
    x = np.random.default_rng(0).normal(size=(300, 2))
    assert wasserstein(x, x + [3.0, 4.0], p=1) == pytest.approx(5.0)
    assert wasserstein(x, x + [3.0, 4.0], p=2) == pytest.approx(5.0)
    perm = np.random.default_rng(1).permutation(300)
    assert wasserstein(x, x[perm], p=2) == pytest.approx(0.0, abs=1e-12)


def test_wasserstein_1d_matches_sorted_coupling():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=200), rng.exponential(size=200)
    want = np.abs(np.sort(a) - np.sort(b)).mean()  # in 1-D the monotone coupling is optimal
    assert wasserstein(a[:, None], b[:, None], p=1) == pytest.approx(want)


def test_mmd_near_zero_for_equal_and_positive_for_different():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    same, _ = mmd2_gaussian(x, y)
    diff, _ = mmd2_gaussian(x, y + 1.0)
    assert abs(same) < 0.01 and diff > 0.1


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mode_protocol_perfect_and_single_mode_generators(name):
    centres, std = PROTOCOLS[name]
    k = len(centres)
    g = torch.Generator().manual_seed(0)
    idx = torch.arange(2500) % k
    perfect = centres[idx] + std * torch.randn(2500, 2, generator=g, dtype=torch.float64)
    s = protocol_stats(perfect, name)
    assert s["modes"] == k and s["high_quality"] > 0.98 and s["reverse_kl"] < 1e-3
    one = centres[3] + std * torch.randn(2500, 2, generator=g, dtype=torch.float64)
    s = protocol_stats(one, name)
    assert s["modes"] == 1 and s["reverse_kl"] == pytest.approx(math.log(k))


def _grid25_samples(hq: dict[int, int], lq: dict[int, int]) -> torch.Tensor:
    """grid25 points: ``hq[k]`` at mode k's centre (high quality) and ``lq[k]`` at 0.5 from
    it along x (10 std away: low quality, but still nearest to mode k)."""
    centres, _ = PROTOCOLS["grid25"]
    rows = [centres[k].expand(n, 2) for k, n in hq.items()]
    rows += [
        (centres[k] + torch.tensor([0.5, 0.0], dtype=centres.dtype)).expand(n, 2)
        for k, n in lq.items()
    ]
    return torch.cat(rows).double()


def test_reverse_kl_counts_high_quality_samples_only():
    """PacGAN's reverse KL is of the high-quality samples' modes; the old figure (now
    ``reverse_kl_all``) counted every sample's nearest mode."""
    # 100 good points on mode 0, 100 junk points near each other mode: every mode is the
    # nearest of exactly 100 samples, but only one mode has good ones.
    s = protocol_stats(_grid25_samples({0: 100}, {k: 100 for k in range(1, 25)}), "grid25")
    assert s["modes"] == 1 and s["high_quality"] == pytest.approx(100 / 2500)
    assert s["reverse_kl"] == pytest.approx(math.log(25), abs=1e-12)
    assert s["reverse_kl_all"] == pytest.approx(0.0, abs=1e-12)
    assert s["hq_counts"] == [100] + [0] * 24 and s["counts"] == [100] * 25
    # good points 300 : 100 on modes 0 and 1, junk 100 on each of modes 2..24
    s = protocol_stats(_grid25_samples({0: 300, 1: 100}, {k: 100 for k in range(2, 25)}), "grid25")
    hq = 0.75 * math.log(25 * 0.75) + 0.25 * math.log(25 * 0.25)
    all_ = (300 * math.log(25 * 300 / 2700) + 24 * 100 * math.log(25 * 100 / 2700)) / 2700
    assert s["reverse_kl"] == pytest.approx(hq, rel=1e-12)
    assert s["reverse_kl_all"] == pytest.approx(all_, rel=1e-12)
    assert s["reverse_kl"] - s["reverse_kl_all"] == pytest.approx(hq - all_, rel=1e-10)


def test_reverse_kl_without_high_quality_samples_is_undefined():
    centres, std = PROTOCOLS["ring8"]
    s = mode_stats(centres * 1.5, centres, std)  # every point far from every mode
    assert s["modes"] == 0 and s["high_quality"] == 0.0 and math.isnan(s["reverse_kl"])
    assert s["reverse_kl_all"] == pytest.approx(0.0, abs=1e-12)  # one per mode: uniform
    with pytest.raises(ValueError, match="grid25"):
        protocol_stats(centres, "grid36")


def _gaussian_flow(m: float, s: float):
    """The exact rectified-flow velocity for data N(m, s^2 I) on x_t = (1-t) x + t z:
    x_t ~ N(mu_t, sig_t^2 I) with mu_t = (1-t) m, sig_t^2 = (1-t)^2 s^2 + t^2, and
    v = mu_t' + (sig_t' / sig_t)(x - mu_t)."""

    def v(x, t, cond):
        t = t.view(-1, *([1] * (x.ndim - 1))).to(x)
        mu = (1 - t) * m
        var = (1 - t) ** 2 * s**2 + t**2
        dvar = -2 * (1 - t) * s**2 + 2 * t
        return -m + dvar / (2 * var) * (x - mu)

    return v


def test_pf_ode_likelihood_matches_gaussian_closed_form():
    m, s, d = 0.5, 0.3, 3
    x = m + s * torch.randn(64, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = -0.5 * (((x - m) / s) ** 2).sum(1) - d * math.log(s) - 0.5 * d * math.log(2 * math.pi)
    got = pf_ode_log_likelihood(_gaussian_flow(m, s), x, steps=40, hutchinson=False)
    assert torch.allclose(got, exact, atol=1e-4)
    # Hutchinson: the divergence of a linear field is exact with Rademacher probes
    # (eps^T (a I) eps = a D), so the estimate must agree too.
    hut = pf_ode_log_likelihood(_gaussian_flow(m, s), x, steps=40, generator=torch.manual_seed(1))
    assert torch.allclose(hut, exact, atol=1e-4)


def test_hutchinson_is_unbiased_on_a_non_isotropic_field():
    a = torch.tensor([[0.5, 2.0], [-1.0, 1.5]], dtype=torch.float64)  # trace 2.0
    v = lambda x, t, c: x @ a.T  # noqa: E731
    x = torch.zeros(4000, 2, dtype=torch.float64)
    # eps^T a eps = trace(a) + (a12 + a21) eps1 eps2: unbiased, but noisy per sample.
    hut = pf_ode_log_likelihood(v, x, steps=2, generator=torch.Generator().manual_seed(0))
    err = hut - pf_ode_log_likelihood(v, x, steps=2, hutchinson=False)
    assert abs(err.mean().item()) < 0.1  # 4000 probes: standard error ~0.016
    assert err.std().item() > 0.5  # single-probe estimates do vary


def test_bits_per_dim():
    assert bits_per_dim(math.log(2) * 10, 10) == pytest.approx(1.0)
    # A uniform density on [-1, 1]^D (nll = D log 2) is 8 bits per dim on the 256-level scale.
    assert bits_per_dim(3 * math.log(2), 3, data_range=2.0) == pytest.approx(8.0)
