"""A small StyleGAN generator (Karras et al. 2019, 2020) with a DCGAN discriminator.

- Mapping network ``f: z -> w``: pixel-norm, ``n_mapping`` x [Linear, LeakyReLU 0.2];
  a class embedding is concatenated to ``z`` when conditional.
- Synthesis: a learned constant ``(C, s0, s0)`` input, then per resolution two 3x3 convs
  (the first after 2x upsampling), each followed by a per-layer noise input (learned
  per-channel scale), bias, LeakyReLU and a style: ``L = 2 (n + 1)`` styles in all.
- Style per layer, ``modulation="adain"`` (StyleGAN): ``(y_s, y_b) = A(w)`` and
  ``AdaIN(x, y_s, y_b)_i = y_s,i (x_i - mu(x_i)) / sigma(x_i) + y_b,i`` (instance
  statistics per channel i). ``modulation="modconv"`` (StyleGAN2): the conv weight is
  scaled by ``s = A(w)`` per input channel and demodulated,
  ``w''_ijk = s_i w_ijk / sqrt(sum_ik (s_i w_ijk)^2 + eps)``, computed as a grouped conv.
- Style mixing: ``forward(z, ..., z2=..., crossover=k)`` uses ``w(z)`` for layers < k
  and ``w(z2)`` for the rest. Truncation trick: ``w' = w_avg + psi (w - w_avg)``, with
  ``w_avg`` tracked as a running mean of ``w`` during training (psi = 0 gives ``w_avg``).
- Equalised learning rate and the skip / residual output branches are left out (plain
  PyTorch init, one 1x1 toRGB at the end) to keep the file small.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.configs import StyleGANConfig
from genlab.models.dcgan import DCGANDiscriminator, stages
from genlab.nn.embed import check_cond


def adain(x: Tensor, scale: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """``scale_i (x_i - mu(x_i)) / sigma(x_i) + bias_i`` per channel i.

    x ``(B, C, H, W)``; scale, bias ``(B, C)``.
    """
    mu = x.mean((2, 3), keepdim=True)
    sigma = (x.var((2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    return scale[:, :, None, None] * (x - mu) / sigma + bias[:, :, None, None]


def modulated_conv(x: Tensor, weight: Tensor, s: Tensor, demodulate: bool = True) -> Tensor:
    """StyleGAN2 modulated conv: x ``(B, Ci, H, W)``, weight ``(Co, Ci, k, k)``, s ``(B, Ci)``."""
    b, ci, h, w_ = x.shape
    co, _, k, _ = weight.shape
    wt = weight[None] * s[:, None, :, None, None]  # (B, Co, Ci, k, k)
    if demodulate:
        wt = wt * torch.rsqrt(wt.pow(2).sum((2, 3, 4), keepdim=True) + 1e-8)
    out = F.conv2d(
        x.reshape(1, b * ci, h, w_), wt.reshape(b * co, ci, k, k), padding=k // 2, groups=b
    )
    return out.view(b, co, h, w_)


class StyleLayer(nn.Module):
    """[up 2x] -> 3x3 conv (modulated or plain) -> noise -> bias -> LeakyReLU -> [AdaIN]."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, mode: str, up: bool):
        super().__init__()
        self.mode, self.up = mode, up
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3) / (c_in * 9) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.noise_strength = nn.Parameter(torch.zeros(c_out))
        n_style = c_in if mode == "modconv" else 2 * c_out
        self.affine = nn.Linear(w_dim, n_style)
        with torch.no_grad():  # styles start at scale 1, bias 0
            self.affine.weight.mul_(0.1)
            self.affine.bias.zero_()
            self.affine.bias[: c_in if mode == "modconv" else c_out] = 1.0

    def forward(self, x: Tensor, w: Tensor, noise: Tensor) -> Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        style = self.affine(w)  # (B, n_style)
        if self.mode == "modconv":
            x = modulated_conv(x, self.weight, style)
        else:
            x = F.conv2d(x, self.weight, padding=1)
        x = x + self.noise_strength[None, :, None, None] * noise  # noise (B, 1, H, W)
        x = F.leaky_relu(x + self.bias[None, :, None, None], 0.2)
        if self.mode == "adain":
            scale, bias = style.chunk(2, dim=1)
            x = adain(x, scale, bias)
        return x


