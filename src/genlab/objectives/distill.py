"""Losses of the few-step students (``genlab.families.distill``), one function each.

Every student is a network of the teacher's kind (``target``) on the teacher's ``path``;
its ``x0`` estimate ``f(x_t, t) = to_x0(model(x_t, t))`` is the consistency function,
the one-step generator and the DDIM denoiser at once. All times are float64 ``(B,)``.

- :func:`reflow_loss`: rectified flow on a fixed coupling (Liu et al. 2022, Alg. 1).
- :func:`progressive_loss`: one round of progressive distillation (Salimans & Ho 2022,
  Alg. 2): match two teacher DDIM steps with one.
- :func:`consistency_loss`: consistency distillation (Song et al. 2023, Alg. 2) with the
  pseudo-Huber metric and the discretisation curriculum of Song & Dhariwal 2023.
- :func:`regression_loss`: the adversarial student's distillation term;
  :func:`generator_regression_loss` the same for a GAN-generator student.

``teacher(x, t, cond)`` is the frozen (possibly guided) teacher callable; it is called
under ``torch.no_grad``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from genlab.paths import AffinePath
from genlab.paths.affine import bcast
from genlab.paths.convert import target as path_target
from genlab.paths.convert import to_x0_eps

Teacher = Callable[[Tensor, Tensor, dict], Tensor]


def x0_estimate(model: Teacher, path: AffinePath, kind: str, x: Tensor, t: Tensor, cond: dict):
    """``(x0, eps)`` from ``model``'s prediction of ``kind`` at ``x (B, *S)``, ``t (B,)``
    float64. The ``x0`` part is the consistency function ``f(x, t)``, with ``f(x, 0) = x``
    (Song et al. 2023, eq. 3): for velocity, eps and v networks the path's conversion
    already gives ``x`` at ``t = 0`` (``c_skip(0) = 1, c_out(0) = 0``); rows at ``t = 0``
    take ``x`` exactly, so an EDM-preconditioned network (whose ``log sigma`` input is
    ``-inf`` there) is never read at ``t = 0``."""
    pred = model(x, t.to(x.device, torch.float32), cond).float()
    x0, eps = to_x0_eps(path, kind, pred, x.float(), t)
    at0 = (t == 0).to(x0.device).view(-1, *([1] * (x0.ndim - 1)))
    return torch.where(at0, x.float(), x0), eps


def per_sample_mse(a: Tensor, b: Tensor) -> Tensor:
    """``(B,)`` mean squared error over each sample's elements."""
    return (a.float() - b.float()).pow(2).flatten(1).mean(1)


def split_pair(batch: dict) -> tuple[Tensor, Tensor, dict]:
    """``(teacher sample x0, its noise z, the condition without the noise)`` of a pairs
    batch (``genlab.families.distill.load_pairs`` puts the noise in ``cond["noise"]``)."""
    cond = dict(batch.get("cond", {}))
    z = cond.pop("noise")
    return batch["x"], z.to(batch["x"]), cond


def reflow_loss(
    model: nn.Module,
    batch: dict,
    generator: torch.Generator,
    *,
    path: AffinePath,
    target: str,
    student_steps: int = 0,
) -> tuple[Tensor, dict]:
    """Rectified flow on the teacher's coupling ``(z, x0 = ODE(z))``: per-sample
    ``|| model(x_t, t) - target(x0, z, t) ||^2`` (the raw prediction, of kind ``target``)
    with ``x_t = (1 - t) x0 + t z`` (Liu et al. 2022, eq. 1 with the pairs in place of
    independent draws). ``student_steps = k > 0``
    draws ``t`` from ``{1/k, ..., 1}`` only: k-step distillation (their Sec. 2.3, L2)."""
    x0, z, cond = split_pair(batch)
    b = len(x0)
    if student_steps:
        t = torch.randint(1, student_steps + 1, (b,), generator=generator).double() / student_steps
    else:
        t = torch.rand(b, generator=generator, dtype=torch.float64)
    x_t = path.sample(x0, z, t)
    pred = model(x_t, t.to(x0.device, torch.float32), cond)
    loss = per_sample_mse(pred, path_target(path, target, x0, z, t))
    return loss, {}


def progressive_target(
    teacher: Teacher,
    path: AffinePath,
    kind: str,
    z_t: Tensor,
    t: Tensor,
    t_mid: Tensor,
    t_next: Tensor,
    cond: dict,
) -> Tensor:
    """The ``x0`` target of Salimans & Ho 2022, Alg. 2: two teacher DDIM steps
    ``t -> t_mid -> t_next`` give ``z''``; the target is the ``x~`` for which one DDIM
    step ``t -> t_next`` lands on ``z''``:
    ``x~ = (z'' - (s''/s) z_t) / (a'' - (s''/s) a)`` (``x~ = z''`` where ``t_next = 0``)."""
    with torch.no_grad():
        x0, eps = x0_estimate(teacher, path, kind, z_t, t, cond)
        z_mid = path.sample(x0, eps, t_mid)
        x0, eps = x0_estimate(teacher, path, kind, z_mid, t_mid, cond)
        z_next = path.sample(x0, eps, t_next)
    a, s, _, _ = path.coeffs(t, z_t)
    a2, s2, _, _ = path.coeffs(t_next, z_t)
    ratio = s2 / s  # s > 0 on every grid time but the last
    return (z_next - ratio * z_t) / (a2 - ratio * a)


