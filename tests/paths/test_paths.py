"""Affine paths: boundary values, analytic derivatives against autograd, log-SNR inverse,
conversion round trips on ranks 2..5, training densities, EDM preconditioning."""

import itertools
import math

import pytest
import torch

from genlab.errors import ConfigError
from genlab.paths import (
    KINDS,
    PATHS,
    DDPMPath,
    EDMPrecond,
    LinearPath,
    VPPath,
    build_path,
    convert,
    edm_coeffs,
    from_x0_eps,
    sample_t,
    shift_t,
    target,
    to_x0_eps,
)

# interior times, away from DDPM's knots at multiples of 1/1000
T = torch.tensor([0.0123, 0.1017, 0.3331, 0.5555, 0.7771, 0.9437], dtype=torch.float64)


@pytest.mark.parametrize("name", list(PATHS))
def test_boundary_and_monotone_logsnr(name):
    p = build_path(name)
    z = torch.zeros(1, dtype=torch.float64)
    assert float(p.alpha(z)) == pytest.approx(1.0) and abs(float(p.sigma(z))) < 1e-12
    lam = p.logsnr(torch.linspace(0.01, 1, 50, dtype=torch.float64))
    assert bool((lam[1:] < lam[:-1]).all())


@pytest.mark.parametrize("name", list(PATHS))
def test_derivatives_match_autograd(name):
    p = build_path(name)
    t = T.clone().requires_grad_(True)
    for f, df in ((p.alpha, p.d_alpha), (p.sigma, p.d_sigma)):
        y = f(t)
        g = torch.autograd.grad(y.sum(), t)[0] if y.requires_grad else torch.zeros_like(T)
        torch.testing.assert_close(df(T), g, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", list(PATHS))
def test_logsnr_inverse(name):
    p = build_path(name)
    torch.testing.assert_close(p.t_from_logsnr(p.logsnr(T)), T, rtol=0, atol=1e-10)


def test_ddpm_path_is_the_discrete_schedule_at_steps():
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    ab = torch.cumprod(1 - betas, 0)
    i = torch.tensor([1, 10, 500, 1000])
    t = i.double() / 1000
    torch.testing.assert_close(DDPMPath().alpha(t) ** 2, ab[i - 1], rtol=1e-12, atol=0)
    # the continuous VP form is close to it (Song et al. 2021)
    assert (VPPath().alpha(t) - DDPMPath().alpha(t)).abs().max() < 5e-3


@pytest.mark.parametrize("rank", [2, 3, 4, 5])
@pytest.mark.parametrize("name", list(PATHS))
def test_every_conversion_pair_round_trips(name, rank):
    p = build_path(name)
    g = torch.Generator().manual_seed(rank)
    shape = (len(T), *([3] * (rank - 1)))
    x_t = torch.randn(shape, generator=g, dtype=torch.float64)
    for src, dst in itertools.permutations(KINDS, 2):
        pred = torch.randn(shape, generator=g, dtype=torch.float64)
        back = convert(p, convert(p, pred, src, dst, x_t, T), dst, src, x_t, T)
        torch.testing.assert_close(back, pred, rtol=1e-9, atol=1e-9, msg=f"{src}->{dst}")


@pytest.mark.parametrize("name", list(PATHS))
def test_targets_are_consistent_with_x_t(name):
    """``to_x0_eps`` of each kind's target recovers the (x0, eps) that made x_t."""
    p = build_path(name)
    g = torch.Generator().manual_seed(0)
    x0, eps = (torch.randn(len(T), 2, 5, generator=g, dtype=torch.float64) for _ in range(2))
    x_t = p.sample(x0, eps, T)
    for kind in KINDS:
        a, b = to_x0_eps(p, kind, target(p, kind, x0, eps, T), x_t, T)
        torch.testing.assert_close(a, x0, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(b, eps, rtol=1e-9, atol=1e-9)
    # the velocity is the time derivative of x_t
    h = 1e-6
    fd = (p.sample(x0, eps, T + h) - p.sample(x0, eps, T - h)) / (2 * h)
    torch.testing.assert_close(
        from_x0_eps(p, "velocity", x0, eps, x_t, T), fd, rtol=1e-5, atol=1e-5
    )


def test_unknown_kind_and_path_fail_clearly():
    with pytest.raises(ConfigError, match="objective.target"):
        convert(LinearPath(), torch.zeros(1, 2), "eps", "noise", torch.zeros(1, 2), T[:1])
    with pytest.raises(ConfigError, match="objective.path"):
        build_path("vpsde")


def test_densities():
    g = torch.Generator().manual_seed(0)
    n = 20000
    u = sample_t(n, "uniform", g)
    assert float(u.min()) > 0 and float(u.max()) <= 1 and abs(float(u.mean()) - 0.5) < 0.01
    ln = sample_t(n, "logit_normal", g, loc=0.5, scale=1.0)
    assert abs(float(torch.logit(ln).mean()) - 0.5) < 0.03
    p = build_path("edm")
    e = sample_t(n, "lognormal", g, path=p, loc=-1.2, scale=1.2)
    assert abs(float(p.ve_sigma(e).log().mean()) + 1.2) < 0.03
    d = sample_t(n, "uniform", g, steps=1000)
    assert torch.equal(d * 1000, (d * 1000).round()) and float(d.min()) >= 1e-3
    # SD3 shift: identity at 1, endpoints fixed, pushes mass to high t for shift > 1
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    assert torch.equal(shift_t(t, 1.0), t)
    s = shift_t(t, 3.0)
    assert float(s[0]) == 0 and float(s[-1]) == 1 and bool((s >= t).all())
    assert float(shift_t(torch.tensor(0.5), 3.0)) == pytest.approx(0.75)


def test_edm_preconditioning_matches_table_1():
    sig = torch.tensor([0.002, 0.5, 80.0], dtype=torch.float64)
    c_skip, c_out, c_in, c_noise = edm_coeffs(sig, 0.5)
    torch.testing.assert_close(c_skip, 0.25 / (sig**2 + 0.25))
    torch.testing.assert_close(c_out, sig * 0.5 / (sig**2 + 0.25).sqrt())
    torch.testing.assert_close(c_in, 1 / (sig**2 + 0.25).sqrt())
    torch.testing.assert_close(c_noise, sig.log() / 4)

    class Probe(torch.nn.Module):  # F(x, c_noise) = x + c_noise, records its inputs
        def forward(self, x, t, cond):
            self.seen = (x, t)
            return x + t.view(-1, 1)

    path = build_path("edm")
    d = EDMPrecond(Probe(), path, 0.5)
    t = sig / 80
    y = torch.randn(3, 4, dtype=torch.float64)
    out = d(y, t.float(), {})
    f = c_in[:, None] * y + c_noise.float().double()[:, None]
    torch.testing.assert_close(out, c_skip[:, None] * y + c_out[:, None] * f, rtol=1e-6, atol=1e-6)
    assert math.isclose(float(d.net.seen[1][1]), math.log(0.5) / 4, rel_tol=1e-6)


@pytest.mark.parametrize("name", list(PATHS))
def test_coefficients_follow_t_device_and_dtype(name):
    """Tables follow ``t``: on the shape-only meta device every lookup returns meta tensors
    (a CPU-only table would fail to index), and each coefficient has ``t``'s dtype."""
    p = build_path(name)
    fns = (p.alpha, p.sigma, p.d_alpha, p.d_sigma)
    tm = torch.empty(5, device="meta", dtype=torch.float64)
    for f in (*fns, p.logsnr, p.ve_sigma):
        y = f(tm)
        assert y.device.type == "meta" and y.shape == (5,) and y.dtype == torch.float64
    x = torch.empty(5, 3, 2, device="meta", dtype=torch.float32)
    assert all(c.device.type == "meta" and c.dtype == torch.float32 for c in p.coeffs(tm, x))
    assert p.sample(x, x, tm).device.type == "meta"
    assert p.t_from_logsnr(p.logsnr(tm)).device.type == "meta"
    for dtype in (torch.float32, torch.float64):
        for f in fns:
            y = f(T.to(dtype))
            assert y.dtype == dtype
            torch.testing.assert_close(y.double(), f(T), rtol=1e-5, atol=1e-6)


def test_ddpm_table_is_copied_once_per_device():
    p = DDPMPath()
    p.alpha(T)
    p.sigma(T.float())
    p.alpha(torch.empty(2, device="meta"))
    assert sorted(d.type for d in p._tables) == ["cpu", "meta"]


def test_edm_preconditioning_on_meta():
    class Probe(torch.nn.Module):
        def forward(self, x, t, cond):
            return x + t.view(-1, 1)

    for name in ("ddpm", "edm"):
        d = EDMPrecond(Probe(), build_path(name), 0.5)
        x = torch.empty(4, 3, device="meta")
        out = d(x, torch.empty(4, device="meta"), {})
        assert out.device.type == "meta" and out.shape == (4, 3) and out.dtype == torch.float32
