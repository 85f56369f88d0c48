"""A causal transformer over token sequences (GPT; Radford et al. 2019) with rotary
position embeddings (RoPE; Su et al. 2021) and a key/value cache; attention is
:class:`genlab.nn.attention.MultiHeadAttention` (PyTorch SDPA).

``forward(tokens (B, n), cond) -> logits (B, n, V)``: ``logits[:, i]`` is the prediction
of token ``i`` from the tokens before it and the condition. The first input position
holds a start vector: the class embedding (label ``num_classes`` is the null class used
by classifier-free guidance), or a learned vector for an unconditional model.

``step(new (B, m), cond, cache) -> logits (B, V)`` feeds ``m`` more tokens through the
cache (``new_cache(B)``: one ``KVCache`` per layer) and returns the prediction of the
next one (the first call also feeds the start vector; ``m`` may be 0). Sampling loops
live in ``genlab.sampling.tokens``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.models.configs import GPTConfig
from genlab.nn.attention import KVCache, MultiHeadAttention, rope_tables
from genlab.nn.embed import LabelEmbedding, check_cond, class_embedding


class Block(nn.Module):
    """Pre-LayerNorm transformer block: ``x + attn(LN x)``, ``x + MLP(LN x)``.

    ``forward(x (B, m, C), rope, mask, cache)``: ``rope`` = (cos, sin) of these ``m``
    positions; ``mask`` a bool ``(m, L)`` attention mask (True = may attend) or None for
    causal; ``cache`` this layer's :class:`~genlab.nn.attention.KVCache` or None.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads, dropout=dropout)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, rope=None, mask=None, cache: KVCache | None = None):
        a = self.attn(self.ln1(x), attn_mask=mask, is_causal=mask is None, rope=rope, cache=cache)
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.ln2(x)))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.n_embd
        self.tok = nn.Embedding(cfg.vocab_size, c)
        self.label = LabelEmbedding(cfg.num_classes, c) if cfg.num_classes else None
        self.start = nn.Parameter(torch.zeros(c)) if not cfg.num_classes else None
        self.blocks = nn.ModuleList(Block(c, cfg.n_head, cfg.dropout) for _ in range(cfg.n_layer))
        self.ln_f, self.head = nn.LayerNorm(c), nn.Linear(c, cfg.vocab_size)
        cos, sin = rope_tables(cfg.seq_len, c // cfg.n_head)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(_init)

    def _start(self, cond: dict, b: int, device) -> Tensor:
        """The start vector ``(B, 1, C)``."""
        cond = check_cond(cond, ("class",) if self.label is not None else ())
        if self.label is None:
            return self.start.expand(b, 1, -1)
        return class_embedding(self.label, cond, b, device)[:, None]

    def _run(self, h: Tensor, pos: int, cache: list[KVCache] | None) -> Tensor:
        m = h.shape[1]
        if pos + m > self.cfg.seq_len:
            raise ValueError(f"sequence of {pos + m} exceeds model.seq_len={self.cfg.seq_len}")
        rope = (self.cos[pos : pos + m], self.sin[pos : pos + m])
        for i, blk in enumerate(self.blocks):
            h = blk(h, rope, None, None if cache is None else cache[i])
        return self.head(self.ln_f(h))

    def forward(self, tokens: Tensor, cond: dict | None = None) -> Tensor:
        """tokens ``(B, n)`` int64 -> logits ``(B, n, V)`` (teacher forcing)."""
        b = tokens.shape[0]
        h = torch.cat([self._start(cond, b, tokens.device), self.tok(tokens[:, :-1])], 1)
        return self._run(h, 0, None)

    def new_cache(self, b: int) -> list[KVCache]:
        """An empty key/value cache for ``b`` sequences: one :class:`KVCache` per layer."""
        c, w = self.cfg, self.head.weight
        d = c.n_embd // c.n_head
        return [
            KVCache(b, c.n_head, c.seq_len, d, device=w.device, dtype=w.dtype)
            for _ in range(c.n_layer)
        ]

    def step(self, new: Tensor, cond: dict | None, cache: list[KVCache]) -> Tensor:
        """Feed ``new (B, m)`` tokens through ``cache``; logits of the next token ``(B, V)``."""
        h = self.tok(new)
        pos = cache[0].pos
        if pos == 0:
            h = torch.cat([self._start(cond, new.shape[0], new.device), h], 1)
        return self._run(h, pos, cache)[:, -1]


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)
