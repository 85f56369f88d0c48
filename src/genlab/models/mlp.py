"""A residual MLP for 2-D (or any ``(B, D)``) points, conditioned on time and class.

``forward(x_t, t, cond) -> (B, D)``: the prediction (velocity, eps, ... as the objective
chose). Each block is ``h = h + W2 SiLU(W1 LN(h) + E(t, y))``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.configs import MLPConfig
from genlab.nn.blocks import zero_
from genlab.nn.embed import LabelEmbedding, TimeEmbedding, check_cond, class_embedding


class _Block(nn.Module):
    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1, self.fc2 = nn.Linear(hidden, hidden), zero_(nn.Linear(hidden, hidden))
        self.emb = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        return h + self.fc2(self.drop(F.silu(self.fc1(self.norm(h)) + self.emb(emb))))


class MLP(nn.Module):
    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        # Random Fourier features [x, sin(2 pi B x), cos(2 pi B x)] help an MLP resolve
        # sharp structure such as narrow modes (Tancik et al. 2020).
        self.register_buffer("freqs", torch.randn(cfg.dim, cfg.fourier) * cfg.fourier_scale)
        self.inp = nn.Linear(cfg.dim + 2 * cfg.fourier, cfg.hidden)
        self.time = TimeEmbedding(cfg.hidden)
        self.label = LabelEmbedding(cfg.num_classes, cfg.hidden) if cfg.num_classes else None
        self.blocks = nn.ModuleList(_Block(cfg.hidden, cfg.dropout) for _ in range(cfg.depth))
        self.out = nn.Sequential(
            nn.LayerNorm(cfg.hidden), nn.SiLU(), nn.Linear(cfg.hidden, cfg.dim)
        )

    def forward(self, x: Tensor, t: Tensor, cond: dict | None = None) -> Tensor:
        cond = check_cond(cond, ("class",) if self.label else ())
        emb = F.silu(self.time(t))  # (B, hidden)
        y = class_embedding(self.label, cond, len(x), x.device)
        if y is not None:
            emb = emb + y
        if self.cfg.fourier:
            z = 2 * math.pi * x @ self.freqs  # (B, fourier)
            x = torch.cat([x, z.sin(), z.cos()], 1)
        h = self.inp(x)  # (B, hidden)
        for blk in self.blocks:
            h = blk(h, emb)
        return self.out(h)  # (B, D)
