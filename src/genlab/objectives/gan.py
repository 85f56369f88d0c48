"""GAN losses as paired pure functions of discriminator logits, and their regularizers.

Every loss takes the discriminator's raw outputs (logits / critic values) and returns a
per-sample loss ``(B,)``; the loop averages. ``LOSSES[name] = (d_loss, g_loss)``:

- ``minimax`` (Goodfellow et al. 2014): ``min_G max_D E[log D(x)] + E[log(1 - D(G(z)))]``
  with ``D = sigmoid(logit)``. D minimises ``-log D(x) - log(1 - D(G(z)))`` =
  ``softplus(-r) + softplus(f)``; G minimises ``log(1 - D(G(z)))`` = ``-softplus(f)``.
- ``ns`` (non-saturating, same paper, Sec. 3): G minimises ``-log D(G(z))`` =
  ``softplus(-f)`` instead. Early in training D rejects fakes confidently (``f << 0``),
  where ``log(1 - sigmoid(f))`` is flat: its gradient w.r.t. ``f`` is ``-sigmoid(f) -> 0``,
  so the minimax generator learns nothing exactly when it is worst. ``-log sigmoid(f)``
  has gradient ``-(1 - sigmoid(f)) -> -1`` there: the same fixed point, strong gradients.
- ``wgan`` (Arjovsky et al. 2017): critic minimises ``f - r`` (an estimate of
  ``-W_1``), G minimises ``-f``; the critic must be 1-Lipschitz, enforced by weight
  clipping (:func:`clip_weights_`) or a gradient penalty.
- ``wgan-gp`` (Gulrajani et al. 2017): the ``wgan`` pair plus
  ``lambda * (||grad D(x_hat)|| - 1)^2`` on random interpolates (:func:`gradient_penalty`).
- ``hinge`` (Lim & Ye 2017; Miyato et al. 2018): D ``relu(1 - r) + relu(1 + f)``, G ``-f``.
- ``lsgan`` (Mao et al. 2017, a=0, b=c=1): D ``((r - 1)^2 + f^2) / 2``, G ``(f - 1)^2 / 2``.

Regularizers: :func:`gradient_penalty`, :func:`r1_penalty` (lazy: applied every ``k``
D steps with weight ``k * gamma / 2``, Karras et al. 2020), :func:`spectral_norm_`,
:func:`clip_weights_` and :func:`pack` (PacGAN, Lin et al. 2018: D judges ``m`` samples
at once). The minibatch standard deviation layer (Karras et al. 2018) is a network part:
:func:`genlab.nn.blocks.minibatch_std`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# ---------------------------------------------------------------------------- losses
# r: D's logits on real data (B,), f: D's logits on generated data (B,).


def minimax_d(r: Tensor, f: Tensor) -> Tensor:
    """``-log sigmoid(r) - log(1 - sigmoid(f))`` per sample (the JS-GAN discriminator)."""
    return F.softplus(-r) + F.softplus(f)


def minimax_g(f: Tensor) -> Tensor:
    """``log(1 - sigmoid(f))`` (saturating: vanishing gradient when D wins)."""
    return -F.softplus(f)


def ns_g(f: Tensor) -> Tensor:
    """``-log sigmoid(f)`` (non-saturating generator loss)."""
    return F.softplus(-f)


def wgan_d(r: Tensor, f: Tensor) -> Tensor:
    """``f - r``: the negated Wasserstein-1 estimate of a 1-Lipschitz critic."""
    return f - r


def wgan_g(f: Tensor) -> Tensor:
    return -f


def hinge_d(r: Tensor, f: Tensor) -> Tensor:
    return F.relu(1 - r) + F.relu(1 + f)


def lsgan_d(r: Tensor, f: Tensor) -> Tensor:
    return 0.5 * ((r - 1) ** 2 + f**2)


def lsgan_g(f: Tensor) -> Tensor:
    return 0.5 * (f - 1) ** 2


LOSSES: dict[str, tuple[Callable, Callable]] = {
    "minimax": (minimax_d, minimax_g),
    "ns": (minimax_d, ns_g),
    "wgan": (wgan_d, wgan_g),
    "wgan-gp": (wgan_d, wgan_g),
    "hinge": (hinge_d, wgan_g),
    "lsgan": (lsgan_d, lsgan_g),
}


def d_loss(kind: str, r: Tensor, f: Tensor) -> Tensor:
    """The discriminator's per-sample loss ``(B,)`` for loss ``kind``."""
    return LOSSES[kind][0](r, f)


def g_loss(kind: str, f: Tensor) -> Tensor:
    """The generator's per-sample loss ``(B,)`` for loss ``kind``."""
    return LOSSES[kind][1](f)


# ----------------------------------------------------------------------- regularizers

Critic = Callable[[Tensor], Tensor]  # x (B, *S) -> logits (B,)


def input_grad_norm(critic: Critic, x: Tensor) -> Tensor:
    """``||d critic(x)_i / d x_i||_2`` per sample ``(B,)``, differentiable (create_graph)."""
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1).norm(dim=1)


def gradient_penalty(
    critic: Critic, real: Tensor, fake: Tensor, generator: torch.Generator, target: float = 1.0
) -> Tensor:
    """WGAN-GP penalty ``(||grad D(x_hat)|| - target)^2`` per sample ``(B,)``.

    ``x_hat = e * real + (1 - e) * fake`` with ``e ~ U[0, 1]`` per sample, drawn from
    ``generator`` (Gulrajani et al. 2017, Algorithm 1).
    """
    e = torch.rand(len(real), generator=generator).to(real)
    e = e.view(-1, *([1] * (real.ndim - 1)))
    x_hat = e * real.detach() + (1 - e) * fake.detach()
    return (input_grad_norm(critic, x_hat) - target) ** 2


def r1_penalty(critic: Critic, real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): ``||grad D(x)||^2`` on real samples, per sample ``(B,)``.

    The loss adds ``gamma / 2 * R1``; applied lazily every ``k`` D steps, it is scaled by
    ``k`` so its average strength is unchanged (StyleGAN2, Karras et al. 2020, Sec. 3.1).
    """
    return input_grad_norm(critic, real) ** 2


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    """WGAN weight clipping: every parameter into ``[-c, c]``, in place."""
    for p in module.parameters():
        p.clamp_(-c, c)


def spectral_norm_(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every Linear / Conv weight, in place.

    Uses ``torch.nn.utils.parametrizations.spectral_norm``: ``W / sigma(W)`` where
    ``sigma`` is estimated by power iteration (one step per training forward, the vectors
    ``u, v`` persist as buffers, so it converges over training). Conv kernels are
    reshaped to ``(C_out, C_in * k * k)`` first, as in the paper. Returns ``module``.
    """
    from torch.nn.utils.parametrizations import spectral_norm

    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
            setattr(module, name, spectral_norm(child, n_power_iterations=n_power_iterations))
        else:
            spectral_norm_(child, n_power_iterations)
    return module


def pack(x: Tensor, m: int) -> Tensor:
    """PacGAN packing: ``m`` consecutive samples become one, concatenated on dim 1.

    ``(B, C, *S) -> (B / m, m * C, *S)``; points ``(B, D) -> (B / m, m * D)``. ``B`` must
    be a multiple of ``m``; ``m = 1`` returns ``x`` unchanged.
    """
    if m == 1:
        return x
    b = x.shape[0]
    if b % m:
        raise ValueError(f"pack: batch {b} is not a multiple of the packing degree {m}")
    return x.reshape(b // m, m * x.shape[1], *x.shape[2:])
