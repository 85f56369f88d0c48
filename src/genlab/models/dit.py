"""DiT: a diffusion transformer with adaLN-Zero blocks (Peebles & Xie 2023).

``forward(x_t (B, C, *S), t (B,), cond) -> (B, C_out, *S)``. The input is cut into
patches (:func:`genlab.nn.patch.patchify`, 1/2/3-D by ``dims``), linearly embedded, plus a
learned position embedding; each block is

    shift1, scale1, gate1, shift2, scale2, gate2 = Linear(SiLU(c))      # c = emb(t) + emb(y)
    h = h + gate1 * Attn(modulate(LN(h), shift1, scale1))
    h = h + gate2 * MLP(modulate(LN(h), shift2, scale2))

with the modulation ``Linear`` initialised to zero ("adaLN-Zero": every block starts as
the identity). The final layer is adaLN + a zero-initialised linear map back to patches.

For video (``dims=3``, input ``(B, C, T, H, W)``) ``attention`` selects full 3-D attention
or the cheaper factored space-time form (:func:`genlab.nn.attention.attend_space_time`);
the weights are the same in every mode, so it may be changed after training.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genlab.models.configs import DiTConfig
from genlab.nn.attention import MultiHeadAttention
from genlab.nn.blocks import zero_
from genlab.nn.embed import LabelEmbedding, TimeEmbedding, check_cond, class_embedding
from genlab.nn.patch import patchify, unpatchify
from genlab.nn.transformer import Mlp, modulate


class DiTBlock(nn.Module):
    """Transformer block with adaLN-Zero conditioning on ``c (B, D)``; ``frames`` is the
    number of frames of the tokens for a space-time attention ``mode``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, mode: str = "full"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = MultiHeadAttention(dim, heads, mode=mode)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, mlp_ratio)
        self.ada = zero_(nn.Linear(dim, 6 * dim))

    def forward(self, h: Tensor, c: Tensor, frames: int = 1) -> Tensor:
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(nn.functional.silu(c)).chunk(6, dim=1)
        h = h + g1[:, None] * self.attn(modulate(self.norm1(h), sh1, sc1), frames=frames)
        return h + g2[:, None] * self.mlp(modulate(self.norm2(h), sh2, sc2))


class DiT(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        p, d, dim = cfg.patch, cfg.dims, cfg.hidden
        self.c_out = cfg.out_channels or cfg.in_channels
        n_tokens = (cfg.image_size // p) ** d
        self.embed = nn.Linear(cfg.in_channels * p**d, dim)
        self.pos = nn.Parameter(torch.randn(1, n_tokens, dim) * 0.02)
        self.time = TimeEmbedding(dim)
        self.label = LabelEmbedding(cfg.num_classes, dim) if cfg.num_classes else None
        self.blocks = nn.ModuleList(
            DiTBlock(dim, cfg.heads, cfg.mlp_ratio, cfg.attention) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = zero_(nn.Linear(dim, 2 * dim))
        self.out = zero_(nn.Linear(dim, self.c_out * p**d))
        self._init()

    def _init(self) -> None:
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear) and not name.endswith(("ada", "out")):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.embed.weight  # like a conv kernel: fan-in init
        nn.init.uniform_(w, -1 / math.sqrt(w.shape[1]), 1 / math.sqrt(w.shape[1]))

    def forward(self, x: Tensor, t: Tensor, cond: dict | None = None) -> Tensor:
        cond = check_cond(cond, ("class",) if self.label else ())
        size = tuple(x.shape[2:])
        c = self.time(t)  # (B, D)
        y = class_embedding(self.label, cond, len(x), x.device)
        if y is not None:
            c = c + y
        h = self.embed(patchify(x, self.cfg.patch)) + self.pos  # (B, N, D)
        frames = size[0] // self.cfg.patch if self.cfg.dims == 3 else 1  # frame-major tokens
        for blk in self.blocks:
            h = blk(h, c, frames)
        shift, scale = self.ada(nn.functional.silu(c)).chunk(2, dim=1)
        h = self.out(modulate(self.norm(h), shift, scale))  # (B, N, C_out p^d)
        return unpatchify(h, self.cfg.patch, self.c_out, size)
