"""Transformer pieces for token sequences ``(B, N, D)``: an MLP and adaLN modulation
(Peebles & Xie 2023). Attention lives in :mod:`genlab.nn.attention`."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """``x * (1 + scale) + shift`` over ``x`` ``(B, N, D)``, with per-sample ``(B, D)`` or
    per-token ``(B, N, D)`` shift/scale."""
    if shift.ndim == 2:
        shift, scale = shift[:, None], scale[:, None]
    return x * (1 + scale) + shift


class Mlp(nn.Module):
    """``Linear -> GELU(tanh) -> Linear`` with hidden width ``ratio * dim``."""

    def __init__(self, dim: int, ratio: float = 4.0):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))
