"""Samplers driven by the exact denoiser of Gaussian data reproduce the data's mean and
variance; Euler converges with order 1 and Heun with order 2; sample i depends only on
seed i; classifier-free guidance algebra."""

import math

import pytest
import torch

from genlab.paths import build_path, from_x0_eps
from genlab.sampling import SAMPLERS, cfg, karras_grid, make_grid, shifted_grid, uniform_grid

M, S0 = 1.5, 0.5  # data N(M, S0^2 I)


def gaussian_model(path, kind):
    """The exact prediction of ``kind`` for data N(M, S0^2 I):
    E[x0 | x_t] = M + a S0^2 / (a^2 S0^2 + s^2) (x_t - a M)."""

    def f(x, t, cond):
        td = t.double()
        a = path.alpha(td).view(-1, *([1] * (x.ndim - 1))).to(x)
        s = path.sigma(td).view(-1, *([1] * (x.ndim - 1))).to(x)
        x0 = M + a * S0**2 / (a * a * S0**2 + s * s) * (x - a * M)
        eps = (x - a * x0) / s
        return from_x0_eps(path, kind, x0, eps, x, td)

    return f


def run(name, path_name, kind, grid_name, steps, n=125, d=64, seed=0):
    """``n x d`` samples (8,000 values: the mean's standard error is S0 / sqrt(8000))."""
    path = build_path(path_name)
    grid = make_grid(grid_name, steps, path)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * float(path.sigma(grid[:1]))
    gens = [torch.Generator().manual_seed(seed * 100_000 + i) for i in range(n)]
    opts = {"churn": 5.0} if name == "heun" else {}
    return SAMPLERS[name](
        gaussian_model(path, kind), x, grid, path=path, kind=kind, generators=gens, **opts
    )


CASES = [  # (path, kind, grid) a sampler is run on
    ("linear", "velocity", "uniform"),
    ("vp", "eps", "uniform"),
    ("edm", "x0", "karras"),
    ("cosine", "v", "uniform"),
]
# steps and std tolerance per sampler: first-order methods get more steps; ancestral
# sampling with the posterior *mean* of x0 under-disperses by O(h) (measured 5.7% at 100
# steps, 3% at 400), hence its wider tolerance.
STEPS = {
    "euler": (100, 0.04),
    "ddim": (100, 0.04),
    "midpoint": (25, 0.03),
    "heun": (40, 0.04),  # with churn
    "dpmpp_2m": (40, 0.03),  # 2nd order: 3.1% at 25 Karras steps, 0.8% at 50
    "ddpm": (100, 0.09),
    "euler_maruyama": (100, 0.04),
}
# Multistep consistency sampling re-noises the network's x0 estimate; with a diffusion
# model's posterior mean (rather than a consistency function) it loses the data's
# variance (std 0.34 for 0.5 at 100 steps here), so it has its own test below.
ODE_OR_POSTERIOR = sorted(set(SAMPLERS) - {"consistency"})


@pytest.mark.parametrize("name", ODE_OR_POSTERIOR)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_sampler_reproduces_gaussian_moments(name, case):
    steps, tol = STEPS[name]
    x = run(name, *case, steps)
    # EDM starts from N(0, 80^2), ignoring the data mean: a -0.009 shift at the end
    assert abs(float(x.mean()) - M) < 0.03, float(x.mean())
    assert abs(float(x.std()) / S0 - 1) < tol, float(x.std())


def test_ancestral_bias_shrinks_with_steps():
    few, many = (
        abs(float(run("ddpm", "vp", "eps", "uniform", k).std()) / S0 - 1) for k in (25, 200)
    )
    assert many < 0.6 * few, (few, many)


def exact_endpoint(z):
    """Probability-flow ODE map of the linear path for Gaussian data: x_0 = M + S0 x_1."""
    return M + S0 * z


def order(name):
    path = build_path("linear")
    z = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None]
    hs, errs = [], []
    for k in (32, 64, 128, 256):
        x = SAMPLERS[name](gaussian_model(path, "velocity"), z.clone(), uniform_grid(k), path=path)
        errs.append(float((x - exact_endpoint(z)).abs().max()))
        hs.append(1 / k)
    lh, le = torch.tensor(hs).log(), torch.tensor(errs).log()
    return float(((lh - lh.mean()) * (le - le.mean())).sum() / ((lh - lh.mean()) ** 2).sum())