class StyleGenerator(nn.Module):
    def __init__(self, cfg: StyleGANConfig):
        super().__init__()
        g = self.g = cfg.generator
        self.s0, n = stages(cfg.image_size)
        self.label = nn.Embedding(cfg.num_classes, g.z_dim) if cfg.num_classes else None
        maps: list[nn.Module] = []
        width = g.z_dim * (2 if cfg.num_classes else 1)
        for _ in range(g.n_mapping):
            maps += [nn.Linear(width, g.w_dim), nn.LeakyReLU(0.2)]
            width = g.w_dim
        self.mapping = nn.Sequential(*maps)
        self.register_buffer("w_avg", torch.zeros(g.w_dim))
        widths = [min(g.channels * 2**lvl, g.max_channels) for lvl in range(n, -1, -1)]
        self.const = nn.Parameter(torch.randn(widths[0], self.s0, self.s0))
        self.layers = nn.ModuleList()
        self.sizes: list[int] = []
        c_prev = widths[0]
        for i, c in enumerate(widths):
            self.layers.append(StyleLayer(c_prev, c, g.w_dim, g.modulation, up=i > 0))
            self.layers.append(StyleLayer(c, c, g.w_dim, g.modulation, up=False))
            self.sizes += [self.s0 * 2**i] * 2
            c_prev = c
        self.to_rgb = nn.Conv2d(c_prev, cfg.in_channels, 1)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        """The ``(1, H, W)`` shape of each layer's noise input."""
        return [(1, s, s) for s in self.sizes]

    def map(self, z: Tensor, cond: dict | None = None) -> Tensor:
        """``z (B, z_dim) -> w (B, w_dim)``; updates ``w_avg`` in training mode."""
        cond = check_cond(cond, ("class",) if self.label is not None else ())
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)  # pixel norm
        if self.label is not None:
            y = self.label(cond["class"])
            z = torch.cat([z, y * torch.rsqrt(y.pow(2).mean(1, keepdim=True) + 1e-8)], 1)
        w = self.mapping(z)
        if self.training:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(0), 1 - self.g.w_avg_beta)
        return w

    def styles(self, z, cond=None, z2=None, crossover: int | None = None, psi: float = 1.0):
        """Per-layer styles ``(B, L, w_dim)`` with mixing and truncation applied."""
        w = self.map(z, cond)[:, None].repeat(1, self.num_layers, 1)  # (B, L, W)
        if z2 is not None and crossover is not None:
            w[:, crossover:] = self.map(z2, cond)[:, None]
        if psi != 1.0:
            w = self.w_avg.lerp(w, psi)  # w_avg + psi (w - w_avg)
        return w

    def synthesize(self, ws: Tensor, noise: list[Tensor] | None = None) -> Tensor:
        """``ws (B, L, w_dim)`` -> images ``(B, C, S, S)``; ``noise`` per layer ``(B, 1, H, W)``
        (zeros when None: the deterministic "no noise" image)."""
        x = self.const[None].expand(len(ws), -1, -1, -1)
        for i, layer in enumerate(self.layers):
            s = self.sizes[i]
            nz = noise[i] if noise is not None else x.new_zeros(len(ws), 1, s, s)
            x = layer(x, ws[:, i], nz)
        return self.to_rgb(x).tanh()

    def forward(self, z, cond=None, noise=None, z2=None, crossover=None, truncation=1.0):
        return self.synthesize(self.styles(z, cond, z2, crossover, truncation), noise)


def draw_noise(g: StyleGenerator, n: int, generator: torch.Generator, device) -> list[Tensor]:
    """Per-layer noise inputs for ``n`` images from ``generator``."""
    return [torch.randn((n, *s), generator=generator).to(device) for s in g.noise_shapes()]


def StyleDiscriminator(cfg: StyleGANConfig, pack: int = 1) -> DCGANDiscriminator:
    """StyleGAN runs use the DCGAN discriminator (minibatch std, no batch norm by default)."""
    return DCGANDiscriminator(cfg, pack)  # type: ignore[arg-type]
