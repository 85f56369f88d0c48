"""Classifier-free guidance as a wrapper that returns the same kind of callable.

genlab's ``--cfg w`` is the guidance *weight* of Ho & Salimans (2022):
``f_w = (1 + w) f(x, t, y) - w f(x, t, null)``. ``w = 0`` is the plain conditional model.
In the diffusers convention this is ``guidance_scale = 1 + w``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def cfg(model: Callable, w: float, null_cond: dict) -> Callable:
    """Wrap ``model(x, t, cond)`` with guidance weight ``w``; both terms in one batched
    forward pass over ``2B`` samples."""
    if w == 0:
        return model

    def guided(x: Tensor, t: Tensor, cond: dict) -> Tensor:
        b = len(x)
        null = {
            k: v.expand(b, *v.shape[1:]) if v.ndim else v.expand(b)
            for k, v in ((k, null_cond[k].to(x.device)) for k in cond)
        }
        both = {k: torch.cat([cond[k], null[k]]) for k in cond}
        out = model(torch.cat([x, x]), torch.cat([t, t]), both)
        c, u = out[:b], out[b:]
        return c + w * (c - u)

    return guided
