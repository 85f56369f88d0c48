"""Transformers over a neural codec's tokens ``(B, K, T)`` (``genlab.models.codec``),
conditioned on a class (e.g. the digit) and a speaker, each with a null row for
classifier-free guidance. Blocks, RoPE and the KV cache are the GPT's
(``genlab.models.gpt``); sampling loops are in ``genlab.sampling.tokens``.

**delay** (MusicGen, Copet et al. 2023, Sec. 2.2): codebook ``k`` is shifted right by
``k`` frames (:func:`genlab.sampling.tokens.delay_pattern`), empty cells hold the extra
token ``V``. Step ``s`` of the causal transformer reads the sum of the ``K`` codebooks'
embeddings of step ``s - 1`` (step 0: the condition) and predicts all ``K`` tokens of
step ``s`` with ``K`` heads; ``T + K - 1`` steps make ``T`` frames.
``forward(seq (B, K, S), cond) -> (B, S, K, V)``; ``step`` feeds steps through a cache.

**coarse_fine** (AudioLM's coarse/fine stages, Borsos et al. 2023, with VALL-E's
non-autoregressive fine stage, Wang et al. 2023): ``coarse`` is a causal transformer
over codebook 0 (``forward(codes0 (B, T), cond) -> (B, T, V)``, ``step`` with a
cache); ``fine(codes (B, K', T), level (B,), cond) -> (B, T, V)`` predicts codebook
``level`` for every frame at once from the sum of codebooks ``< k``, a level embedding and the
condition token, with full attention.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.models.configs import CodecLMConfig
from genlab.models.gpt import Block, _init
from genlab.nn.attention import KVCache, rope_tables
from genlab.nn.embed import check_cond


class CondToken(nn.Module):
    """``cond -> (B, 1, C)``: a learned start vector plus the class and speaker
    embeddings (a missing label is its null row: ``num_classes`` / ``num_speakers``)."""

    def __init__(self, num_classes: int, num_speakers: int, c: int):
        super().__init__()
        self.sizes = {"class": num_classes, "speaker": num_speakers}
        self.start = nn.Parameter(torch.zeros(c))
        self.tables = nn.ModuleDict({k: nn.Embedding(n + 1, c) for k, n in self.sizes.items() if n})

    def forward(self, cond: dict | None, b: int, device) -> Tensor:
        cond = check_cond(cond, tuple(self.tables))
        h = self.start.expand(b, -1)
        for key, table in self.tables.items():
            ids = cond.get(key)
            if ids is None:
                ids = torch.full((b,), self.sizes[key], dtype=torch.int64, device=device)
            if ids.dtype != torch.int64:
                raise TypeError(f"cond[{key!r}] must be int64 labels, got {ids.dtype}")
            h = h + table(ids)
        return h[:, None]


class Stack(nn.Module):
    """Transformer blocks with RoPE over at most ``length`` positions, a final LayerNorm.
    ``forward(h (B, m, C), pos, cache, causal) -> (B, m, C)``."""

    def __init__(self, cfg: CodecLMConfig, length: int):
        super().__init__()
        self.length, self.heads = length, cfg.n_head
        self.blocks = nn.ModuleList(
            Block(cfg.n_embd, cfg.n_head, cfg.dropout) for _ in range(cfg.n_layer)
        )
        self.ln = nn.LayerNorm(cfg.n_embd)
        cos, sin = rope_tables(length, cfg.n_embd // cfg.n_head)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, h: Tensor, pos: int = 0, cache=None, causal: bool = True) -> Tensor:
        m = h.shape[1]
        if pos + m > self.length:
            raise ValueError(f"sequence of {pos + m} exceeds the model's {self.length} positions")
        rope = (self.cos[pos : pos + m], self.sin[pos : pos + m])
        mask = None if causal else torch.ones(m, m, dtype=torch.bool, device=h.device)
        for i, blk in enumerate(self.blocks):
            h = blk(h, rope, mask, None if cache is None else cache[i])
        return self.ln(h)

    def new_cache(self, b: int, like: Tensor) -> list[KVCache]:
        d = like.shape[-1] // self.heads
        return [
            KVCache(b, self.heads, self.length, d, device=like.device, dtype=like.dtype)
            for _ in self.blocks
        ]


class Coarse(nn.Module):
    """The causal transformer of codebook 0 (or of the delayed ``K`` streams, ``k``
    embeddings summed and ``k`` heads): the token-model interface of
    ``genlab.sampling.tokens.generate``."""

    def __init__(self, cfg: CodecLMConfig, streams: int, length: int, extra: int):
        super().__init__()
        c, v = cfg.n_embd, cfg.vocab_size
        self.streams = streams
        self.cond = CondToken(cfg.num_classes, cfg.num_speakers, c)
        self.embed = nn.ModuleList(nn.Embedding(v + extra, c) for _ in range(streams))
        self.stack = Stack(cfg, length)
        self.heads = nn.ModuleList(nn.Linear(c, v) for _ in range(streams))

    def _inputs(self, seq: Tensor) -> Tensor:
        """``(B, K, m)`` -> summed embeddings ``(B, m, C)``."""
        return sum(e(seq[:, k]) for k, e in enumerate(self.embed))

    def _out(self, h: Tensor) -> Tensor:
        return torch.stack([head(h) for head in self.heads], 2)  # (B, m, K, V)

    def forward(self, seq: Tensor, cond: dict | None = None) -> Tensor:
        """Teacher forcing: ``seq (B, K, S)`` (or ``(B, S)`` for one stream) -> logits
        ``(B, S, K, V)`` (``(B, S, V)``); ``[:, s]`` predicts step ``s`` from steps ``< s``."""
        one = seq.dim() == 2
        seq = seq[:, None] if one else seq
        b = seq.shape[0]
        h = torch.cat([self.cond(cond, b, seq.device), self._inputs(seq[..., :-1])], 1)
        out = self._out(self.stack(h))
        return out[:, :, 0] if one else out

    def new_cache(self, b: int) -> list[KVCache]:
        return self.stack.new_cache(b, self.heads[0].weight)

    def step(self, new: Tensor, cond: dict | None, cache: list[KVCache]) -> Tensor:
        """Feed ``new (B, K, m)`` (or ``(B, m)``) steps through ``cache``; the logits of the
        next step ``(B, K, V)`` (``(B, V)``). The first call also feeds the condition."""
        one = new.dim() == 2
        new = new[:, None] if one else new
        b, pos = new.shape[0], cache[0].pos
        h = self._inputs(new)  # (B, m, C); m may be 0
        if pos == 0:
            h = torch.cat([self.cond(cond, b, new.device), h], 1)
        out = self._out(self.stack(h, pos, cache))[:, -1]
        return out[:, 0] if one else out


class Fine(nn.Module):
    """VALL-E's non-autoregressive stage: codebook ``k`` of every frame from the sum of
    the embeddings of codebooks ``< k``, level ``k``'s embedding (added to every frame)
    and the condition token in front; full attention; head ``k``."""

    def __init__(self, cfg: CodecLMConfig):
        super().__init__()
        c, v, k = cfg.n_embd, cfg.vocab_size, cfg.codebooks
        self.cond = CondToken(cfg.num_classes, cfg.num_speakers, c)
        self.embed = nn.ModuleList(nn.Embedding(v, c) for _ in range(k - 1))  # codebooks 0..K-2
        self.level = nn.Embedding(k - 1, c)  # predicting codebook 1..K-1
        self.stack = Stack(cfg, cfg.frames + 1)
        self.heads = nn.ModuleList(nn.Linear(c, v) for _ in range(k - 1))

    def forward(self, codes: Tensor, level: Tensor, cond: dict | None = None) -> Tensor:
        """``codes (B, K', T)`` (codebooks ``>= level`` are ignored), ``level (B,)`` in
        ``[1, K)`` -> logits ``(B, T, V)`` of codebook ``level``."""
        b, k = codes.shape[0], len(self.embed) + 1
        if level.min() < 1 or level.max() >= k or codes.shape[1] < int(level.max()):
            raise ValueError(
                f"fine: levels must be in [1, {k}) with the codebooks below them given"
            )
        h = self.level(level - 1)[:, None]  # (B, 1, C)
        for j in range(int(level.max())):
            use = (level > j).to(h.dtype)[:, None, None]
            h = h + use * self.embed[j](codes[:, j])
        h = self.stack(torch.cat([self.cond(cond, b, codes.device), h], 1), causal=False)[:, 1:]
        out = torch.stack([head(h) for head in self.heads], 1)  # (B, K-1, T, V)
        return out[torch.arange(b, device=codes.device), level - 1]


class CodecLM(nn.Module):
    """The ``delay`` or ``coarse_fine`` codec language model (module docstring)."""

    def __init__(self, cfg: CodecLMConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.pattern == "delay":  # one extra embedding row: the empty cell
            self.coarse = Coarse(cfg, cfg.codebooks, cfg.steps(), extra=1)
            self.fine = None
        else:
            self.coarse = Coarse(cfg, 1, cfg.frames, extra=0)
            self.fine = Fine(cfg)
        self.apply(_init)

    def forward(
        self, codes: Tensor, cond: dict | None = None, level: Tensor | None = None
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Teacher forcing. ``delay``: ``codes`` is the delay pattern ``(B, K, T + K - 1)``
        (``genlab.sampling.tokens.delay_pattern``; empty cells: token ``V``) -> logits
        ``(B, T + K - 1, K, V)``. ``coarse_fine``: ``codes (B, K, T)`` -> codebook 0's
        logits ``(B, T, V)`` and those of codebook ``level (B,)`` ``(B, T, V)``."""
        if self.fine is None:
            return self.coarse(codes, cond)
        return self.coarse(codes[:, 0], cond), self.fine(codes, level, cond)
