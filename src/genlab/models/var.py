"""VAR: visual autoregressive modelling by next-scale prediction (Tian et al. 2024).

The tokens of a multi-scale residual tokenizer (``genlab.models.vq`` with ``scales``) are
ordered coarse to fine: scale ``k`` has ``s_k x s_k`` tokens. The transformer predicts
every token of scale ``k`` at once from the scales before it:

- input of scale 1: the start vector (class embedding; label ``num_classes`` is null),
  repeated over its ``s_1^2`` positions;
- input of scale ``k >= 2``: the sum of the codes of scales ``< k`` (each upsampled to the
  latent grid), area-resized to ``s_k x s_k`` and linearly projected (VAR section 3.2);
- plus a learned position embedding per token and a learned embedding per scale;
- block-causal attention: a token of scale ``k`` attends to every token of scales
  ``1..k`` (its own scale included: the inputs of scale ``k`` carry only information from
  scales ``< k``, so attending within the block leaks no target).

``forward(tokens (B, N), cond) -> logits (B, N, V)``; only the tokens of scales before
the last are read. The codebook ``codes (V, D)`` is a copy of the tokenizer's, stored with
the weights so a VAR run is self-contained. Sampling: ``genlab.sampling.tokens``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.errors import ConfigError
from genlab.models.configs import VARConfig
from genlab.models.gpt import Block, _init
from genlab.models.vq import ms_next_inputs
from genlab.nn.embed import LabelEmbedding, check_cond, class_embedding


def scale_index(scales: tuple[int, ...]) -> Tensor:
    """The scale of each token position, ``(N,)`` int64."""
    return torch.cat([torch.full((s * s,), k) for k, s in enumerate(scales)])


def block_causal_mask(scales: tuple[int, ...]) -> Tensor:
    """``(N, N)`` bool: query i may attend key j iff ``scale(j) <= scale(i)``."""
    lv = scale_index(scales)
    return lv[None, :] <= lv[:, None]


class VAR(nn.Module):
    def __init__(self, cfg: VARConfig):
        super().__init__()
        self.cfg = cfg
        c, n = cfg.n_embd, cfg.seq_len()
        self.register_buffer("codes", torch.zeros(cfg.vocab_size, cfg.code_dim))
        self.label = LabelEmbedding(cfg.num_classes, c) if cfg.num_classes else None
        self.start = nn.Parameter(torch.zeros(c)) if not cfg.num_classes else None
        self.proj = nn.Linear(cfg.code_dim, c)
        self.pos = nn.Parameter(torch.zeros(n, c))
        self.level = nn.Embedding(len(cfg.scales), c)
        self.blocks = nn.ModuleList(Block(c, cfg.n_head, cfg.dropout) for _ in range(cfg.n_layer))
        self.ln_f, self.head = nn.LayerNorm(c), nn.Linear(c, cfg.vocab_size)
        self.register_buffer("lv", scale_index(cfg.scales), persistent=False)
        self.register_buffer("mask", block_causal_mask(cfg.scales), persistent=False)
        self.apply(_init)
        nn.init.normal_(self.pos, std=0.02)

    def set_codebook(self, codes: Tensor) -> None:
        """Copy the tokenizer's codebook ``(V, D)``."""
        if codes.shape != self.codes.shape:
            raise ConfigError(
                f"model: tokenizer codebook is {tuple(codes.shape)}, VAR expects "
                f"{tuple(self.codes.shape)} (model.vocab_size, model.code_dim)"
            )
        self.codes.copy_(codes)

    def embed(self, tokens: Tensor, cond: dict | None) -> Tensor:
        """The input sequence ``(B, N, C)`` for teacher forcing."""
        cfg, b = self.cfg, tokens.shape[0]
        cond = check_cond(cond, ("class",) if self.label is not None else ())
        if self.label is None:
            first = self.start.expand(b, 1, -1)
        else:
            first = class_embedding(self.label, cond, b, tokens.device)[:, None]
        first = first.expand(b, cfg.scales[0] ** 2, -1)
        rest = ms_next_inputs(self.codes, tokens, cfg.scales, cfg.scales[-1])
        h = torch.cat([first, self.proj(rest)], 1)
        return h + self.pos + self.level(self.lv)

    def transformer(self, h: Tensor) -> Tensor:
        """Block-causal transformer: ``(B, N, C) -> logits (B, N, V)``."""
        for blk in self.blocks:
            h = blk(h, None, self.mask)
        return self.head(self.ln_f(h))

    def forward(self, tokens: Tensor, cond: dict | None = None) -> Tensor:
        return self.transformer(self.embed(tokens, cond))