def test_order_of_accuracy():
    # Fitted over 32..256 steps: Heun and midpoint step in sigma/alpha (EDM's variable),
    # where on this problem they are more accurate than in t at few steps (Heun at 8
    # steps: 6.0e-3 against 3e-2 in t), so their slope over 8..64 steps (Heun 1.53) is
    # still pre-asymptotic; over 32..256: Euler 0.99, Heun 1.86, midpoint 2.15.
    assert 0.8 < order("euler") < 1.3
    assert 1.7 < order("heun") < 2.4
    assert 1.7 < order("midpoint") < 2.4


def test_grids_are_float64_decreasing_and_end_at_zero():
    for name in ("linear", "vp", "edm", "cosine"):
        p = build_path(name)
        for g in (uniform_grid(7), karras_grid(7, p), shifted_grid(7, 3.0)):
            assert g.dtype == torch.float64 and len(g) == 8 and float(g[-1]) == 0.0
            assert bool((g[1:] < g[:-1]).all())
    # EDM's sigma grid: sigma_max = 80 at the start, sigma_min = 0.002 before 0
    g = karras_grid(18, build_path("edm"))
    assert float(g[0]) * 80 == pytest.approx(80) and float(g[-2]) * 80 == pytest.approx(0.002)


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_consistency_sampling_is_exact_with_the_exact_consistency_function(steps):
    # For N(M, S0^2) data the probability-flow ODE maps x_t to
    # x0 = M + S0 (x_t - a M) / sqrt(a^2 S0^2 + s^2): the exact consistency function. Each
    # of its outputs is a data sample, re-noised to the next time it has the right
    # marginal, so 1, 2 or 4 steps all give the data's moments (Song et al. 2023, Alg. 1).
    path = build_path("linear")

    def f(x, t, cond):
        td = t.double()
        a = path.alpha(td).view(-1, 1).to(x)
        s = path.sigma(td).view(-1, 1).to(x)
        return M + S0 * (x - a * M) / (a * a * S0**2 + s * s).sqrt()

    n = 4000
    gens = [torch.Generator().manual_seed(i) for i in range(n)]
    z = torch.stack([torch.randn(2, generator=g, dtype=torch.float64) for g in gens])
    x = SAMPLERS["consistency"](f, z, uniform_grid(steps), path=path, kind="x0", generators=gens)
    assert abs(float(x.mean()) - M) < 0.02 and abs(float(x.std()) / S0 - 1) < 0.02
    if steps == 1:  # one step is the ODE's endpoint map itself
        torch.testing.assert_close(x, M + S0 * z)


