"""Exponential moving average of weights, with the half-life given in samples.

Per optimizer step of ``B`` samples, ``beta = 0.5 ** (B / halflife)``; with a ramp-up
the half-life is capped at ``rampup * samples_seen`` early in training (Karras et al.
2022, EDM: ``ema_halflife_kimg``, ``ema_rampup_ratio``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_beta(batch: int, samples_seen: int, halflife: float, rampup: float) -> float:
    """The decay for one step of ``batch`` samples after ``samples_seen`` samples."""
    h = halflife
    if rampup > 0:
        h = min(h, samples_seen * rampup)
    return 0.5 ** (batch / max(h, 1e-8))


class EMA(nn.Module):
    """A frozen copy of ``model`` tracking its weights; buffers are copied as they are."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, beta: float) -> None:
        """``ema = beta * ema + (1 - beta) * model`` for parameters; buffers copied."""
        if getattr(self, "_source", None) is not model:  # pair the tensors once per model
            ema_p = list(self.module.parameters())
            new_p = [p.detach() for p in model.parameters()]
            if len(ema_p) != len(new_p):
                raise ValueError("EMA and model have different parameter lists")
            pairs = (ema_p, new_p, list(self.module.buffers()), list(model.buffers()))
            object.__setattr__(self, "_pairs", pairs)  # plain attributes, not submodules
            object.__setattr__(self, "_source", model)
        ema_p, new_p, ema_b, new_b = self._pairs
        torch._foreach_lerp_(ema_p, new_p, 1 - beta)
        for e, b in zip(ema_b, new_b, strict=True):
            e.copy_(b)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
