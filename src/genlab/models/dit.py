"""DiT: a diffusion transformer with adaLN-Zero blocks (Peebles & Xie 2023).

``forward(x_t (B, C, *S), t (B,), cond) -> (B, C_out, *S)``. The input is cut into
patches (:func:`genlab.nn.patch.patchify`, 1/2/3-D by ``dims``), linearly embedded, plus a
learned position embedding; each block is

    shift1, scale1, gate1, shift2, scale2, gate2 = Linear(SiLU(c))      # c = emb(t) + emb(y)
    h = h + gate1 * Attn(modulate(LN(h), shift1, scale1))
    h = h + gate2 * MLP(modulate(LN(h), shift2, scale2))

with the modulation ``Linear`` initialised to zero ("adaLN-Zero": every block starts as
the identity). The final layer is adaLN + a zero-initialised linear map back to patches.

**Text** (``text_dim > 0``; ``cond["text"]`` ``(B, L, text_dim)`` token states and
``cond["text_mask"]`` ``(B, L)``): the prompt's masked-mean states, projected, join ``c``
in every mode (as SD3 adds its pooled text). ``text_conditioning`` says what else reads
the tokens:

- ``cross``: each block adds, after its self-attention, a residual cross-attention from
  the image tokens to the text tokens (PixArt-alpha, Chen et al. 2024, Fig. 4), its
  output projection zero-initialised;
- ``pooled``: nothing else (adaLN only: the prompt as one vector);
- ``joint``: MM-DiT (Esser et al. 2024, "Scaling Rectified Flow Transformers", Fig. 2b):
  the projected text tokens run as a second stream through :class:`JointBlock` s, each
  stream with its own adaLN-Zero modulation, QKV, output projection and MLP, and one
  attention over the concatenated image and text tokens (padding keys masked).

For video (``dims=3``, input ``(B, C, T, H, W)``) ``attention`` selects full 3-D attention
or the cheaper factored space-time form (:func:`genlab.nn.attention.attend_space_time`);
the weights are the same in every mode, so it may be changed after training.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genlab.models.configs import DiTConfig
from genlab.nn.attention import MultiHeadAttention, attend, merge_heads, split_heads, split_qkv
from genlab.nn.blocks import zero_
from genlab.nn.embed import (
    LabelEmbedding,
    TimeEmbedding,
    check_cond,
    class_embedding,
    masked_mean,
)
from genlab.nn.patch import patchify, unpatchify
from genlab.nn.transformer import Mlp, modulate


def _ln(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)


class TokenCrossAttention(nn.Module):
    """``h + out(attend(q(LN(h)), kv(context), key_mask))``: image tokens ``(B, N, D)`` read
    context tokens ``(B, L, D_c)``; ``out`` starts at zero. A sample with no real key
    gets nothing added."""

    def __init__(self, dim: int, context_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim, 2 * dim)
        self.out = zero_(nn.Linear(dim, dim))

    def forward(self, h: Tensor, context: Tensor, key_mask: Tensor) -> Tensor:
        q = split_heads(self.q(self.norm(h)), self.heads)  # (B, H, N, d)
        k, v = (split_heads(t, self.heads) for t in self.kv(context).chunk(2, -1))  # (B, H, L, d)
        return h + self.out(merge_heads(attend(q, k, v, key_mask=key_mask)))


class DiTBlock(nn.Module):
    """Transformer block with adaLN-Zero conditioning on ``c (B, D)``; ``frames`` is the
    number of frames of the tokens for a space-time attention ``mode``; with
    ``context_dim``, a cross-attention to the text between attention and MLP."""

    def __init__(
        self, dim: int, heads: int, mlp_ratio: float, mode: str = "full", context_dim: int = 0
    ):
        super().__init__()
        self.norm1 = _ln(dim)
        self.attn = MultiHeadAttention(dim, heads, mode=mode)
        self.cross = TokenCrossAttention(dim, context_dim, heads) if context_dim else None
        self.norm2 = _ln(dim)
        self.mlp = Mlp(dim, mlp_ratio)
        self.ada = zero_(nn.Linear(dim, 6 * dim))

    def forward(self, h: Tensor, c: Tensor, frames: int = 1, text=None) -> Tensor:
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(nn.functional.silu(c)).chunk(6, dim=1)
        h = h + g1[:, None] * self.attn(modulate(self.norm1(h), sh1, sc1), frames=frames)
        if self.cross is not None:
            h = self.cross(h, *text)
        return h + g2[:, None] * self.mlp(modulate(self.norm2(h), sh2, sc2))


class Stream(nn.Module):
    """One modality's weights in a :class:`JointBlock`."""

    def __init__(self, dim: int, mlp_ratio: float):
        super().__init__()
        self.norm1, self.norm2 = _ln(dim), _ln(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = Mlp(dim, mlp_ratio)
        self.ada = zero_(nn.Linear(dim, 6 * dim))


class JointBlock(nn.Module):
    """MM-DiT block (SD3, Fig. 2b): image tokens ``x`` ``(B, N, D)`` and text tokens ``e``
    ``(B, L, D)``, each modulated by ``c`` ``(B, D)`` with its own weights, attend over
    their concatenation ``(B, N + L, D)``; text padding (``e_mask`` False) is never a key.
    adaLN-Zero: both streams start as the identity."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.x, self.e = Stream(dim, mlp_ratio), Stream(dim, mlp_ratio)

    def forward(self, x: Tensor, e: Tensor, c: Tensor, e_mask: Tensor) -> tuple[Tensor, Tensor]:
        n, silu_c = x.shape[1], nn.functional.silu(c)
        mx = [m[:, None] for m in self.x.ada(silu_c).chunk(6, dim=1)]
        me = [m[:, None] for m in self.e.ada(silu_c).chunk(6, dim=1)]
        qx, kx, vx = split_qkv(self.x.qkv(self.x.norm1(x) * (1 + mx[1]) + mx[0]), self.heads)
        qe, ke, ve = split_qkv(self.e.qkv(self.e.norm1(e) * (1 + me[1]) + me[0]), self.heads)
        keys = torch.cat([e_mask.new_ones(len(x), n), e_mask], 1)  # (B, N + L)
        a = merge_heads(
            attend(torch.cat([qx, qe], 2), torch.cat([kx, ke], 2), torch.cat([vx, ve], 2),
                   key_mask=keys)
        )  # (B, N + L, D)  # fmt: skip
        x = x + mx[2] * self.x.proj(a[:, :n])
        e = e + me[2] * self.e.proj(a[:, n:])
        x = x + mx[5] * self.x.mlp(self.x.norm2(x) * (1 + mx[4]) + mx[3])
        e = e + me[5] * self.e.mlp(self.e.norm2(e) * (1 + me[4]) + me[3])
        return x, e


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
        td, mode = cfg.text_dim, cfg.text_conditioning
        self.text_pool = nn.Linear(td, dim) if td else None  # pooled prompt -> adaLN
        self.text_in = nn.Linear(td, dim) if td and mode == "joint" else None
        if self.text_in is not None:
            self.blocks = nn.ModuleList(
                JointBlock(dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)
            )
        else:
            cross = td if mode == "cross" else 0
            self.blocks = nn.ModuleList(
                DiTBlock(dim, cfg.heads, cfg.mlp_ratio, cfg.attention, cross)
                for _ in range(cfg.depth)
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

    def cond_keys(self) -> tuple[str, ...]:
        """The condition keys this network reads."""
        return (("class",) if self.label else ()) + (
            ("text", "text_mask") if self.text_pool is not None else ()
        )

    def forward(self, x: Tensor, t: Tensor, cond: dict | None = None) -> Tensor:
        cond = check_cond(cond, self.cond_keys())
        size = tuple(x.shape[2:])
        c = self.time(t)  # (B, D)
        y = class_embedding(self.label, cond, len(x), x.device)
        if y is not None:
            c = c + y
        text = None
        if self.text_pool is not None:
            if "text" not in cond or "text_mask" not in cond:
                raise KeyError("a text-conditional network takes cond 'text' and 'text_mask'")
            text = (cond["text"], cond["text_mask"])  # (B, L, D_text), (B, L)
            c = c + self.text_pool(masked_mean(*text))
        h = self.embed(patchify(x, self.cfg.patch)) + self.pos  # (B, N, D)
        frames = size[0] // self.cfg.patch if self.cfg.dims == 3 else 1  # frame-major tokens
        if self.text_in is not None:  # MM-DiT: the text as a second stream
            e = self.text_in(text[0])  # (B, L, D)
            for blk in self.blocks:
                h, e = blk(h, e, c, text[1])
        else:
            for blk in self.blocks:
                h = blk(h, c, frames, text)
        shift, scale = self.ada(nn.functional.silu(c)).chunk(2, dim=1)
        h = self.out(modulate(self.norm(h), shift, scale))  # (B, N, C_out p^d)
        return unpatchify(h, self.cfg.patch, self.c_out, size)
