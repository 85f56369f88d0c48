"""WaveNet (van den Oord et al. 2016): an autoregressive model of raw audio.

The waveform is mu-law companded and quantised to ``Q`` levels (Eq. 2;
``genlab.nn.audio.mu_law_encode``), and the network predicts a ``Q``-way softmax over
each sample given all earlier ones. Each of ``stacks x layers`` residual layers applies
a dilated causal convolution of kernel 2 (dilations ``1, 2, ..., 2^(layers-1)`` in every
stack) and the gated unit of Eq. 3 with global conditioning,
``z = tanh(W_f * x + V_f h) * sigmoid(W_g * x + V_g h)``, where ``h`` embeds the class
and speaker. ``z`` feeds a 1x1 residual and a 1x1 skip connection; the summed skips pass
``ReLU -> 1x1 -> ReLU -> 1x1`` to the logits (Fig. 4).

Causality comes from a one-step shift: position ``t`` reads the embedding of code
``t - 1`` (a start token at ``t = 0``), and every convolution is padded on the left
only, so ``logits[..., t]`` depends on codes ``< t`` alone (tested).

Generation with :meth:`WaveNet.step` is O(L): each layer keeps a queue of its last
``dilation`` inputs (Paine et al. 2016, "Fast Wavenet Generation Algorithm"), so a new
sample costs one kernel-2 convolution per layer, not a pass over the receptive field.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.configs import WaveNetConfig


class WaveNet(nn.Module):
    def __init__(self, cfg: WaveNetConfig):
        super().__init__()
        self.cfg = cfg
        c, g, s, q = cfg.residual_channels, cfg.gate_channels, cfg.skip_channels, cfg.quantization
        self.dilations = [2**i for _ in range(cfg.stacks) for i in range(cfg.layers)]
        self.embed = nn.Embedding(q + 1, c)  # row q: the start token before sample 0
        self.dilated = nn.ModuleList(nn.Conv1d(c, 2 * g, 2, dilation=d) for d in self.dilations)
        self.residual = nn.ModuleList(nn.Conv1d(g, c, 1) for _ in self.dilations)
        self.skip = nn.ModuleList(nn.Conv1d(g, s, 1) for _ in self.dilations)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(s, s, 1), nn.ReLU(), nn.Conv1d(s, q, 1))
        # global conditioning: embeddings (row K: the null, for guidance) -> V h per layer
        k, m, h = cfg.num_classes, cfg.num_speakers, cfg.cond_dim
        self.class_embed = nn.Embedding(k + 1, h) if k else None
        self.speaker_embed = nn.Embedding(m + 1, h) if m else None
        self.cond_proj = nn.Linear(h, 2 * g * len(self.dilations)) if k or m else None

    def _cond_bias(self, cond: dict, b: int, device) -> list[Tensor | float]:
        """``V h`` of each layer ``(B, 2G, 1)`` (0 for an unconditional network)."""
        if self.cond_proj is None:
            return [0.0] * len(self.dilations)
        h = torch.zeros(b, self.cfg.cond_dim, device=device)
        for key, embed, k in (
            ("class", self.class_embed, self.cfg.num_classes),
            ("speaker", self.speaker_embed, self.cfg.num_speakers),
        ):
            if embed is not None:
                ids = cond.get(key)
                ids = torch.full((b,), k, device=device) if ids is None else ids  # null
                h = h + embed(ids)
        return list(self.cond_proj(h)[..., None].chunk(len(self.dilations), dim=1))

    @property
    def context(self) -> int:
        """The codes a prediction reads (its receptive field): generation without the
        cache runs the network on the last ``context`` codes only."""
        return self.cfg.receptive_field()

    def forward(self, codes: Tensor, cond: dict | None = None) -> Tensor:
        """Logits ``(B, L, Q)`` of codes ``(B, L)`` int64 in ``[0, Q)``: ``[:, t]`` is the
        distribution of ``codes[:, t]`` given ``codes[:, :t]`` and ``cond``."""
        b, n = codes.shape
        start = torch.full((b, 1), self.cfg.quantization, dtype=codes.dtype, device=codes.device)
        x = self.embed(torch.cat([start, codes[:, :-1]], 1)).transpose(1, 2)  # (B, C, L)
        bias = self._cond_bias(cond or {}, b, codes.device)
        skips = 0.0
        for i, d in enumerate(self.dilations):
            a = self.dilated[i](F.pad(x, (d, 0))) + bias[i]  # (B, 2G, L), causal
            f, g = a.chunk(2, dim=1)
            z = torch.tanh(f) * torch.sigmoid(g)  # (B, G, L)
            skips = skips + self.skip[i](z)
            x = x + self.residual[i](z)
        return self.head(skips).transpose(1, 2)  # (B, L, Q)

    # ------------------------------------------------------------------ generation

    def new_cache(self, b: int) -> dict:
        """Empty queues for :meth:`step`: each layer's last ``dilation`` inputs (zeros,
        the causal padding) and the step counter."""
        c, w = self.cfg.residual_channels, self.embed.weight
        queues = [torch.zeros(b, c, d, device=w.device, dtype=w.dtype) for d in self.dilations]
        return {"t": 0, "queues": queues}

    def step(self, new: Tensor, cond: dict | None, cache: dict) -> Tensor:
        """Logits ``(B, Q)`` of the next code given the newest one ``new`` ``(B, 1)``
        (``(B, 0)`` at the first step: the start token); updates ``cache`` in place. The
        same logits as :meth:`forward` at that position, in O(layers) work."""
        b = len(new)
        prev = new[:, -1] if new.shape[1] else torch.full(
            (b,), self.cfg.quantization, dtype=torch.int64, device=new.device
        )  # fmt: skip
        t = cache["t"]
        x = self.embed(prev)  # (B, C)
        bias = self._cond_bias(cond or {}, b, new.device)
        skips = 0.0
        for i, d in enumerate(self.dilations):
            queue = cache["queues"][i]  # (B, C, d): slot t % d holds the input of step t - d
            old = queue[:, :, t % d].clone()
            queue[:, :, t % d] = x
            w, w_bias = self.dilated[i].weight, self.dilated[i].bias  # (2G, C, 2), (2G,)
            a = old @ w[:, :, 0].T + x @ w[:, :, 1].T + w_bias  # (B, 2G)
            if not isinstance(bias[i], float):
                a = a + bias[i][..., 0]
            f, g = a.chunk(2, dim=1)
            z = (torch.tanh(f) * torch.sigmoid(g))[..., None]  # (B, G, 1)
            skips = skips + self.skip[i](z)
            x = x + self.residual[i](z)[..., 0]
        cache["t"] = t + 1
        return self.head(skips)[..., 0]
