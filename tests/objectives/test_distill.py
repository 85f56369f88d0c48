"""The students' losses on closed forms: the consistency function is the identity at
t = 0 on every path; a progressive target makes one DDIM step land where two teacher
steps land; a progressive student at 2 steps learns its teacher's 4-step sampler on a
Gaussian whose exact ODE is known; reflow's loss vanishes on an exactly straight
coupling; the curriculum and the pseudo-Huber metric match their formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.models import build_model
from genlab.models.configs import MLPConfig
from genlab.objectives import distill as D
from genlab.paths import EDMPrecond, build_path
from genlab.paths.convert import to_x0_eps
from genlab.sampling import euler, make_grid

MU, S = torch.tensor([1.5, -0.5]), 0.3  # the toy data: N(MU, S^2 I) in 2-D


class GaussianVelocity(nn.Module):
    """The exact rectified-flow velocity of N(MU, S^2 I) data on the linear path:
    ``E[x0 | x_t] = MU + (1 - t) S^2 / ((1 - t)^2 S^2 + t^2) (x_t - (1 - t) MU)``,
    ``v = (x_t - E[x0 | x_t]) / t``."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, t, cond=None):
        t = t.double().view(-1, 1)
        x = x.double()
        gain = (1 - t) * S**2 / ((1 - t) ** 2 * S**2 + t**2)
        x0 = MU + gain * (x - (1 - t) * MU)
        return ((x - x0) / t).float()


class PerTimeAffine(nn.Module):
    """A student that predicts ``x0 = a_i x + b_i`` at each of its grid times (as a
    velocity on the linear path): exactly what a 2-step DDIM student of a Gaussian needs."""

    def __init__(self, times):
        super().__init__()
        self.times = torch.tensor(times, dtype=torch.float32)
        self.a = nn.Parameter(torch.zeros(len(times)))
        self.b = nn.Parameter(torch.zeros(len(times), 2))

    def forward(self, x, t, cond=None):
        i = (t.view(-1, 1) - self.times).abs().argmin(1)
        x0 = self.a[i].view(-1, 1) * x + self.b[i]
        return (x - x0) / t.view(-1, 1)


@pytest.mark.parametrize(
    "path_name,kind,precond",
    [("linear", "velocity", False), ("vp", "eps", False),
     ("cosine", "v", False), ("edm", "x0", True)],
)  # fmt: skip
def test_the_consistency_function_is_the_identity_at_t_0(path_name, kind, precond):
    torch.manual_seed(0)
    path = build_path(path_name)
    net = build_model(MLPConfig(dim=2, hidden=16, depth=2))
    if precond:
        net = EDMPrecond(net, path, 0.5)
    x = torch.randn(8, 2) * 3
    t0 = torch.zeros(8, dtype=torch.float64)
    x0, _ = D.x0_estimate(net, path, kind, x, t0, {})
    assert torch.allclose(x0, x, atol=1e-6)  # whatever the (random) network says
    if not precond:  # the path's own conversion already is the identity there
        raw, _ = to_x0_eps(path, kind, net(x, t0.float(), {}), x, t0)
        assert torch.allclose(raw, x, atol=1e-6)
    x0, _ = D.x0_estimate(net, path, kind, x, torch.full((8,), 0.5, dtype=torch.float64), {})
    assert not torch.allclose(x0, x, atol=1e-3)  # elsewhere the network matters


def test_a_raw_x0_network_is_refused_for_consistency_distillation():
    from genlab.errors import ConfigError
    from genlab.objectives.configs import ConsistencyConfig

    with pytest.raises(ConfigError, match="objective.target: a raw x0 network"):
        ConsistencyConfig(target="x0")
    ConsistencyConfig(path="edm", target="x0", precond="edm")  # preconditioned: fine
    with pytest.raises(ConfigError, match="objective.precond: EDM preconditioning"):
        ConsistencyConfig(target="x0", precond="edm")  # on the linear path: NaN samples


