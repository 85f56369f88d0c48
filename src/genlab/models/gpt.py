"""A causal transformer over token sequences (GPT; Radford et al. 2019) with rotary
position embeddings (RoPE; Su et al. 2021), PyTorch SDPA and a key/value cache.

``forward(tokens (B, n), cond) -> logits (B, n, V)``: ``logits[:, i]`` is the prediction
of token ``i`` from the tokens before it and the condition. The first input position
holds a start vector: the class embedding (label ``num_classes`` is the null class used
by classifier-free guidance), or a learned vector for an unconditional model.

``step(new (B, m), cond, cache) -> logits (B, V)`` feeds ``m`` more tokens through the
cache and returns the prediction of the next one (the first call also feeds the start
vector; ``m`` may be 0). Sampling loops live in ``genlab.sampling.tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.errors import ConfigError
from genlab.nn.embed import LabelEmbedding, check_cond, class_embedding


@dataclass
class GPTConfig:
    arch: Literal["gpt"] = "gpt"
    vocab_size: int = 256
    seq_len: int = 49  # tokens per sample
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    num_classes: int = 0
    dropout: float = 0.0

    def __post_init__(self):
        for k in ("vocab_size", "seq_len", "n_layer", "n_head", "n_embd"):
            if getattr(self, k) < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {getattr(self, k)}")
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ConfigError(
                f"model.n_head: head width n_embd/n_head = {self.n_embd}/{self.n_head} "
                "must be an even integer"
            )


def rope_tables(n: int, dim: int, base: float = 10_000.0) -> tuple[Tensor, Tensor]:
    """cos, sin tables ``(n, dim/2)`` for positions ``0..n-1``."""
    inv = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None]
    return ang.cos().float(), ang.sin().float()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs ``(x[..., :d/2], x[..., d/2:])`` of ``x (B, H, m, d)`` by the
    position angles (``cos, sin (m, d/2)``)."""
    a, b = x.chunk(2, -1)
    return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)


class KVCache:
    """Keys and values of every layer, ``(B, H, L, d)`` each, filled up to ``pos``."""

    def __init__(self, n_layer: int, b: int, h: int, length: int, d: int, device, dtype):
        shape = (b, h, length, d)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        self.pos = 0


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, rope=None, mask=None, cache: KVCache | None = None, layer: int = 0):
        """x ``(B, m, C)``; ``rope`` = (cos, sin) for these m positions; ``mask`` a bool
        ``(m, L)`` attention mask (True = may attend) or None for causal."""
        b, m, c = x.shape
        q, k, v = self.qkv(x).view(b, m, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        causal = mask is None
        if cache is not None:
            p = cache.pos
            cache.k[layer][:, :, p : p + m] = k
            cache.v[layer][:, :, p : p + m] = v
            k, v = cache.k[layer][:, :, : p + m], cache.v[layer][:, :, : p + m]
            if p > 0 and m > 1:  # new queries see the whole cache and their causal past
                mask = torch.ones(m, p + m, dtype=torch.bool, device=x.device).tril(p)
            causal = mask is None and m > 1
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=drop, is_causal=causal
        )
        return self.proj(a.transpose(1, 2).reshape(b, m, c))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: ``x + attn(LN x)``, ``x + MLP(LN x)``."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(dim), SelfAttention(dim, heads, dropout)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, rope=None, mask=None, cache=None, layer=0):
        x = x + self.drop(self.attn(self.ln1(x), rope, mask, cache, layer))
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

    def _run(self, h: Tensor, pos: int, cache: KVCache | None) -> Tensor:
        m = h.shape[1]
        if pos + m > self.cfg.seq_len:
            raise ValueError(f"sequence of {pos + m} exceeds model.seq_len={self.cfg.seq_len}")
        rope = (self.cos[pos : pos + m], self.sin[pos : pos + m])
        for i, blk in enumerate(self.blocks):
            h = blk(h, rope, None, cache, i)
        return self.head(self.ln_f(h))

    def forward(self, tokens: Tensor, cond: dict | None = None) -> Tensor:
        """tokens ``(B, n)`` int64 -> logits ``(B, n, V)`` (teacher forcing)."""
        b = tokens.shape[0]
        h = torch.cat([self._start(cond, b, tokens.device), self.tok(tokens[:, :-1])], 1)
        return self._run(h, 0, None)

    def new_cache(self, b: int) -> KVCache:
        c = self.cfg
        w = self.head.weight
        return KVCache(c.n_layer, b, c.n_head, c.seq_len, c.n_embd // c.n_head, w.device, w.dtype)

    def step(self, new: Tensor, cond: dict | None, cache: KVCache) -> Tensor:
        """Feed ``new (B, m)`` tokens through ``cache``; logits of the next token ``(B, V)``."""
        h = self.tok(new)
        if cache.pos == 0:
            h = torch.cat([self._start(cond, new.shape[0], new.device), h], 1)
        out = self._run(h, cache.pos, cache)
        cache.pos += h.shape[1]
        return out[:, -1]


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)


PRESETS = {"gpt-small": GPTConfig()}