@pytest.mark.parametrize("name", ["ddpm", "euler_maruyama", "heun", "ddim", "consistency"])
def test_sample_i_depends_only_on_seed_i(name):
    path = build_path("vp")
    torch.manual_seed(0)  # a fixed network: the check must not depend on the draw
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))

    def model(x, t, cond):
        return net(torch.cat([x, t[:, None]], 1))

    opts = {"churn": 5.0} if name == "heun" else {"eta": 0.7} if name == "ddim" else {}

    def draw(seeds):
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        x = torch.stack([torch.randn(2, generator=g) for g in gens])
        return SAMPLERS[name](
            model, x, uniform_grid(6), path=path, kind="eps", generators=gens, **opts
        )

    batch, alone = draw([5, 6, 7, 8]), draw([7])
    # equal up to float round-off of batched matmuls (batch 4 vs 1)
    torch.testing.assert_close(batch[2], alone[0], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(batch[0], batch[1])
    with pytest.raises(ValueError, match="generator"):
        SAMPLERS["ddpm"](model, torch.zeros(2, 2), uniform_grid(3), path=path, kind="eps")


def test_cfg_algebra_and_one_batched_forward():
    calls = []

    def model(x, t, cond):
        calls.append(len(x))
        return x * (cond["class"].float()[:, None] + 1) + t[:, None]

    null = {"class": torch.tensor(9)}
    x, t, y = torch.randn(4, 3), torch.full((4,), 0.5), {"class": torch.tensor([0, 1, 2, 3])}
    assert torch.equal(cfg(model, 0.0, null)(x, t, y), model(x, t, y))
    calls.clear()
    w = 1.5
    out = cfg(model, w, null)(x, t, y)
    assert calls == [8]  # both terms in one forward over 2B samples
    u = model(x, t, {"class": torch.full((4,), 9)})
    torch.testing.assert_close(out, (1 + w) * model(x, t, y) - w * u)
    # outside the guidance interval the conditional model alone is used
    calls.clear()
    outside = cfg(model, w, null, interval=(0.0, 0.3))(x, t, y)
    assert calls == [4] and torch.equal(outside, model(x, t, y))


def test_guidance_is_the_same_in_every_kind():
    """Guidance on eps, x0, v or velocity gives the same sample (all conversions are
    affine in the prediction)."""
    path = build_path("vp")
    null = {"class": torch.tensor(2)}

    def base(x, t, cond):  # a class-dependent shift of the Gaussian model's x0
        x0 = gaussian_model(path, "x0")(x, t, cond) + cond["class"].double()[:, None]
        return x0

    outs = []
    for kind in ("x0", "eps", "v", "velocity"):

        def model(x, t, cond, kind=kind):
            td = t.double()
            x0 = base(x, t, cond)
            a = path.alpha(td)[:, None]
            s = path.sigma(td)[:, None]
            return from_x0_eps(path, kind, x0, (x - a * x0) / s, x, td)

        x = torch.linspace(-1, 1, 6, dtype=torch.float64)[:, None].repeat(1, 2)
        y = {"class": torch.tensor([0, 1, 0, 1, 0, 1])}
        f = cfg(model, 2.0, null)
        outs.append(SAMPLERS["dpmpp_2m"](f, x, uniform_grid(10), path=path, kind=kind, cond=y))
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=1e-6, atol=1e-6)
    assert math.isfinite(float(outs[0].sum()))


# ------------------------------------------- exactness on one-point data, any path


X_STAR = torch.tensor([0.7, -1.3, 2.0], dtype=torch.float64)  # the data: a single point
ONE_POINT_KINDS = {  # eps and score give no x0 where alpha = 0 (linear, t = 1)
    "linear": ("x0", "v", "velocity"),
    "vp": ("x0", "eps", "v", "velocity"),
    "ddpm": ("x0", "eps", "v", "velocity"),
    "cosine": ("x0", "eps", "v", "velocity"),
    "edm": ("x0", "eps", "v", "velocity"),
}


def one_point_model(path, kind):
    """The exact prediction of ``kind`` for data = {X_STAR}: x0 = X_STAR, built through the
    path's conversions from (x0, eps = (x_t - alpha x0) / sigma)."""

    def f(x, t, cond):
        td = t.double()
        a = path.alpha(td).view(-1, *([1] * (x.ndim - 1))).to(x)
        s = path.sigma(td).view(-1, *([1] * (x.ndim - 1))).to(x)
        x0 = X_STAR.expand_as(x)
        return from_x0_eps(path, kind, x0, (x - a * x0) / s, x, td)

    return f


@pytest.mark.parametrize("name", ["euler", "heun", "midpoint", "dpmpp_2m", "ddim"])
@pytest.mark.parametrize("path_name", sorted(ONE_POINT_KINDS))
def test_ode_samplers_are_exact_on_one_point_data(name, path_name):
    """With the exact denoiser of one-point data every ODE sampler lands on x* at any
    number of steps (in t, Heun was off by ~1e4 at 2 Karras steps on vp/ddpm/cosine)."""
    path = build_path(path_name)
    for kind in ONE_POINT_KINDS[path_name]:
        for grid_name in ("uniform", "karras"):
            for steps in (2, 5):
                grid = make_grid(grid_name, steps, path)
                a, s = float(path.alpha(grid[:1])), float(path.sigma(grid[:1]))
                z = torch.randn(
                    4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64
                )
                x = SAMPLERS[name](
                    one_point_model(path, kind), a * X_STAR + s * z, grid, path=path, kind=kind
                )
                err = float((x - X_STAR).abs().max() / X_STAR.abs().max())
                assert err < 1e-6, (kind, grid_name, steps, err)


