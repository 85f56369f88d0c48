"""A U-Net for images (and, with ``dims``, waveforms and video): residual blocks with
adaptive group norm, self-attention at low resolutions (SDPA), time and class embeddings.

After Ho et al. 2020 and Dhariwal & Nichol 2021 ("ADM"), trimmed to what small data
needs. ``forward(x_t (B, C, *S), t (B,), cond) -> (B, C_out, *S)``. Any spatial size
works: upsampling resizes to the matching skip connection. With ``inpaint=True`` the
network also reads ``cond["mask"]`` and the masked ``cond["image"]`` (a trained
inpainting model).

**Video** (``dims=3``, ``(B, C, T, H, W)``; ``frames`` sets ``T`` when it differs from
``image_size``): ``video="3d"`` uses 3x3x3 convolutions, attention over all ``T H W``
positions and halves every axis per level. ``video="factored"`` is the (2+1)-D U-Net of
Ho et al. 2022 (Video Diffusion Models: space-only convolutions, spatial then temporal
attention) with the temporal convolutions of Singer et al. 2022 (Make-A-Video, pseudo-3-D
layers initialised to the identity): each ResBlock's convolutions are ``1x3x3`` per frame
followed by a zero-initialised ``3x1x1`` temporal residual, each attention level (and the
middle) is a :class:`~genlab.nn.blocks.SpaceTimeAttention`, the group norms normalise each
frame (temporal attention: each pixel's time series) alone, and down/upsampling is in
height and width only, so any ``T`` (16, 20, ...) works. Only the temporal layers mix
frames: at initialisation it is a per-frame image U-Net. See :mod:`genlab.nn.blocks`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.models.configs import UNetConfig
from genlab.nn.blocks import (
    Attention,
    ConvUpsample,
    CrossAttention,
    Downsample,
    ResBlock,
    SpaceTimeAttention,
    Upsample,
    conv,
    norm,
    zero_,
)
from genlab.nn.embed import (
    LabelEmbedding,
    TimeEmbedding,
    check_cond,
    class_embedding,
    masked_mean,
)


def inpaint_input(x: Tensor, cond: dict) -> Tensor:
    """``(B, 1 + C, *S)``: ``cond["mask"]`` then ``cond["image"]``; without both, a full
    mask and a blank image (nothing known: plain generation)."""
    mask, image = cond.get("mask"), cond.get("image")
    if (mask is None) != (image is None):
        raise KeyError("an inpainting network takes cond 'mask' and 'image' together")
    if mask is None:
        mask, image = torch.ones_like(x[:, :1]), torch.zeros_like(x)
    return torch.cat([mask.to(x).expand(len(x), 1, *x.shape[2:]), image.to(x)], 1)


class UNet(nn.Module):
    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        d, ch, emb_dim = cfg.dims, cfg.channels, 4 * cfg.channels
        self.time = TimeEmbedding(emb_dim)
        self.label = LabelEmbedding(cfg.num_classes, emb_dim) if cfg.num_classes else None
        f = cfg.video == "factored"  # (2+1)-D video: per-frame layers + temporal layers
        self.inp = conv(d, cfg.in_channels, ch, factored=f)
        # inpainting: mask (1) and masked image (C) channels, zero at initialisation
        self.inp_mask = zero_(conv(d, 1 + cfg.in_channels, ch, factored=f)) if cfg.inpaint else None

        def res(c_in, c_out):
            return ResBlock(d, c_in, c_out, emb_dim, cfg.dropout, factored=f)

        def self_attn(c):
            return SpaceTimeAttention(c, cfg.heads) if f else Attention(c, cfg.heads)

        def block(level, c_in, c_out) -> nn.ModuleList:
            """[res, self-attention] (+ cross-attention to the text at attention levels)."""
            at = level in cfg.attn_levels
            parts = [res(c_in, c_out), self_attn(c_out) if at else nn.Identity()]
            if cfg.text_dim and at:
                parts.append(CrossAttention(c_out, cfg.text_dim, cfg.heads, per_frame=f))
            return nn.ModuleList(parts)

        # text: the prompt's pooled (masked mean) states join the time embedding
        self.text_pool = nn.Linear(cfg.text_dim, emb_dim) if cfg.text_dim else None
        # Encoder: record the width of every skip connection.
        self.down, skips, c = nn.ModuleList(), [ch], ch
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                self.down.append(block(level, c, ch * mult))
                c = ch * mult
                skips.append(c)
            if level < len(cfg.channel_mult) - 1:
                self.down.append(Downsample(d, c, factored=f))
                skips.append(c)
        self.mid = nn.ModuleList([res(c, c), self_attn(c), res(c, c)])
        if cfg.text_dim:
            self.mid.append(CrossAttention(c, cfg.text_dim, cfg.heads, per_frame=f))
        # the widths encode() returns: each skip, then the middle block (for a ControlNet)
        self.skip_channels, self.mid_channels = tuple(skips), c
        # Decoder: each block consumes one skip; the last block of a level upsamples.
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(block(level, c + skips.pop(), ch * mult))
                c = ch * mult
            if level > 0 and cfg.upsample == "conv_resize":
                self.up.append(ConvUpsample(d, c, ch * cfg.channel_mult[level - 1], factored=f))
                c = ch * cfg.channel_mult[level - 1]
            elif level > 0:
                self.up.append(Upsample(d, c, factored=f))
        c_out = cfg.out_channels or cfg.in_channels
        self.out = nn.Sequential(
            norm(c, per="frame" if f else None), nn.SiLU(), zero_(conv(d, c, c_out, factored=f))
        )

    def forward(self, x: Tensor, t: Tensor, cond: dict | None = None) -> Tensor:
        return self.decode(*self.encode(x, t, cond), cond)

    def cond_keys(self) -> tuple[str, ...]:
        """The condition keys this network reads."""
        return (
            (("class",) if self.label else ())
            + (("mask", "image") if self.inp_mask else ())
            + (("text", "text_mask") if self.text_pool else ())
        )

    def _text(self, cond: dict) -> tuple[Tensor, Tensor] | None:
        """The prompt's ``(states (B, L, D), key mask (B, L))``, for a text network."""
        if self.text_pool is None:
            return None
        if "text" not in cond or "text_mask" not in cond:
            raise KeyError("a text-conditional network takes cond 'text' and 'text_mask'")
        return cond["text"], cond["text_mask"]

    def _block(self, layer: nn.ModuleList, h: Tensor, emb: Tensor, text) -> Tensor:
        h = layer[1](layer[0](h, emb))
        return layer[2](h, *text) if len(layer) > 2 else h

    def encode(
        self, x: Tensor, t: Tensor, cond: dict | None = None, hint: Tensor | None = None
    ) -> tuple[list[Tensor], Tensor, Tensor]:
        """The encoder and middle block: ``(skips, h, emb)``, the skip activations (one per
        decoder block, full resolution first), the middle block's output and the time (+
        class, + pooled text) embedding ``(B, 4C)``. ``hint`` ``(B, C, *S)`` is added after
        the input convolution (a ControlNet's encoded control image)."""
        cond = check_cond(cond, self.cond_keys())
        emb = self.time(t)  # (B, 4C)
        y = class_embedding(self.label, cond, len(x), x.device)
        if y is not None:
            emb = emb + y
        text = self._text(cond)
        if text is not None:
            emb = emb + self.text_pool(masked_mean(*text))
        h = self.inp(x)
        if self.inp_mask is not None:
            h = h + self.inp_mask(inpaint_input(x, cond))
        if hint is not None:
            h = h + hint
        hs = [h]
        for layer in self.down:
            if isinstance(layer, Downsample):
                h = layer(h)
            else:
                h = self._block(layer, h, emb, text)
            hs.append(h)
        h = self.mid[1](self.mid[0](h, emb))
        if text is not None:
            h = self.mid[3](h, *text)
        h = self.mid[2](h, emb)
        return hs, h, emb

    def decode(self, hs: list[Tensor], h: Tensor, emb: Tensor, cond: dict | None = None) -> Tensor:
        """The decoder over :meth:`encode`'s outputs: ``(B, C_out, *S)``; ``cond`` as given
        to :meth:`encode` (a text network reads the prompt again)."""
        hs, text = list(hs), self._text(cond or {})
        for layer in self.up:
            if isinstance(layer, (Upsample, ConvUpsample)):
                h = layer(h, hs[-1].shape[2:])
            else:
                h = self._block(layer, torch.cat([h, hs.pop()], 1), emb, text)
        return self.out(h)
