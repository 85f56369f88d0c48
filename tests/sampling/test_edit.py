"""Training-free editing (genlab.sampling.edit) against closed forms: the known pixels
are kept exactly, SDEdit at strength 1 is plain sampling, RePaint's resampling reaches
the exact conditional of a correlated Gaussian where plain replacement does not, and the
schedules, grids and canvases are what their docstrings say."""

import pytest
import torch

from genlab.paths import build_path, from_x0_eps
from genlab.rng import keyed
from genlab.sampling import SAMPLERS, make_grid
from genlab.sampling.edit import (
    extend_canvas,
    img2img_grid,
    inpaint,
    outpaint,
    renoise,
    repaint_schedule,
    sdedit,
    window_starts,
)

RHO = 0.9
COV = torch.tensor([[1.0, RHO], [RHO, 1.0]], dtype=torch.float64)


def correlated_model(path, kind="velocity"):
    """The exact prediction for 2-pixel data N(0, COV) laid out as (B, 1, 1, 2):
    E[x0 | x_t] = a COV (a^2 COV + s^2 I)^-1 x_t."""

    def f(x, t, cond):
        td = t.double()
        a, s = path.alpha(td), path.sigma(td)
        gain = (
            a[:, None, None]
            * COV
            @ torch.linalg.inv(
                a[:, None, None] ** 2 * COV
                + s[:, None, None] ** 2 * torch.eye(2, dtype=torch.float64)
            )
        )
        x0 = (gain @ x.double().view(len(x), 2, 1)).view_as(x).to(x)
        bc = (-1, 1, 1, 1)
        eps = (x - a.view(bc).to(x) * x0) / s.view(bc).to(x)
        return from_x0_eps(path, kind, x0, eps, x, td)

    return f


def noise(n, shape, seed=0):
    gens = [keyed(seed + i) for i in range(n)]
    return torch.stack([torch.randn(shape, generator=g) for g in gens]), gens


