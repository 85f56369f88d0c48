"""MLP generator and discriminator for 2-D (or any ``(B, D)``) points.

``G(z, cond) -> (B, D)`` maps ``(B, z_dim)`` Gaussian noise to points; ``D(x, cond) ->
(B,)`` logits. With ``generator.mixture = K`` the latent is a mixture of K Gaussians
(static Gaussian-mixture latent, as in DeLiGAN, Gurumurthy et al. 2017, with fixed
means): ``z_0`` picks component ``k = floor(Phi(z_0) K)`` (uniform over K) and the
network's input is ``mu_k + mixture_std * z_{1:}``. A disconnected latent lets G leave
gaps between far-apart modes without tearing a connected one.

D may see ``pack`` samples concatenated (PacGAN): its input is ``(B / pack, pack * D)``.
Conditioning: G adds a label embedding to its first hidden layer; D uses a
projection head ``<embed(y), h>`` (Miyato & Koyama 2018).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genlab.models.configs import GanMLPConfig
from genlab.nn.blocks import minibatch_std
from genlab.nn.embed import check_cond


class MLPGenerator(nn.Module):
    def __init__(self, cfg: GanMLPConfig):
        super().__init__()
        g = cfg.generator
        self.label = nn.Embedding(cfg.num_classes, g.hidden) if cfg.num_classes else None
        layers: list[nn.Module] = []
        width = g.z_dim
        if g.mixture:  # fixed component means, uniform in [-1, 1]^(z_dim - 1)
            gen = torch.Generator().manual_seed(g.mixture)
            self.register_buffer("means", torch.rand(g.mixture, g.z_dim - 1, generator=gen) * 2 - 1)
            self.mixture_std, width = g.mixture_std, g.z_dim - 1
        for _ in range(g.depth):
            layers += [nn.Linear(width, g.hidden)]
            layers += [nn.BatchNorm1d(g.hidden)] if g.batch_norm else []
            layers += [nn.ReLU()]
            width = g.hidden
        self.inp, self.body = layers[0], nn.Sequential(*layers[1:])
        self.out = nn.Linear(width, cfg.dim)

    def forward(self, z: Tensor, cond: dict | None = None) -> Tensor:
        cond = check_cond(cond, ("class",) if self.label is not None else ())
        if hasattr(self, "means"):  # (B, z_dim) -> (B, z_dim - 1) mixture sample
            u = 0.5 * (1 + torch.erf(z[:, 0] / math.sqrt(2)))  # Phi(z_0), uniform in (0, 1)
            k = (u * len(self.means)).long().clamp_(max=len(self.means) - 1)  # (B,)
            z = self.means[k] + self.mixture_std * z[:, 1:]
        h = self.inp(z)  # (B, hidden)
        if self.label is not None:
            h = h + self.label(cond["class"])
        return self.out(self.body(h))  # (B, D)


class MLPDiscriminator(nn.Module):
    def __init__(self, cfg: GanMLPConfig, pack: int = 1):
        super().__init__()
        d = cfg.discriminator
        layers: list[nn.Module] = []
        width = cfg.dim * pack
        for _ in range(d.depth):
            layers += [nn.Linear(width, d.hidden), nn.LeakyReLU(0.2)]
            width = d.hidden
        self.body = nn.Sequential(*layers)
        self.mbstd = d.minibatch_std
        self.head = nn.Linear(width + int(d.minibatch_std), 1)
        self.proj = nn.Embedding(cfg.num_classes, width) if cfg.num_classes else None
        if self.proj is not None:  # start as the unconditional D (see dcgan.py)
            nn.init.zeros_(self.proj.weight)

    def forward(self, x: Tensor, cond: dict | None = None) -> Tensor:
        cond = check_cond(cond, ("class",) if self.proj is not None else ())
        h = self.body(x)  # (B, hidden)
        out = self.head(minibatch_std(h) if self.mbstd else h).squeeze(1)  # (B,)
        if self.proj is not None:
            out = out + (self.proj(cond["class"]) * h).sum(1)
        return out
