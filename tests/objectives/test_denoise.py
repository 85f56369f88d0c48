"""The denoising loss: targets per path and kind, DDPM as a configuration (discrete t,
eps target), weighting, condition dropout, per-t loss bins, and learning on a tiny
overfit."""

import pytest
import torch

from genlab.cond import drop as drop_cond
from genlab.errors import ConfigError
from genlab.models import build_model, preset
from genlab.objectives.configs import DenoiseConfig
from genlab.objectives.denoise import denoising_loss, t_bins
from genlab.paths import build_path, edm_weight
from genlab.paths.convert import target as path_target


class Recorder(torch.nn.Module):
    """Returns zeros and records what the loss feeds it."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, cond):
        self.seen = (x, t, cond)
        return torch.zeros_like(x) + self.w


def batch(n=64, d=3):
    g = torch.Generator().manual_seed(1)
    return {"x": torch.randn(n, d, generator=g), "cond": {"class": torch.arange(n) % 4}}


@pytest.mark.parametrize(
    "path,target", [("linear", "velocity"), ("ddpm", "eps"), ("vp", "v"), ("edm", "x0")]
)
def test_loss_of_zero_prediction_is_the_target_energy(path, target):
    """With f = 0 the per-sample loss is ||target||^2 / numel, target rebuilt from the
    same generator stream (t, then eps)."""
    p = build_path(path)
    m, b = Recorder(), batch()
    loss, logs = denoising_loss(m, b, torch.Generator().manual_seed(7), path=p, target=target)
    g = torch.Generator().manual_seed(7)
    t = torch.rand(len(b["x"]), generator=g, dtype=torch.float64).clamp(1e-5, 1)
    eps = torch.randn(b["x"].shape, generator=g)
    want = path_target(p, target, b["x"], eps, t).float().pow(2).mean(1)
    torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(m.seen[0], p.sample(b["x"], eps, t).float())
    assert set(logs) <= {"loss_t0", "loss_t1", "loss_t2", "loss_t3"} and len(logs) == 4


def test_ddpm_is_a_configuration_discrete_t_and_eps():
    m = Recorder()
    p = build_path("ddpm")
    denoising_loss(
        m, batch(256), torch.Generator().manual_seed(0), path=p, target="eps", t_steps=1000
    )
    t = m.seen[1].double()
    k = t * 1000
    assert (
        torch.allclose(k, k.round(), atol=1e-3) and float(k.min()) >= 1 and float(k.max()) <= 1000
    )


def test_t_bins_average_per_quarter():
    loss = torch.tensor([1.0, 3.0, 5.0, 7.0, 9.0])
    t = torch.tensor([0.1, 0.2, 0.6, 0.99, 1.0], dtype=torch.float64)
    logs = t_bins(loss, t)
    assert logs == {"loss_t0": 2.0, "loss_t2": 5.0, "loss_t3": 8.0}


def test_edm_weighting_applies():
    p = build_path("edm")
    m, b = Recorder(), batch()
    kw = {"path": p, "target": "x0"}
    plain, _ = denoising_loss(m, b, torch.Generator().manual_seed(3), **kw)
    weighted, _ = denoising_loss(m, b, torch.Generator().manual_seed(3), weighting="edm", **kw)
    w = edm_weight(p.ve_sigma(m.seen[1].double()), 0.5).float()
    torch.testing.assert_close(weighted, plain * w, rtol=1e-4, atol=1e-6)


def test_condition_dropout_to_the_declared_null():
    cond = {"class": torch.arange(1000) % 10}
    null = {"class": torch.tensor(10)}
    g = torch.Generator().manual_seed(0)
    assert torch.equal(drop_cond(cond, 1.0, null, g)["class"], torch.full((1000,), 10))
    assert drop_cond(cond, 0.0, null, g) is cond
    frac = float((drop_cond(cond, 0.3, null, g)["class"] == 10).double().mean())
    assert 0.25 < frac < 0.35


def test_bad_objective_configs_fail_clearly():
    with pytest.raises(ConfigError, match="objective.target"):
        DenoiseConfig(precond="edm", target="eps")
    with pytest.raises(ConfigError, match="objective.precond: EDM preconditioning"):
        DenoiseConfig(precond="edm", target="x0")  # on the default linear path: NaN samples
    with pytest.raises(ConfigError, match="cond_drop"):
        DenoiseConfig(cond_drop=1.5)


@pytest.mark.parametrize("path,target", [("ddpm", "eps"), ("linear", "velocity")])
def test_loss_falls_on_a_tiny_overfit(path, target):
    torch.manual_seed(0)
    model = build_model(preset("mlp-small", dim=2, hidden=64, depth=2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.tensor([[1.0, 1.0], [-1.0, -1.0]]).repeat(64, 1)
    losses = []
    for step in range(120):
        loss, _ = denoising_loss(
            model,
            {"x": x},
            torch.Generator().manual_seed(step),
            path=build_path(path),
            target=target,
        )
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        losses.append(float(loss.detach().mean()))
    first, last = sum(losses[:15]) / 15, sum(losses[-15:]) / 15
    assert last < 0.7 * first, (first, last)


class Oracle(torch.nn.Module):
    """Predicts the exact velocity on the values to generate (mask 1), and garbage (+5) on
    the known ones; it rebuilds the velocity from x_t and the clean clip it is handed."""

    def __init__(self, x):
        super().__init__()
        self.x, self.w = x, torch.nn.Parameter(torch.zeros(()))

    def forward(self, x_t, t, cond):
        tt = t.view(-1, *[1] * (x_t.dim() - 1)).double()
        eps = (x_t.double() - (1 - tt) * self.x.double()) / tt  # linear path: x_t = (1-t)x + t eps
        v = (eps - self.x.double()).float()
        return torch.where(cond["mask"].bool().expand_as(v), v, v + 5) + self.w


def test_masked_loss_averages_over_the_values_to_generate_only():
    """objective.masked_loss: an oracle exact on the frames to predict and wrong by 5 on
    the known ones scores 0 masked and 25 x (known fraction) unmasked; a clip with nothing
    to generate scores 0."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 6, 4, 4, generator=g)  # (B, C, T, H, W)
    m = torch.ones(3, 1, 6, 4, 4)
    m[0, :, :2] = 0  # 2 known frames of 6
    m[1] = 0  # all known
    b = {"x": x, "cond": {"mask": m}}
    p = build_path("linear")
    kw = dict(path=p, target="velocity")
    masked, _ = denoising_loss(Oracle(x), b, torch.Generator().manual_seed(1), masked=True, **kw)
    whole, _ = denoising_loss(Oracle(x), b, torch.Generator().manual_seed(1), **kw)
    torch.testing.assert_close(masked, torch.zeros(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(whole, torch.tensor([25 * 2 / 6, 25.0, 0.0]), atol=1e-3, rtol=0)


def test_masked_loss_needs_an_inpainting_network():
    from genlab.families.diffusion import pixel_loss
    from genlab.recipes import get_recipe

    plain = ["objective.masked_loss=true", "model.inpaint=false"]
    exp = get_recipe("dit-moving-mnist-small", plain)
    with pytest.raises(ConfigError, match=r"objective.masked_loss: needs an inpainting network"):
        pixel_loss(exp)
    assert callable(pixel_loss(get_recipe("dit-predict-moving-mnist-small")))
    for k in (20, 25):  # of 20 frames: nothing left to predict
        exp = get_recipe("dit-predict-moving-mnist-small", [f"objective.context_frames={k}"])
        with pytest.raises(ConfigError, match=f"objective.context_frames: {k} known frames"):
            pixel_loss(exp)
