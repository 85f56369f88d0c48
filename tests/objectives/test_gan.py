"""GAN losses at known logits, penalties on analytic discriminators, spectral norm,
minibatch std and packing."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.nn.blocks import minibatch_std
from genlab.objectives import gan


def _sig(x):
    return 1 / (1 + math.exp(-x))


def test_losses_at_known_logits():
    r, f = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 0.0])
    want_d = [-math.log(_sig(2.0)) - math.log(1 - _sig(-1.0)), 2 * math.log(2)]
    assert torch.allclose(gan.d_loss("minimax", r, f), torch.tensor(want_d), atol=1e-6)
    assert torch.allclose(gan.d_loss("ns", r, f), torch.tensor(want_d), atol=1e-6)
    want_mm = [math.log(1 - _sig(-1.0)), math.log(0.5)]
    assert torch.allclose(gan.g_loss("minimax", f), torch.tensor(want_mm), atol=1e-6)
    want_ns = [-math.log(_sig(-1.0)), math.log(2)]
    assert torch.allclose(gan.g_loss("ns", f), torch.tensor(want_ns), atol=1e-6)
    assert gan.d_loss("wgan", r, f).tolist() == [-3.0, 0.0]
    assert gan.g_loss("wgan-gp", f).tolist() == [1.0, 0.0]
    assert gan.d_loss("hinge", r, f).tolist() == [0.0, 2.0]  # relu(-1)+relu(0); 1+1
    assert gan.g_loss("hinge", f).tolist() == [1.0, 0.0]
    assert gan.d_loss("lsgan", r, f).tolist() == [0.5 * (1 + 1), 0.5 * 1]
    assert gan.g_loss("lsgan", f).tolist() == [0.5 * 4, 0.5]


def test_minimax_generator_saturates_where_ns_does_not():
    f = torch.tensor([-10.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(gan.g_loss("minimax", f).sum(), f)
    (g_ns,) = torch.autograd.grad(gan.g_loss("ns", f).sum(), f)
    assert abs(g_mm.item()) < 1e-4 and abs(g_ns.item() + 1) < 1e-4


def test_penalties_on_linear_critic():
    a = torch.tensor([3.0, 4.0])  # D(x) = a.x: gradient norm |a| = 5 everywhere

    def critic(x):
        return x @ a

    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    gp = gan.gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    assert torch.allclose(gp, torch.full((6,), 16.0))  # (5 - 1)^2
    assert torch.allclose(gan.r1_penalty(critic, real), torch.full((6,), 25.0))
    # quadratic critic D(x) = |x|^2 / 2 has gradient x: R1 = |x|^2, differentiable
    w = torch.ones((), requires_grad=True)
    r1 = gan.r1_penalty(lambda x: w * 0.5 * (x**2).sum(1), real)
    assert torch.allclose(r1, (w**2) * (real**2).sum(1))
    (dw,) = torch.autograd.grad(r1.sum(), w)
    assert torch.allclose(dw, 2 * (real**2).sum())


def test_spectral_norm_bounds_largest_singular_value():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Conv1d(4, 8, 3))
    with torch.no_grad():
        net[0].weight.mul_(10)
    gan.spectral_norm_(net)
    for _ in range(30):  # power iterations run on training forwards
        net[0](torch.randn(2, 16))
        net[2](torch.randn(2, 4, 5))
    s_lin = torch.linalg.matrix_norm(net[0].weight, 2)
    s_conv = torch.linalg.matrix_norm(net[2].weight.flatten(1), 2)
    assert 0.99 < s_lin <= 1.0 + 1e-3 and 0.99 < s_conv <= 1.0 + 1e-3


def test_clip_weights():
    lin = nn.Linear(3, 3)
    with torch.no_grad():
        lin.weight.mul_(100)
    gan.clip_weights_(lin, 0.01)
    assert max(p.abs().max().item() for p in lin.parameters()) <= 0.01


def test_minibatch_std_and_pack_shapes():
    x = torch.randn(8, 3, 4, 4)
    y = minibatch_std(x, group=4)
    assert y.shape == (8, 4, 4, 4) and torch.equal(y[:, :3], x)
    # sample i is in group {i, i+2, i+4, i+6}; the feature is that group's mean std
    grp = x[[1, 3, 5, 7]]
    assert torch.allclose(y[1, 3], (grp.var(0, unbiased=False) + 1e-8).sqrt().mean().expand(4, 4))
    assert minibatch_std(torch.randn(6, 2)).shape == (6, 3)
    assert minibatch_std(torch.ones(4, 2))[:, 2].max() < 1e-3  # identical samples
    p = gan.pack(x, 2)
    assert p.shape == (4, 6, 4, 4) and torch.equal(p[1, 3:], x[3])
    assert gan.pack(torch.randn(10, 2), 5).shape == (2, 10)
    with pytest.raises(ValueError, match="multiple"):
        gan.pack(x, 3)