@pytest.mark.parametrize("name", ["euler", "heun", "midpoint"])
def test_ode_samplers_do_not_depend_on_the_path(name):
    """Stepping in sigma/alpha: on Gaussian data, the same Karras noise levels (80 down
    to 0.002 on every path) give the same samples on every path."""
    z = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None].repeat(1, 2)
    outs = {}
    for path_name in ("linear", "vp", "ddpm", "cosine", "edm"):
        path = build_path(path_name)
        grid = karras_grid(6, path)
        assert float(path.ve_sigma(grid[:1])) == pytest.approx(80.0)
        a = float(path.alpha(grid[:1]))
        y = M + math.sqrt(S0**2 + 80.0**2) * z  # the same x / alpha on every path
        outs[path_name] = SAMPLERS[name](
            gaussian_model(path, "x0"), a * y, grid, path=path, kind="x0"
        )
    for path_name, x in outs.items():
        torch.testing.assert_close(x, outs["edm"], rtol=1e-5, atol=1e-5, msg=path_name)


def test_heun_and_midpoint_evaluations_from_alpha_zero():
    """From alpha = 0 (linear path, t = 1) the first step is the Euler (DDIM) limit."""
    calls = []

    def counted(model):
        def f(x, t, cond):
            calls.append(float(t[0]))
            return model(x, t, cond)

        return f

    for path_name, heun_calls, mid_calls in (
        ("linear", 2 * 5 - 2, 2 * 5 - 1),
        ("vp", 2 * 5 - 1, 10),
    ):
        path = build_path(path_name)
        x = torch.zeros(2, 3, dtype=torch.float64)
        calls.clear()
        SAMPLERS["heun"](
            counted(one_point_model(path, "x0")), x, uniform_grid(5), path=path, kind="x0"
        )
        assert len(calls) == heun_calls
        calls.clear()
        SAMPLERS["midpoint"](
            counted(one_point_model(path, "x0")), x, uniform_grid(5), path=path, kind="x0"
        )
        assert len(calls) == mid_calls


def _dpmpp_record(path, grid):
    xs, x0s = [], []
    z = torch.linspace(-2, 2, 5, dtype=torch.float64)[:, None]
    x_init = float(path.sigma(grid[:1])) * z

    def cb(i, x, x0):
        xs.append(x.clone())
        x0s.append(x0.clone())

    out = SAMPLERS["dpmpp_2m"](
        gaussian_model(path, "eps"), x_init, grid, path=path, kind="eps", callback=cb
    )
    return out, xs, x0s


def test_dpmpp_2m_last_step_order_follows_the_grid_end():
    """On a grid ending above 0 the last step is second order (Lu et al. 2022, Alg. 2);
    on a grid ending at 0 the last step is first order and returns the x0 estimate."""
    path = build_path("vp")
    grid = uniform_grid(6, t_min=0.05)
    out, xs, x0s = _dpmpp_record(path, grid)
    lam = [float(path.logsnr(grid[i : i + 1])) / 2 for i in range(len(grid))]
    a_k, s_k, s_prev = (
        float(f(grid[i : i + 1])) for f, i in ((path.alpha, 6), (path.sigma, 6), (path.sigma, 5))
    )
    h, h_prev = lam[6] - lam[5], lam[5] - lam[4]
    r = h_prev / h
    second = (1 + 1 / (2 * r)) * x0s[5] - (1 / (2 * r)) * x0s[4]
    want = (s_k / s_prev) * xs[4] - a_k * math.expm1(-h) * second
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    first = (s_k / s_prev) * xs[4] - a_k * math.expm1(-h) * x0s[5]
    assert float((out - first).abs().max()) > 1e-4  # the two orders do differ here
    out0, _, x0s0 = _dpmpp_record(path, uniform_grid(6))
    torch.testing.assert_close(out0, x0s0[-1], rtol=0, atol=1e-12)
