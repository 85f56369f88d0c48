"""DiT: a diffusion transformer with adaLN-Zero blocks (Peebles & Xie 2023).

``forward(x_t (B, C, *S), t (B,), cond) -> (B, C_out, *S)`` (video: ``t`` also ``(B, T)``,
below). The input is cut into patches (:func:`genlab.nn.patch.patchify`, 1/2/3-D by
``dims``), linearly embedded, plus a learned position embedding (``model.pos_init``:
random or the sine-cosine table); each block is

    shift1, scale1, gate1, shift2, scale2, gate2 = Linear(SiLU(c))      # c = emb(t) + emb(y)
    h = h + gate1 * Attn(modulate(LN(h), shift1, scale1))
    h = h + gate2 * MLP(modulate(LN(h), shift2, scale2))

with the modulation ``Linear`` initialised to zero ("adaLN-Zero": every block starts as
the identity). The final layer is adaLN + a zero-initialised linear map back to patches.

**Inpainting** (``inpaint``): ``cond["mask"]`` ``(B, 1, *S)`` (1 = generate) and
``cond["image"]`` ``(B, C, *S)`` (the known part) are patched and embedded by a second,
zero-initialised linear map added to the tokens, as the U-Net's inpainting input; with
the frame masks of ``genlab.objectives.masks`` this is a video predictor.

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

**Video** (``dims=3``, input ``(B, C, T, H, W)``). With ``frames = T`` set, patches are
``temporal_patch x patch x patch`` (:func:`genlab.nn.patch.patchify` with one size per
axis), giving ``T' = T / temporal_patch`` frames of ``S' = (H / patch)^2`` tokens,
frame-major. The position embedding is factored: a spatial ``pos (1, S', D)`` (the shape
of an image DiT's) plus a temporal ``pos_time (1, T', D)``, broadcast to every token; a
clip of fewer than ``T`` frames reads the first rows of ``pos_time``. With ``pos_init =
"sincos"`` both start as sine-cosine tables (``pos_time`` of the frame index; with
``temporal_layers`` it stays at zero and each inserted layer adds the frame table to its
own input instead). From ``N(0, 0.02^2)`` the frames are all but indistinguishable to
attention, and in Moving MNIST DiTs trained that way ``pos_time`` stayed near rms 0.01.
(``frames = 0`` is the older cubic video, ``T = H = W``, one patch size and one ``pos
(1, N, D)``.) ``attention`` picks how tokens meet, with ``a = Attn`` one multi-head
self-attention:

- ``full``: one attention over all ``T' S'`` tokens (the 3-D attention of video DiTs;
  cost ``O(T'^2 S'^2)``).
- ``spatial`` / ``temporal``: one attention within each frame / across frames at each
  position (no other mixing: ablations, not generators).
- ``factored``: one layer whose attention is spatial then temporal with the same
  ``q, k`` (:func:`genlab.nn.attention.attend_space_time`); ``full``, ``spatial``,
  ``temporal`` and ``factored`` share every weight, so the mode may be changed after
  training, and with ``T' = 1`` ``factored`` equals ``full``.
- ``divided``: two attention sublayers per block, each with its own adaLN-Zero
  modulation, LayerNorm, QKV and output projection: ``h += g1 a_spatial(...)`` then
  ``h += g_t a_temporal(...)`` (parameters ``norm_t``, ``attn_t``; ``ada`` gives 9 vectors)
  and the MLP. This is the "divided space-time attention" of Bertasius et al. 2021
  ("Is space-time attention all you need", TimeSformer), who put the temporal sublayer
  first; here spatial comes first, as in the factorised space-time attention of Ho et al.
  2022 (Video Diffusion Models).
- ``temporal_layers``: every block is an image DiT block attending within each frame,
  followed by an inserted temporal-only layer ``h + a_temporal(LN(h))`` (parameters
  ``temporal.i.norm`` with affine LayerNorm, ``temporal.i.attn.qkv``,
  ``temporal.i.attn.proj``; no timestep modulation) whose output projection starts at
  zero and ``pos_time`` at zero, so the network starts as the per-frame image model: the
  pseudo-3-D attention of Singer et al. 2022 (Make-A-Video) and the motion modules of
  Guo et al. 2023 (AnimateDiff). Every other parameter name and shape is an image DiT's
  (with ``temporal_patch = 1``), so image weights load with ``strict=False``.

:func:`genlab.nn.attention.attention_flops` gives each mode's attention cost.

**Per-frame times** (diffusion forcing, Chen et al. 2024, "Diffusion Forcing:
Next-token Prediction Meets Full-Sequence Diffusion", Sec. 3): a video DiT also takes
``t`` ``(B, T)``, one noise level per input frame, the frames of one temporal patch
sharing theirs. Each token frame then has its own ``c = emb(t_frame) + emb(y)``
``(B, T', D)``, and every adaLN shift, scale and gate of that frame's tokens comes from
it (the modulation is per frame, broadcast over its ``S'`` tokens). ``t`` ``(B,)`` is the
same as ``(B, T)`` with every frame at that time (tested), so one network serves both.
Not with ``text_conditioning = "joint"``, whose text stream has no frames.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genlab.models.configs import DiTConfig
from genlab.models.unet import inpaint_input
from genlab.nn.attention import (
    TWO_LAYER_MODES,
    MultiHeadAttention,
    attend,
    merge_heads,
    split_heads,
    split_qkv,
)
from genlab.nn.blocks import zero_
from genlab.nn.embed import (
    LabelEmbedding,
    TimeEmbedding,
    check_cond,
    class_embedding,
    masked_mean,
    sincos_grid,
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


def per_token(m: Tensor, n: int) -> Tensor:
    """A modulation vector broadcastable over ``n`` frame-major tokens: ``(B, D)`` (per
    sample) to ``(B, 1, D)``; ``(B, T', D)`` (per frame) to ``(B, n, D)``, each frame's
    vector repeated over its ``n / T'`` tokens."""
    if m.ndim == 2:
        return m[:, None]
    b, frames, d = m.shape
    return m[:, :, None].expand(b, frames, n // frames, d).reshape(b, n, d)


class DiTBlock(nn.Module):
    """Transformer block with adaLN-Zero conditioning on ``c (B, D)``, or per frame ``(B,
    T', D)`` (diffusion forcing: each frame's tokens modulated by their own); ``frames`` is the
    number of frames of the tokens for a space-time attention ``mode``; with
    ``context_dim``, a cross-attention to the text between attention and MLP.

    ``mode="divided"``: a spatial ``attn`` then a temporal ``attn_t`` sublayer, the latter
    modulated by ``ada``'s last three vectors; ``"temporal_layers"``: ``attn`` is spatial
    (the model inserts the temporal layers). Other modes: ``attn``'s space-time mode."""

    def __init__(
        self, dim: int, heads: int, mlp_ratio: float, mode: str = "full", context_dim: int = 0
    ):
        super().__init__()
        self.divided = mode == "divided"
        self.norm1 = _ln(dim)
        self.attn = MultiHeadAttention(
            dim, heads, mode="spatial" if mode in TWO_LAYER_MODES else mode
        )
        if self.divided:
            self.norm_t = _ln(dim)
            self.attn_t = MultiHeadAttention(dim, heads, mode="temporal")
        self.cross = TokenCrossAttention(dim, context_dim, heads) if context_dim else None
        self.norm2 = _ln(dim)
        self.mlp = Mlp(dim, mlp_ratio)
        self.ada = zero_(nn.Linear(dim, (9 if self.divided else 6) * dim))

    def forward(self, h: Tensor, c: Tensor, frames: int = 1, text=None) -> Tensor:
        mods = self.ada(nn.functional.silu(c)).chunk(9 if self.divided else 6, dim=-1)
        mods = [per_token(m, h.shape[1]) for m in mods]  # each (B, 1, D) or (B, N, D)
        sh1, sc1, g1, sh2, sc2, g2 = mods[:6]
        h = h + g1 * self.attn(modulate(self.norm1(h), sh1, sc1), frames=frames)
        if self.divided:  # across frames, at each position
            sht, sct, gt = mods[6:]
            h = h + gt * self.attn_t(modulate(self.norm_t(h), sht, sct), frames=frames)
        if self.cross is not None:
            h = self.cross(h, *text)
        return h + g2 * self.mlp(modulate(self.norm2(h), sh2, sc2))


class TemporalLayer(nn.Module):
    """An inserted temporal-only layer over frame-major tokens ``(B, T S, D)``: ``h +
    attn(LN(h))``, attention across the ``T`` frames at each position, its output
    projection ``attn.proj`` zero at initialisation (the DiT zeroes it again after its
    init), so it starts as the identity (Make-A-Video's temporal attention; AnimateDiff's motion
    module)."""

    def __init__(self, dim: int, heads: int, frames: int = 0):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiHeadAttention(dim, heads, mode="temporal")
        zero_(self.attn.proj)
        # frames > 0: a fixed sine-cosine frame position (1, frames, D) added to this
        # layer's input only, as AnimateDiff's motion modules, so the frames are told
        # apart while the image stream is untouched
        pos = sincos_grid((frames,), dim) if frames else None
        self.register_buffer("pos", pos, persistent=False)

    def forward(self, h: Tensor, frames: int) -> Tensor:
        u = self.norm(h)  # (B, T S, D), frame-major
        if self.pos is not None:
            u = u + self.pos[:, :frames].repeat_interleave(h.shape[1] // frames, 1)
        return h + self.attn(u, frames=frames)


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
        dim, self.patch = cfg.hidden, cfg.patch_size()  # patch: one size per axis
        self.c_out = cfg.out_channels or cfg.in_channels
        grid = [n // q for n, q in zip(cfg.input_shape()[1:], self.patch)]  # tokens per axis
        self.embed = nn.Linear(cfg.in_channels * math.prod(self.patch), dim)
        # inpainting: the mask (1) and masked input (C) channels' own patch embedding
        c_mask = (1 + cfg.in_channels) * math.prod(self.patch)
        self.embed_mask = nn.Linear(c_mask, dim) if cfg.inpaint else None
        spatial = grid[1:] if cfg.frames else grid
        if cfg.pos_init == "sincos":
            self.pos = nn.Parameter(sincos_grid(spatial, dim))  # (1, S, D)
        else:
            self.pos = nn.Parameter(torch.randn(1, math.prod(spatial), dim) * 0.02)  # (1, S, D)
        self.pos_time = None
        if cfg.frames:  # video: a temporal position embedding too
            if cfg.attention == "temporal_layers":  # start per-frame
                pos_time = torch.zeros(1, grid[0], dim)
            elif cfg.pos_init == "sincos":  # the frame index's own sine-cosine table
                pos_time = sincos_grid(grid[:1], dim)
            else:
                pos_time = torch.randn(1, grid[0], dim) * 0.02
            self.pos_time = nn.Parameter(pos_time)  # (1, T', D)
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
        self.temporal = (  # after each block: the inserted temporal layers
            nn.ModuleList(
                TemporalLayer(dim, cfg.heads, grid[0] if cfg.pos_init == "sincos" else 0)
                for _ in range(cfg.depth)
            )
            if cfg.attention == "temporal_layers"
            else None
        )
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = zero_(nn.Linear(dim, 2 * dim))
        self.out = zero_(nn.Linear(dim, self.c_out * math.prod(self.patch)))
        self._init()

    def _init(self) -> None:
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear) and not name.endswith(("ada", "out")):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.embed.weight  # like a conv kernel: fan-in init
        nn.init.uniform_(w, -1 / math.sqrt(w.shape[1]), 1 / math.sqrt(w.shape[1]))
        for layer in self.temporal or ():  # inserted temporal layers start as the identity
            zero_(layer.attn.proj)
        if self.embed_mask is not None:  # the mask channels start unread
            zero_(self.embed_mask)

    def _pos(self, size: tuple[int, ...]) -> Tensor:
        """The position embedding ``(1, N, D)`` of an input of spatial ``size``; video:
        ``pos`` + ``pos_time``, frame-major. Raises ValueError for more frames than
        ``cfg.frames``."""
        if self.pos_time is None:
            return self.pos
        t = size[0] // self.patch[0]
        if t > self.pos_time.shape[1]:
            raise ValueError(
                f"a clip of {size[0]} frames; this network has at most {self.cfg.frames}"
            )
        return (self.pos[:, None] + self.pos_time[:, :t, None]).flatten(1, 2)  # (1, T S, D)

    def cond_keys(self) -> tuple[str, ...]:
        """The condition keys this network reads."""
        return (
            (("class",) if self.label else ())
            + (("mask", "image") if self.embed_mask is not None else ())
            + (("text", "text_mask") if self.text_pool is not None else ())
        )

    def _time(self, t: Tensor, x: Tensor) -> Tensor:
        """``c``'s time part: ``(B, D)`` for ``t (B,)``; ``(B, T', D)`` for per-frame times
        ``t (B, T)`` of a clip ``x (B, C, T, H, W)``.

        Raises:
            ValueError: per-frame times on an image network, with joint text, of the
                wrong shape, or differing inside one temporal patch.
        """
        if t.ndim == 1:
            return self.time(t)
        b, frames = len(x), x.shape[2] if x.ndim == 5 else 0
        if not self.cfg.frames or self.text_in is not None:
            raise ValueError("per-frame times need a video DiT without joint text")
        if tuple(t.shape) != (b, frames):
            raise ValueError(f"per-frame times {tuple(t.shape)} for clips {tuple(x.shape)}")
        tp = t.view(b, frames // self.patch[0], self.patch[0])  # (B, T', temporal patch)
        if not torch.equal(tp, tp[..., :1].expand_as(tp)):
            raise ValueError("the frames of one temporal patch must share their time")
        return self.time(tp[..., 0].flatten()).view(b, tp.shape[1], -1)  # (B, T', D)

    def forward(self, x: Tensor, t: Tensor, cond: dict | None = None) -> Tensor:
        cond = check_cond(cond, self.cond_keys())
        size = tuple(x.shape[2:])
        c = self._time(t, x)  # (B, D), or (B, T', D) per frame
        each = (lambda v: v) if c.ndim == 2 else (lambda v: v[:, None])  # to c's rank
        y = class_embedding(self.label, cond, len(x), x.device)
        if y is not None:
            c = c + each(y)
        text = None
        if self.text_pool is not None:
            if "text" not in cond or "text_mask" not in cond:
                raise KeyError("a text-conditional network takes cond 'text' and 'text_mask'")
            text = (cond["text"], cond["text_mask"])  # (B, L, D_text), (B, L)
            c = c + each(self.text_pool(masked_mean(*text)))
        h = self.embed(patchify(x, self.patch)) + self._pos(size)  # (B, N, D)
        if self.embed_mask is not None:  # (B, 1 + C, *S) mask and masked input
            h = h + self.embed_mask(patchify(inpaint_input(x, cond), self.patch))
        frames = size[0] // self.patch[0] if self.cfg.dims == 3 else 1  # frame-major tokens
        if self.text_in is not None:  # MM-DiT: the text as a second stream
            e = self.text_in(text[0])  # (B, L, D)
            for blk in self.blocks:
                h, e = blk(h, e, c, text[1])
        else:
            for i, blk in enumerate(self.blocks):
                h = blk(h, c, frames, text)
                if self.temporal is not None:
                    h = self.temporal[i](h, frames)  # (B, N, D), across frames
        shift, scale = (
            per_token(m, h.shape[1]) for m in self.ada(nn.functional.silu(c)).chunk(2, -1)
        )
        h = self.out(modulate(self.norm(h), shift, scale))  # (B, N, C_out prod(patch))
        return unpatchify(h, self.patch, self.c_out, size)
