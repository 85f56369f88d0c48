"""DCGAN (Radford et al. 2015): strided convolutions, batch norm, ReLU in G, LeakyReLU in
D, no pooling; conditional by a label embedding (G) and a projection discriminator
(Miyato & Koyama 2018).

Sizes: the image side is halved while it stays even and above 4 (8 -> 4, 28 -> 14 -> 7,
32 -> 16 -> 8 -> 4), so 8x8 digits, 28x28 MNIST / Stacked MNIST and 32x32 shapes work.

- ``G(z, cond) -> (B, C, S, S)`` in [-1, 1]: ``z (B, z_dim)`` [+ label embedding] ->
  linear -> ``(ch * 2^n, s0, s0)`` -> n x [ConvTranspose 4x4 stride 2, BN, ReLU] ->
  3x3 conv -> tanh.
- ``D(x, cond) -> (B,)`` logits: n x [Conv 4x4 stride 2, (BN), LeakyReLU 0.2] ->
  [minibatch std] -> linear; plus ``<embed(y), h>`` when conditional. With PacGAN
  packing D's input has ``pack * C`` channels.
"""

from __future__ import annotations

from torch import Tensor, nn

from genlab.models.configs import DCGANConfig
from genlab.nn.blocks import minibatch_std
from genlab.nn.embed import check_cond


def stages(size: int) -> tuple[int, int]:
    """``(s0, n)``: the base side and the number of 2x stages to reach ``size``."""
    s0, n = size, 0
    while s0 % 2 == 0 and s0 > 4:
        s0, n = s0 // 2, n + 1
    return s0, n


def _width(base: int, level: int, cap: int) -> int:
    return min(base * 2**level, cap)


class DCGANGenerator(nn.Module):
    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        g = cfg.generator
        self.s0, n = stages(cfg.image_size)
        self.c0 = _width(g.channels, n, g.max_channels)
        self.label = nn.Embedding(cfg.num_classes, g.z_dim) if cfg.num_classes else None
        self.fc = nn.Sequential(
            nn.Linear(g.z_dim, self.c0 * self.s0**2),
            nn.BatchNorm1d(self.c0 * self.s0**2),
            nn.ReLU(),
        )
        ups = []
        for lvl in range(n, 0, -1):
            c_in, c_out = (
                _width(g.channels, lvl, g.max_channels),
                _width(g.channels, lvl - 1, g.max_channels),
            )
            ups += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.ups = nn.Sequential(*ups)
        self.out = nn.Conv2d(g.channels if n else self.c0, cfg.in_channels, 3, padding=1)

    def forward(self, z: Tensor, cond: dict | None = None) -> Tensor:
        cond = check_cond(cond, ("class",) if self.label is not None else ())
        if self.label is not None:
            z = z + self.label(cond["class"])  # (B, z_dim)
        h = self.fc(z).view(len(z), self.c0, self.s0, self.s0)  # (B, c0, s0, s0)
        return self.out(self.ups(h)).tanh()  # (B, C, S, S)


class DCGANDiscriminator(nn.Module):
    def __init__(self, cfg: DCGANConfig, pack: int = 1):
        super().__init__()
        d = cfg.discriminator
        s0, n = stages(cfg.image_size)
        layers: list[nn.Module] = []
        c_in = cfg.in_channels * pack
        for lvl in range(n):
            c_out = _width(d.channels, lvl, d.max_channels)
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1))
            if d.norm == "batch" and lvl > 0:  # DCGAN: no BN on D's input layer
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
        if n == 0:
            layers += [nn.Conv2d(c_in, d.channels, 3, padding=1), nn.LeakyReLU(0.2)]
            c_in = d.channels
        self.body = nn.Sequential(*layers)
        self.mbstd = d.minibatch_std
        self.feat = (c_in + int(d.minibatch_std)) * s0 * s0
        self.head = nn.Linear(self.feat, 1)
        self.proj = nn.Embedding(cfg.num_classes, self.feat) if cfg.num_classes else None
        if self.proj is not None:  # start as the unconditional D: N(0, 1) rows would make
            nn.init.zeros_(self.proj.weight)  # <embed(y), h> dominate the logit at init

    def forward(self, x: Tensor, cond: dict | None = None) -> Tensor:
        cond = check_cond(cond, ("class",) if self.proj is not None else ())
        h = self.body(x)  # (B, c, s0, s0)
        if self.mbstd:
            h = minibatch_std(h)
        h = h.flatten(1)  # (B, feat)
        out = self.head(h).squeeze(1)  # (B,)
        if self.proj is not None:
            out = out + (self.proj(cond["class"]) * h).sum(1)
        return out
