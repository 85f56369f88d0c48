"""MLP generator and discriminator for 2-D (or any ``(B, D)``) points.

``G(z, cond) -> (B, D)`` maps ``(B, z_dim)`` Gaussian noise to points; ``D(x, cond) ->
(B,)`` logits. D may see ``pack`` samples concatenated (PacGAN): its input is
``(B / pack, pack * D)``. Conditioning: G adds a label embedding to its first hidden
layer; D uses a projection head ``<embed(y), h>`` (Miyato & Koyama 2018).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor, nn

from genlab.errors import ConfigError
from genlab.nn.embed import check_cond
from genlab.objectives.gan import minibatch_std


@dataclass
class MLPGeneratorConfig:
    z_dim: int = 8
    hidden: int = 256
    depth: int = 3  # hidden layers
    batch_norm: bool = False


@dataclass
class MLPDiscriminatorConfig:
    hidden: int = 256
    depth: int = 3
    minibatch_std: bool = False  # append the minibatch std feature before the head


@dataclass
class GanMLPConfig:
    arch: Literal["gan-mlp"] = "gan-mlp"
    dim: int = 2
    num_classes: int = 0
    generator: MLPGeneratorConfig = field(default_factory=MLPGeneratorConfig)
    discriminator: MLPDiscriminatorConfig = field(default_factory=MLPDiscriminatorConfig)

    def __post_init__(self):
        for k in (
            "generator.z_dim",
            "generator.hidden",
            "generator.depth",
            "discriminator.hidden",
            "discriminator.depth",
            "dim",
        ):
            obj = self
            for p in k.split("."):
                obj = getattr(obj, p)
            if obj < 1:
                raise ConfigError(f"model.{k}: must be at least 1, got {obj}")

    def input_shape(self) -> tuple[int, ...]:
        return (self.dim,)

    @property
    def z_dim(self) -> int:
        return self.generator.z_dim


class MLPGenerator(nn.Module):
    def __init__(self, cfg: GanMLPConfig):
        super().__init__()
        g = cfg.generator
        self.label = nn.Embedding(cfg.num_classes, g.hidden) if cfg.num_classes else None
        layers: list[nn.Module] = []
        width = g.z_dim
        for _ in range(g.depth):
            layers += [nn.Linear(width, g.hidden)]
            layers += [nn.BatchNorm1d(g.hidden)] if g.batch_norm else []
            layers += [nn.ReLU()]
            width = g.hidden
        self.inp, self.body = layers[0], nn.Sequential(*layers[1:])
        self.out = nn.Linear(width, cfg.dim)

    def forward(self, z: Tensor, cond: dict | None = None) -> Tensor:
        cond = check_cond(cond, ("class",) if self.label is not None else ())
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


PRESETS = {"gan-mlp": GanMLPConfig()}
