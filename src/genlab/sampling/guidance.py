"""Classifier-free guidance as a wrapper that returns the same kind of callable.

genlab's ``--cfg w`` is the guidance *weight* of Ho & Salimans (2022):
``f_w = (1 + w) f(x, t, y) - w f(x, t, null)``. ``w = 0`` is the plain conditional model.
In the diffusers convention this is ``guidance_scale = 1 + w`` (so diffusers' 7.5 is
genlab's ``--cfg 6.5``). Guidance applies to the whole prediction; since every
conversion between prediction kinds is affine in the prediction, guiding ``eps``,
``x0``, ``v`` or ``velocity`` gives the same sample.

``interval = (t_lo, t_hi)`` applies guidance only while ``t_lo <= t <= t_hi``
(Kynkaanniemi et al. 2024, "guidance in a limited interval"); elsewhere the conditional
model alone is evaluated.

``rescale = phi`` in [0, 1] is guidance rescale (Lin et al. 2024, "Common Diffusion Noise
Schedules and Sample Steps are Flawed", Sec. 3.4, Eq. 15-16): the guided prediction
``g`` is scaled per sample to the standard deviation of the conditional one ``c``, then
mixed back, ``phi g std(c) / std(g) + (1 - phi) g``, against the over-exposure a large
weight causes. The paper applies it to its network's prediction (v); genlab applies it
to whatever the network predicts (``objective.target``), as diffusers does to its
``noise_pred``. Unlike plain guidance it is not affine, so it depends on that choice.

:func:`autoguidance` guides with a weaker network instead of the null condition (Karras
et al. 2024, "Guiding a Diffusion Model with a Bad Version of Itself"), so it works for
unconditional models too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genlab.cond import cat_with_null


def cfg(
    model: Callable,
    w: float,
    null_cond: dict,
    interval: tuple[float, float] | None = None,
    rescale: float = 0.0,
) -> Callable:
    """Wrap ``model(x, t, cond)`` with guidance weight ``w``; both terms in one batched
    forward pass over ``2B`` samples (``x (B, *S)``, ``t (B,)``). ``rescale`` is
    guidance rescale's ``phi`` (0: none).

    ``null_cond`` holds the declared null of each key of ``cond`` (a class id ``()``, or
    token states ``(L, D)`` with their mask ``(L,)``), or per-sample nulls with the batch
    dimension (a negative prompt); see :func:`genlab.cond.null_batch`.
    """
    if w == 0:
        return model

    def guided(x: Tensor, t: Tensor, cond: dict) -> Tensor:
        if interval is not None:
            inside = (t >= interval[0]) & (t <= interval[1])
            if not bool(inside.any()):
                return model(x, t, cond)
        b = len(x)
        both = cat_with_null(cond, null_cond)
        out = model(torch.cat([x, x]), torch.cat([t, t]), both)
        c, u = out[:b], out[b:]
        g = c + w * (c - u)
        if rescale:  # per sample, over every other dimension (Lin et al. 2024, Eq. 15-16)
            dims = tuple(range(1, g.ndim))
            ratio = c.std(dims, keepdim=True) / g.std(dims, keepdim=True).clamp_min(1e-12)
            g = rescale * (g * ratio) + (1 - rescale) * g
        if interval is not None:
            g = torch.where(inside.view(-1, *([1] * (x.ndim - 1))), g, c)
        return g

    return guided


def autoguidance(
    model: Callable, guide: Callable, w: float, interval: tuple[float, float] | None = None
) -> Callable:
    """Wrap ``model(x, t, cond)`` as ``(1 + w) model - w guide``, both given the same
    ``cond`` (Karras et al. 2024, Eq. 2, whose weight is ``1 + w``): ``guide`` is a worse
    network trained for the same task (an earlier checkpoint, or a smaller model), and
    the difference points away from its errors. Two forward passes (two networks);
    ``interval`` as for :func:`cfg`; ``w = 0`` returns ``model``."""
    if w == 0:
        return model

    def guided(x: Tensor, t: Tensor, cond: dict) -> Tensor:
        c = model(x, t, cond)
        if interval is not None:
            inside = (t >= interval[0]) & (t <= interval[1])
            if not bool(inside.any()):
                return c
        g = c + w * (c - guide(x, t, cond))
        if interval is not None:
            g = torch.where(inside.view(-1, *([1] * (x.ndim - 1))), g, c)
        return g

    return guided