@pytest.mark.parametrize("name", ["euler", "heun", "dpmpp_2m", "ddpm"])
@pytest.mark.parametrize("resample", [1, 3])
def test_known_pixels_are_kept_exactly(name, resample):
    path = build_path("vp")
    x_known = torch.randn(6, 3, 4, 5, generator=torch.Generator().manual_seed(1))
    mask = (torch.rand(6, 1, 4, 5, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    eps, gens = noise(6, (3, 4, 5))
    y = inpaint(
        scaled_eps_model(path),
        x_known,
        mask,
        make_grid("uniform", 6, path),
        eps,
        sampler=SAMPLERS[name],
        resample=resample,
        jump_length=2,
        path=path,
        kind="eps",
        generators=gens,
    )
    keep = ~mask.bool().expand_as(y)
    assert torch.equal(y[keep], x_known[keep])
    assert torch.isfinite(y).all() and not torch.equal(y[~keep], x_known[~keep])


def scaled_eps_model(path):
    """A stand-in network for any shape: predicts eps = 0.5 x_t (finite, not the identity)."""

    def f(x, t, cond):
        return 0.5 * x

    return f


@pytest.mark.parametrize("name", ["euler", "ddpm", "dpmpp_2m"])
@pytest.mark.parametrize("path_name", ["linear", "vp", "edm"])
def test_sdedit_at_strength_one_is_plain_sampling(name, path_name):
    path = build_path(path_name)
    model = correlated_model(path)
    grid = make_grid("uniform", 8, path)
    eps, gens = noise(5, (1, 1, 2), seed=40)
    plain = SAMPLERS[name](
        model, eps * float(path.sigma(grid[:1])), grid, path=path, generators=gens
    )
    x_in = torch.randn(5, 1, 1, 2)
    eps2, gens2 = noise(5, (1, 1, 2), seed=40)
    edited = sdedit(
        model, x_in, grid, eps2, strength=1.0, sampler=SAMPLERS[name], path=path, generators=gens2
    )
    assert torch.equal(edited, plain)


def test_sdedit_starts_from_the_input_noised_to_the_kept_time():
    """With a model that predicts the input exactly (x0 = x_in), Euler from any strength
    returns x_in: the start is alpha(t0) x_in + sigma(t0) eps and every step keeps it on
    that line; the fraction of the grid run follows diffusers (floor(K * strength))."""
    path = build_path("linear")
    x_in = torch.randn(4, 1, 1, 2)
    seen = []

    def model(x, t, cond):
        seen.append(float(t[0]))
        a, s = path.alpha(t.double()).view(-1, 1, 1, 1), path.sigma(t.double()).view(-1, 1, 1, 1)
        eps = (x - a.to(x) * x_in) / s.to(x)
        return from_x0_eps(path, "velocity", x_in, eps, x, t.double())

    grid = make_grid("uniform", 10, path)
    eps, _ = noise(4, (1, 1, 2))
    y = sdedit(model, x_in, grid, eps, strength=0.35, path=path)
    assert torch.allclose(y, x_in, atol=1e-6)
    assert seen == pytest.approx([0.3, 0.2, 0.1])


def test_img2img_grid_follows_diffusers_and_refuses_bad_strengths():
    grid = make_grid("uniform", 10, build_path("linear"))
    assert torch.equal(img2img_grid(grid, 1.0), grid)
    assert torch.equal(img2img_grid(grid, 0.5), grid[5:])
    assert len(img2img_grid(grid, 0.29)) == 3  # floor(2.9) = 2 intervals
    for bad in (0.0, -0.1, 1.01):
        with pytest.raises(ValueError, match="strength must be in"):
            img2img_grid(grid, bad)
    with pytest.raises(ValueError, match="runs no step"):
        img2img_grid(grid, 0.05)


def test_repaint_schedule():
    assert repaint_schedule(6, 2, 1) == list(range(7))
    seq = repaint_schedule(6, 2, 2)
    assert seq[0] == 0 and seq[-1] == 6 and min(seq) >= 0 and max(seq) <= 6
    assert all(abs(b - a) == 1 for a, b in zip(seq, seq[1:]))
    downs = sum(b > a for a, b in zip(seq, seq[1:]))
    # jump points 6, 4, 2: each adds jump_length * (resample - 1) down moves
    assert downs == 6 + 3 * 2 * 1
    seq = repaint_schedule(20, 5, 4)
    downs = sum(b > a for a, b in zip(seq, seq[1:]))
    assert downs == 20 + 4 * 5 * 3
    with pytest.raises(ValueError):
        repaint_schedule(6, 0, 2)


def test_renoise_is_the_forward_transition():
    """From x_t of fixed data x0 = 1, renoise to t' gives x_t' with mean alpha(t') and
    variance sigma(t')^2: the marginal of the path."""
    path = build_path("vp")
    g = torch.Generator().manual_seed(0)
    n = 200_000
    t, t_up = 0.3, 0.7
    tt = torch.tensor([t, t_up], dtype=torch.float64)
    a, s = path.alpha(tt), path.sigma(tt)
    x_t = a[0] + s[0] * torch.randn(n, dtype=torch.float64, generator=g)
    y = renoise(path, x_t, t, t_up, torch.randn(n, dtype=torch.float64, generator=g))
    assert float(y.mean()) == pytest.approx(float(a[1]), abs=0.01)
    assert float(y.var()) == pytest.approx(float(s[1]) ** 2, rel=0.02)


@pytest.mark.parametrize("name", ["euler", "ddpm"])
def test_repaint_reaches_the_exact_conditional_where_replacement_does_not(name):
    """Data N(0, [[1, .9], [.9, 1]]); pixel 0 known = 1.5, so pixel 1 | pixel 0 is
    N(1.35, 0.19). Replacement alone is biased towards the marginal (it only sees the
    known pixel through the noised copy); RePaint's resampling corrects it (Lugmayr et al.
    2022, Sec. 4.2)."""
    path = build_path("linear")
    model = correlated_model(path)
    n = 300
    x_known = torch.zeros(n, 1, 1, 2)
    x_known[..., 0] = 1.5
    mask = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
    grid = make_grid("uniform", 20, path)
    out = {}
    for r in (1, 10):
        eps, gens = noise(n, (1, 1, 2))
        y = inpaint(
            model, x_known, mask, grid, eps, sampler=SAMPLERS[name], resample=r,
            jump_length=1, path=path, generators=gens,
        )  # fmt: skip
        out[r] = (float(y[..., 1].mean()), float(y[..., 1].var()))
    assert abs(out[1][0] - 1.35) > 0.4
    assert abs(out[10][0] - 1.35) < 0.1 and abs(out[10][1] - 0.19) < 0.06


def test_outpaint_extends_the_canvas_and_keeps_the_original():
    x = torch.randn(2, 3, 8, 8)
    canvas, mask = extend_canvas(x, {"left": 5, "bottom": 3})
    assert canvas.shape == (2, 3, 11, 13) and mask.shape == (1, 1, 11, 13)
    assert int(mask.sum()) == 11 * 13 - 64
    assert window_starts(13, 8) == [0, 4, 5] and window_starts(8, 8) == [0]
    calls = []

    def fill(window, m, k):
        calls.append(k)
        assert window.shape == (2, 3, 8, 8) and m.shape == (1, 1, 8, 8)
        assert 0 < int(m.sum()) < 64  # every window holds context
        return torch.where(m.bool(), torch.full_like(window, 7.0), window)

    y = outpaint(fill, x, {"left": 5, "bottom": 3}, (8, 8))
    assert y.shape == (2, 3, 11, 13)
    assert torch.equal(y[..., :8, 5:], x)  # the original, exactly
    assert (y[mask.bool().expand_as(y)] == 7).all()  # every new pixel filled
    assert len(calls) == len(set(calls)) >= 1
    with pytest.raises(ValueError, match="unknown side"):
        extend_canvas(x, {"up": 2})
