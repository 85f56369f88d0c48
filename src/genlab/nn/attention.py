"""Multi-head attention on PyTorch SDPA: self, cross, causal, cached and space-time.

This file is the one attention implementation of genlab (Vaswani et al. 2017,
"Attention is all you need", scaled dot-product attention with ``H`` heads):

    Attn(Q, K, V) = softmax(Q K^T / sqrt(d) + mask) V,   d = D / H per head.

- :func:`attend` is the core on per-head tensors ``q (B, H, N, d)``, ``k, v (B, H, L, d)``:
  an optional key mask ``(B, L)``, a boolean attention mask, causal masking and attention
  dropout, all on ``torch.nn.functional.scaled_dot_product_attention``.
- :func:`attend_space_time` runs it over video tokens in one of the :data:`MODES`
  (``"full" | "factored" | "spatial" | "temporal"``); :func:`attention_flops` counts the
  multiply-adds of each (and of the DiT's two-layer :data:`TWO_LAYER_MODES`).
- :class:`MultiHeadAttention` is the module: input/output projections ``qkv``/``proj``
  (self-attention) or ``q``/``kv``/``proj`` (cross-attention to a context), a RoPE hook
  (:func:`rope_tables`, :func:`apply_rope`; Su et al. 2021) and a :class:`KVCache` for
  incremental decoding. DiT, GPT and VAR blocks use it; the U-Net's residual attention
  over ``(B, C, *S)`` grids (:class:`genlab.nn.blocks.Attention`) uses :func:`split_qkv`,
  :func:`attend` and :func:`merge_heads` from here.

Masks are boolean with **True = may attend** (the SDPA convention). A query row that may
attend to no key at all (every key of its sample padded, say) would be ``0/0 = NaN`` in
a softmax; here its attention output is defined as **zero** (before the output
projection): the query gathers nothing. Rows with at least one visible key are computed
exactly as SDPA computes them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MODES = ("full", "factored", "spatial", "temporal")


# ------------------------------------------------------------------------ RoPE hook


def rope_tables(n: int, dim: int, base: float = 10_000.0) -> tuple[Tensor, Tensor]:
    """Rotary position tables (Su et al. 2021, RoFormer) for positions ``0..n-1``.

    Returns ``cos, sin`` float32 ``(n, dim/2)`` with angle ``pos * base^(-2i/dim)``
    (computed in float64). ``dim`` is the per-head width and must be even.
    """
    inv = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None]
    return ang.cos().float(), ang.sin().float()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs ``(x[..., :d/2], x[..., d/2:])`` of ``x (B, H, m, d)`` by the
    position angles ``cos, sin (m, d/2)`` (cast to ``x``'s dtype)."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    a, b = x.chunk(2, -1)
    return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)


# ------------------------------------------------------------------------- KV cache


class KVCache:
    """Keys and values of one attention layer for incremental decoding.

    Holds ``k, v (B, H, length, d)``, preallocated, of which positions ``[0, pos)`` are
    filled. :meth:`append` writes the next ``m`` positions and returns every filled one.
    A model keeps one cache per layer (e.g. ``[KVCache(...) for _ in blocks]``).
    """

    def __init__(self, batch: int, heads: int, length: int, head_dim: int, *, device, dtype):
        shape = (batch, heads, length, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store ``k, v (B, H, m, d)`` at positions ``[pos, pos + m)``; return the keys and
        values of positions ``[0, pos + m)``. Raises ValueError past the cache's length."""
        p, m = self.pos, k.shape[2]
        if p + m > self.k.shape[2]:
            raise ValueError(f"KV cache holds {self.k.shape[2]} positions; {p} + {m} do not fit")
        self.k[:, :, p : p + m] = k
        self.v[:, :, p : p + m] = v
        self.pos = p + m
        return self.k[:, :, : p + m], self.v[:, :, : p + m]


# ----------------------------------------------------------------------------- core