def progressive_loss(
    model: nn.Module,
    batch: dict,
    generator: torch.Generator,
    *,
    teacher: Teacher,
    path: AffinePath,
    target: str,
    teacher_grid: Tensor,
) -> tuple[Tensor, dict]:
    """Per-sample ``max(SNR(t), 1) || x0_student(z_t, t) - x~ ||^2`` (the "truncated SNR"
    weighting of Salimans & Ho 2022, Sec. 4) at a student grid time ``t``.

    Args:
        teacher_grid: ``(2N + 1,)`` float64 times from 1 to 0; the student's grid is every
            other one, so it takes N steps where the teacher took 2N.
    """
    x = batch["x"]
    cond = batch.get("cond", {})
    n = (len(teacher_grid) - 1) // 2
    i = torch.randint(0, n, (len(x),), generator=generator)
    t, t_mid, t_next = teacher_grid[2 * i], teacher_grid[2 * i + 1], teacher_grid[2 * i + 2]
    eps = torch.randn(x.shape, generator=generator).to(x)
    z_t = path.sample(x, eps, t).float()
    x_tilde = progressive_target(teacher, path, target, z_t, t, t_mid, t_next, cond)
    x0, _ = x0_estimate(model, path, target, z_t, t, cond)
    w = path.logsnr(t).exp().clamp(min=1.0).to(x0)
    err = per_sample_mse(x0, x_tilde)
    return w * err, {"mse_x0": err.mean().detach()}


def curriculum_steps(k: int, total: int, s0: int, s1: int) -> int:
    """Discretisation intervals at optimizer step ``k`` of ``total``: ``min(s0
    2^floor(k / K'), s1)`` with ``K' = floor(total / (log2 floor(s1 / s0) + 1))`` (Song &
    Dhariwal 2023, eq. 5, counting intervals instead of points)."""
    doublings = math.floor(math.log2(max(s1 // s0, 1))) + 1
    per = max(total // doublings, 1)
    return min(s0 * 2 ** (k // per), s1)


def pseudo_huber(a: Tensor, b: Tensor, c: float) -> Tensor:
    """``sqrt(||a - b||^2 + c^2) - c`` per sample ``(B,)`` (Song & Dhariwal 2023, Sec. 3.3);
    quadratic near 0 and linear far out, so outliers pull less than in L2."""
    sq = (a.float() - b.float()).pow(2).flatten(1).sum(1)
    return (sq + c * c).sqrt() - c


def consistency_loss(
    model: nn.Module,
    batch: dict,
    generator: torch.Generator,
    *,
    teacher: Teacher,
    path: AffinePath,
    target: str,
    grid_fn: Callable[[int], Tensor],
    intervals: Callable[[int], int],
    batch_size: int,
    metric: str = "pseudo_huber",
    huber_c: float = 0.0,
) -> tuple[Tensor, dict]:
    """Consistency distillation (Song et al. 2023, Alg. 2): per-sample
    ``d(f(x_hi, t_hi), sg f(x_lo, t_lo))`` where ``x_hi = alpha x + sigma eps`` at a
    grid time ``t_hi``, and ``x_lo`` is one teacher DDIM (Euler) step from it to the next
    grid time ``t_lo``. The target network is the student itself without gradient
    (Song & Dhariwal 2023: no EMA for the target); ``f(x, 0) = x`` by construction.

    Args:
        grid_fn: ``N -> (N + 1,)`` float64 times from 1 to 0.
        intervals: ``optimizer step -> N`` (the curriculum).
        batch_size: the global batch, to read the optimizer step off ``samples_seen``.
        metric: ``pseudo_huber`` (``c = huber_c``, 0: ``0.00054 sqrt(d)``) or ``l2`` (mean
            squared error).
    """
    x = batch["x"]
    cond = batch.get("cond", {})
    step = int(batch.get("samples_seen", 0)) // batch_size
    n = intervals(step)
    grid = grid_fn(n)
    i = torch.randint(0, n, (len(x),), generator=generator)
    t_hi, t_lo = grid[i], grid[i + 1]
    eps = torch.randn(x.shape, generator=generator).to(x)
    x_hi = path.sample(x, eps, t_hi).float()
    with torch.no_grad():
        x0_t, eps_t = x0_estimate(teacher, path, target, x_hi, t_hi, cond)
        x_lo = path.sample(x0_t, eps_t, t_lo)  # one DDIM step
        tgt, _ = x0_estimate(model, path, target, x_lo, t_lo, cond)
    pred, _ = x0_estimate(model, path, target, x_hi, t_hi, cond)
    if metric == "l2":
        loss = per_sample_mse(pred, tgt)
    else:
        c = huber_c or 0.00054 * math.sqrt(x[0].numel())
        loss = pseudo_huber(pred, tgt, c)
    return loss, {"intervals": float(n)}


def regression_loss(
    model: nn.Module, z: Tensor, x0: Tensor, cond: dict, *, path: AffinePath, target: str
) -> tuple[Tensor, Tensor]:
    """The one-step student's sample ``G(z) = x0_estimate(z, t = 1)`` ``(B, *S)`` and its
    per-sample squared error to the teacher's sample ``x0`` from the same noise."""
    t = torch.ones(len(z), dtype=torch.float64)
    z = z * bcast(path.sigma(t), z)  # the prior at t = 1
    fake, _ = x0_estimate(model, path, target, z, t, cond)
    return fake, per_sample_mse(fake, x0)


def generator_regression_loss(
    generator: nn.Module, z: Tensor, x0: Tensor, cond: dict
) -> tuple[Tensor, Tensor]:
    """A GAN-generator student's sample ``G(z) (B, *S)``, reading the teacher's noise
    ``z (B, *S)`` flattened to ``(B, prod S)``, and its per-sample squared error to the
    teacher's sample ``x0`` from the same noise (the regression of Luhman & Luhman 2021,
    "Knowledge distillation in iterative generative models", in a DCGAN generator)."""
    fake = generator(z.flatten(1), cond)
    return fake, per_sample_mse(fake, x0)