def test_one_ddim_step_to_the_progressive_target_lands_on_two_teacher_steps():
    torch.manual_seed(0)
    path, teacher = build_path("linear"), GaussianVelocity()
    z = torch.randn(16, 2)
    t = torch.full((16,), 0.75, dtype=torch.float64)
    mid, nxt = torch.full_like(t, 0.5), torch.full_like(t, 0.25)
    x_tilde = D.progressive_target(teacher, path, "velocity", z, t, mid, nxt, {})
    two = euler(teacher, z, torch.tensor([0.75, 0.5, 0.25], dtype=torch.float64), path=path)
    # one DDIM step t -> t'' with x0 = x_tilde: eps from (z, x_tilde), then a'' x~ + s'' eps
    eps = (z - 0.25 * x_tilde) / 0.75
    one = 0.75 * x_tilde + 0.25 * eps
    assert torch.allclose(one, two, atol=1e-5)


def test_a_2_step_progressive_student_matches_its_teachers_4_step_samples():
    torch.manual_seed(0)
    path, teacher = build_path("linear"), GaussianVelocity()
    teacher_grid = make_grid("uniform", 4, path)  # the student's grid: 1, 0.5, 0
    student = PerTimeAffine([1.0, 0.5])
    opt = torch.optim.Adam(student.parameters(), lr=0.05)
    data = MU + S * torch.randn(4096, 2)
    for step in range(400):
        g = torch.Generator().manual_seed(step)
        batch = {"x": data[torch.randint(0, len(data), (256,), generator=g)], "cond": {}}
        loss, _ = D.progressive_loss(
            student, batch, g, teacher=teacher, path=path, target="velocity",
            teacher_grid=teacher_grid,
        )  # fmt: skip
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
    z = torch.randn(512, 2)
    with torch.no_grad():
        want = euler(teacher, z, teacher_grid, path=path)
        got = euler(student, z, make_grid("uniform", 2, path), path=path)
    assert (got - want).abs().max() < 0.02
    # and the teacher's 4 steps are close to the exact map to N(MU, S^2): a real target
    assert torch.allclose(want.mean(0), MU, atol=0.05)


def test_reflow_loss_is_zero_on_an_exactly_straight_coupling():
    path = build_path("linear")
    z = torch.randn(8, 2)
    x0 = 0.5 * z + 1.0  # any deterministic coupling: the velocity z - x0 is constant in t

    class Straight(nn.Module):
        def forward(self, x, t, cond=None):  # x_t = (0.5 + 0.5 t) z + 1 - t, solved for z
            t = t.view(-1, 1)
            z = (x - (1 - t)) / (0.5 + 0.5 * t)
            return 0.5 * z - 1.0  # z - x0

    batch = {"x": x0, "cond": {"noise": z}}
    loss, _ = D.reflow_loss(Straight(), batch, torch.Generator().manual_seed(0), path=path,
                            target="velocity")  # fmt: skip
    assert loss.max() < 1e-10
    wrong, _ = D.reflow_loss(lambda x, t, c: x, batch, torch.Generator(), path=path,
                             target="velocity")  # fmt: skip
    assert wrong.min() > 1e-3
    distill, _ = D.reflow_loss(Straight(), batch, torch.Generator().manual_seed(0), path=path,
                               target="velocity", student_steps=1)  # fmt: skip
    assert distill.max() < 1e-10


def test_curriculum_doubles_from_s0_to_s1_over_the_run():
    # s0 = 10, s1 = 160: log2(16) + 1 = 5 stages of 1000 // 5 = 200 steps
    got = [D.curriculum_steps(k, 1000, 10, 160) for k in (0, 199, 200, 400, 600, 800, 999)]
    assert got == [10, 10, 20, 40, 80, 160, 160]
    assert D.curriculum_steps(500, 1000, 18, 18) == 18  # s0 = s1: a fixed discretisation


def test_pseudo_huber_is_quadratic_near_zero_and_linear_far_out():
    a, c = torch.zeros(1, 4), 0.1
    small, big = torch.full((1, 4), 1e-3), torch.full((1, 4), 10.0)
    # sqrt(r^2 + c^2) - c ~ r^2 / (2c) for r << c, ~ r - c for r >> c
    assert math.isclose(float(D.pseudo_huber(small, a, c)), 4e-6 / (2 * c), rel_tol=1e-3)
    assert math.isclose(float(D.pseudo_huber(big, a, c)), 20.0 - c, rel_tol=1e-3)