def split_qkv(qkv: Tensor, heads: int) -> tuple[Tensor, Tensor, Tensor]:
    """``(B, N, 3D)`` fused projections -> ``q, k, v`` each ``(B, H, N, D/H)`` (views)."""
    b, n, d3 = qkv.shape
    return qkv.view(b, n, 3, heads, d3 // (3 * heads)).permute(2, 0, 3, 1, 4).unbind(0)


def split_heads(x: Tensor, heads: int) -> Tensor:
    """``(B, N, D) -> (B, H, N, D/H)``."""
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)


def merge_heads(a: Tensor) -> Tensor:
    """``(B, H, N, d) -> (B, N, H d)``, the inverse of :func:`split_heads`."""
    b, h, n, d = a.shape
    return a.transpose(1, 2).reshape(b, n, h * d)


def _full_mask(
    key_mask: Tensor | None, attn_mask: Tensor | None, causal: bool, n: int, l: int, device
) -> Tensor | None:
    """AND of the key mask ``(B, 1, 1, L)``, ``attn_mask`` and a causal ``(N, L)`` mask."""
    masks = []
    if key_mask is not None:
        masks.append(key_mask[:, None, None, :])
    if attn_mask is not None:
        masks.append(attn_mask)
    if causal:
        masks.append(torch.ones(n, l, dtype=torch.bool, device=device).tril())
    if not masks:
        return None
    out = masks[0]
    for m in masks[1:]:
        out = out & m
    return out


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    key_mask: Tensor | None = None,
    attn_mask: Tensor | None = None,
    is_causal: bool = False,
    dropout: float = 0.0,
) -> Tensor:
    """Scaled dot-product attention with masks; ``softmax(q k^T / sqrt(d)) v`` per head.

    Args:
        q: ``(B, H, N, d)`` queries; ``k, v``: ``(B, H, L, d)`` keys and values.
        key_mask: ``(B, L)`` bool, True = a real key, False = padding (never attended).
        attn_mask: bool, broadcastable to ``(B, H, N, L)``, True = query may attend key.
        is_causal: query ``i`` attends keys ``j <= i`` only (top-left aligned, ``N == L``
            in the usual use; a cached decoder passes an explicit mask instead).
        dropout: attention-probability dropout (pass 0 at evaluation).
    Returns:
        ``(B, H, N, d)``. A query row with no visible key returns zeros (see the module
        docstring); without masks this is exactly ``F.scaled_dot_product_attention``.
    Raises:
        TypeError: a mask is not boolean.
        ValueError: ``key_mask`` is not ``(B, L)``.
    """
    for name, m in (("key_mask", key_mask), ("attn_mask", attn_mask)):
        if m is not None and m.dtype != torch.bool:
            raise TypeError(f"{name} must be boolean (True = may attend), got {m.dtype}")
    if key_mask is not None and tuple(key_mask.shape) != (k.shape[0], k.shape[2]):
        raise ValueError(
            f"key_mask must be (B, L) = {(k.shape[0], k.shape[2])}, got {tuple(key_mask.shape)}"
        )
    if key_mask is None and attn_mask is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=is_causal)
    mask = _full_mask(key_mask, attn_mask, is_causal, q.shape[2], k.shape[2], q.device)
    seen = mask.any(-1, keepdim=True)  # rows with at least one visible key
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~seen, dropout_p=dropout)
    return out.masked_fill(~seen, 0.0)


def attend_space_time(
    q: Tensor, k: Tensor, v: Tensor, frames: int, mode: str, *, dropout: float = 0.0
) -> Tensor:
    """Attention over video tokens ``(B, H, T*S, d)`` in one of :data:`MODES`.

    Tokens are frame-major: token ``t * S + s`` is position ``s`` of frame ``t``
    (``T = frames``, ``S`` tokens per frame), the order :func:`genlab.nn.patch.patchify`
    gives for ``(B, C, T, H, W)`` video.

    - ``"full"``: every token attends to every token (3-D attention).
    - ``"spatial"``: within its own frame only.
    - ``"temporal"``: across frames, at its own spatial position only.
    - ``"factored"``: spatial attention within each frame, then temporal attention across
      frames at each position, applied one after the other to the values with the same
      ``q, k`` (the attention matrix is the product of the temporal and the
      block-diagonal spatial one), so a token reaches every other in two hops at
      ``O(T S^2 + S T^2)`` instead of ``O(T^2 S^2)`` cost. This is the factorised
      space-time attention of Ho et al. 2022 (Video Diffusion Models) and the "divided"
      attention of Bertasius et al. 2021 (TimeSformer), here within one layer so that
      every mode shares the same weights; with ``T = 1`` it equals ``"full"``.
      (Their two-layer form, a ``"spatial"`` then a ``"temporal"`` layer each with its own
      weights, is the DiT's ``attention="divided"``; see :data:`TWO_LAYER_MODES`.)

    Returns ``(B, H, T*S, d)``. Raises ValueError for an unknown mode or a token count
    that ``frames`` does not divide.
    """
    if mode not in MODES:
        raise ValueError(f"attention mode {mode!r}: choose from {', '.join(MODES)}")
    b, h, n, d = q.shape
    if frames < 1 or n % frames:
        raise ValueError(f"{n} tokens cannot be split into {frames} frames")
    if mode == "full":
        return attend(q, k, v, dropout=dropout)
    s = n // frames

    def spatial(x: Tensor) -> Tensor:  # (B, H, T*S, d) -> (B, H*T, S, d)
        return x.reshape(b, h * frames, s, d)

    def temporal(x: Tensor) -> Tensor:  # (B, H, T*S, d) -> (B, H*S, T, d)
        return x.reshape(b, h, frames, s, d).transpose(2, 3).reshape(b, h * s, frames, d)

    def untemporal(x: Tensor) -> Tensor:  # inverse of temporal
        return x.reshape(b, h, s, frames, d).transpose(2, 3).reshape(b, h, n, d)

    if mode in ("spatial", "factored"):
        v = attend(spatial(q), spatial(k), spatial(v), dropout=dropout).reshape(b, h, n, d)
        if mode == "spatial":
            return v
    return untemporal(attend(temporal(q), temporal(k), temporal(v), dropout=dropout))


# The two-layer video forms of genlab.models.dit: a spatial layer, then a temporal layer.
TWO_LAYER_MODES = ("divided", "temporal_layers")


def attention_flops(mode: str, frames: int, tokens_per_frame: int, dim: int) -> int:
    """Multiply-adds of one layer's attention matrix products ``Q K^T`` and ``A V``.

    With ``T = frames``, ``S = tokens_per_frame``, ``D = dim`` (all heads together: ``H``
    heads of width ``D / H``), each pair of a query and a key it may see costs ``D``
    multiply-adds in ``Q K^T`` and ``D`` in ``A V``, so the count is ``2 D x pairs``:

    - ``"full"``: ``2 D (T S)^2``;
    - ``"spatial"``: ``2 D T S^2``; ``"temporal"``: ``2 D S T^2``;
    - ``"factored"`` (one layer) and the two-layer ``"divided"`` and ``"temporal_layers"``
      (:data:`TWO_LAYER_MODES`): spatial plus temporal, ``2 D (T S^2 + S T^2)``.

    The projections (``4 D^2`` per token in every mode but the two-layer ones, twice that
    there), softmax and MLP are not counted. Raises ValueError for an unknown mode.
    """
    t, s = frames, tokens_per_frame
    pairs = {"full": (t * s) ** 2, "spatial": t * s * s, "temporal": s * t * t}
    if mode in ("factored", *TWO_LAYER_MODES):
        return 2 * dim * (pairs["spatial"] + pairs["temporal"])
    if mode not in pairs:
        raise ValueError(
            f"attention mode {mode!r}: choose from {', '.join(MODES + TWO_LAYER_MODES)}"
        )
    return 2 * dim * pairs[mode]


# --------------------------------------------------------------------------- module


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017) on PyTorch SDPA.

    Self-attention (``context_dim=None``): parameters ``qkv: Linear(dim, 3 dim)`` and
    ``proj: Linear(dim, dim)``. Cross-attention (``context_dim`` set): ``q: Linear(dim,
    dim)``, ``kv: Linear(context_dim, 2 dim)`` and ``proj``. These names are the keys of
    saved checkpoints (``blocks.0.attn.qkv.weight``): do not rename them.

    Args:
        dim: token width ``D``; ``heads`` must divide it.
        heads: number of heads ``H``.
        context_dim: width of the context tokens for cross-attention (None: self).
        dropout: attention-probability dropout, active in training mode only.
        mode: self-attention over video tokens, one of :data:`MODES` (see
            :func:`attend_space_time`); ``"full"`` is ordinary attention.
    Raises:
        ValueError: ``heads`` does not divide ``dim``, unknown ``mode``, or ``mode``
            other than ``"full"`` with cross-attention.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        *,
        context_dim: int | None = None,
        dropout: float = 0.0,
        mode: str = "full",
    ):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by heads {heads}")
        if mode not in MODES:
            raise ValueError(f"attention mode {mode!r}: choose from {', '.join(MODES)}")
        if mode != "full" and context_dim is not None:
            raise ValueError(f"attention mode {mode!r} is for self-attention only")
        self.heads, self.dropout, self.mode = heads, dropout, mode
        self.cross = context_dim is not None
        if self.cross:
            self.q = nn.Linear(dim, dim)
            self.kv = nn.Linear(context_dim, 2 * dim)
        else:
            self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        key_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        rope: tuple[Tensor, Tensor] | None = None,
        cache: KVCache | None = None,
        frames: int = 1,
    ) -> Tensor:
        """Attend from ``x (B, N, D)``; returns ``(B, N, D)``.

        Args:
            context: ``(B, L, context_dim)`` tokens to attend to (cross-attention only,
                where it is required).
            key_mask: ``(B, L)`` bool, True = keep; for self-attention ``L = N``.
            attn_mask: bool broadcastable to ``(B, H, N, L)``, True = may attend.
            is_causal: self-attention where position ``i`` sees positions ``<= i``
                (with a cache: the cached positions plus its causal past).
            rope: ``(cos, sin)`` tables ``(N, D/H/2)`` of the positions of ``x``; applied
                to queries and keys (self-attention only; see :func:`rope_tables`).
            cache: a :class:`KVCache`; the keys/values of ``x`` are appended at
                ``cache.pos`` and the queries attend to every cached position.
            frames: number of frames ``T`` in ``x``'s frame-major tokens, for modes other
                than ``"full"``.
        Raises:
            ValueError: a context given to self-attention or missing for cross-attention,
                ``is_causal``/``rope``/``cache`` with cross-attention, masks or a cache
                with a space-time mode, or ``frames`` not dividing ``N``.
        """
        b, n, d = x.shape
        drop = self.dropout if self.training else 0.0
        if self.cross:
            if context is None:
                raise ValueError("cross-attention needs a context (B, L, context_dim)")
            if is_causal or rope is not None or cache is not None:
                raise ValueError("is_causal, rope and cache are for self-attention only")
            q = split_heads(self.q(x), self.heads)
            kv = self.kv(context).view(b, context.shape[1], 2, self.heads, d // self.heads)
            k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        else:
            if context is not None:
                raise ValueError("self-attention takes no context; set context_dim")
            q, k, v = split_qkv(self.qkv(x), self.heads)
            if rope is not None:
                q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if self.mode != "full":
            if key_mask is not None or attn_mask is not None or is_causal or cache is not None:
                raise ValueError(f"attention mode {self.mode!r} takes no masks and no cache")
            a = attend_space_time(q, k, v, frames, self.mode, dropout=drop)
            return self.proj(merge_heads(a))
        if cache is not None:
            p = cache.pos
            k, v = cache.append(k, v)
            if is_causal and p > 0:
                # new queries see the whole cache and their causal past; one query sees all
                if n > 1:
                    past = torch.ones(n, p + n, dtype=torch.bool, device=x.device).tril(p)
                    attn_mask = past if attn_mask is None else attn_mask & past
                is_causal = False
            is_causal = is_causal and n > 1
        a = attend(
            q, k, v, key_mask=key_mask, attn_mask=attn_mask, is_causal=is_causal, dropout=drop
        )
        return self.proj(merge_heads(a))
