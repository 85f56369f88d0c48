"""Image-to-image networks: the Pix2Pix U-Net and the CycleGAN ResNet generators, and the
PatchGAN discriminator.

- :class:`UNetGenerator` (Isola et al. 2017, "Image-to-Image Translation with Conditional
  Adversarial Networks", App. 6.1.1): ``depth`` encoder blocks [LeakyReLU 0.2, Conv 4x4
  stride 2, InstanceNorm] (no activation before the first, no norm on the first nor the
  innermost, 1-pixel one), then as many decoder blocks [ReLU, ConvTranspose 4x4 stride 2,
  InstanceNorm, Dropout 0.5 in the 3 innermost], each followed by a skip concatenation of
  the encoder block of the same size; the last decoder block ends in tanh. The paper's
  BatchNorm at batch size 1 is instance normalisation, which genlab uses at every batch
  size (training and sampling then normalise alike). Sides that are not a multiple of
  ``2^depth`` are padded (edge pixels repeated) and the output cropped back.
- :class:`ResNetGenerator` (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
  Cycle-Consistent Adversarial Networks", App. 7.2, after Johnson et al. 2016):
  c7s1-k, ``depth`` stride-2 3x3 convolutions doubling the width, ``blocks`` residual
  blocks, as many stride-1/2 transposed convolutions, c7s1-C with tanh; reflection
  padding, instance norm (``norm``: or layer norm, batch norm, none), ReLU.
- :class:`PatchDiscriminator` (Pix2Pix App. 6.1.2): C64 [Conv 4x4 stride 2, LeakyReLU 0.2]
  without norm, ``layers - 1`` more stride-2 blocks with InstanceNorm doubling the width,
  one stride-1 block, a 1-channel stride-1 4x4 convolution: one logit per overlapping
  patch of :func:`receptive_field` pixels (70 at ``layers = 3``).

Every network maps ``(B, C, H, W)`` in [-1, 1]; weights start from N(0, 0.02) (the
papers' initialisation; norm scales from N(1, 0.02)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.configs import (  # noqa: F401 (receptive_field, patch_grid: public here)
    PatchDiscriminatorConfig,
    TranslatorConfig,
    patch_grid,
    receptive_field,
)

LEAK = 0.2  # LeakyReLU slope in the encoder and discriminator
DROPOUT_BLOCKS = 3  # innermost decoder blocks with dropout (Pix2Pix)


def init_weights_(module: nn.Module) -> nn.Module:
    """Convolutions from N(0, 0.02) with zero bias, norm scales from N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.InstanceNorm2d, nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def _norm(kind: str, c: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(c, affine=True)
    if kind == "layer":  # one mean and scale per image over (C, H, W): channel ratios kept
        return nn.GroupNorm(1, c, affine=True)
    return nn.BatchNorm2d(c) if kind == "batch" else nn.Identity()


class UNetGenerator(nn.Module):
    """Pix2Pix's U-Net: ``G(source) -> (B, C, H, W)`` in [-1, 1]."""

    def __init__(self, cfg: TranslatorConfig):
        super().__init__()
        g, c, d = cfg.generator, cfg.in_channels, cfg.generator.depth
        width = [min(g.channels * 2**i, g.max_channels) for i in range(d)]  # encoder outputs
        self.multiple = 2**d
        self.down = nn.ModuleList()
        for i in range(d):
            block = [] if i == 0 else [nn.LeakyReLU(LEAK)]
            block.append(nn.Conv2d(c if i == 0 else width[i - 1], width[i], 4, 2, 1))
            if 0 < i < d - 1:
                block.append(_norm(cfg.norm, width[i]))
            self.down.append(nn.Sequential(*block))
        self.up = nn.ModuleList()  # up[i] brings level i + 1 back to level i (i = 0: image)
        for i in range(d):
            c_in = width[i] * (1 if i == d - 1 else 2)  # the innermost has no skip
            block = [nn.ReLU(), nn.ConvTranspose2d(c_in, width[i - 1] if i else c, 4, 2, 1)]
            if i == 0:
                block.append(nn.Tanh())
            else:
                block.append(_norm(cfg.norm, width[i - 1]))
                if i >= d - DROPOUT_BLOCKS and g.dropout > 0:
                    block.append(nn.Dropout(g.dropout))
            self.up.append(nn.Sequential(*block))
        init_weights_(self)

    def forward(self, source: Tensor) -> Tensor:
        h, w = source.shape[-2:]
        m = self.multiple
        ph, pw = -h % m, -w % m
        x = F.pad(source, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate")
        skips = []
        for block in self.down:  # (B, width[i], H / 2^(i+1), W / 2^(i+1))
            x = block(x)
            skips.append(x)
        x = self.up[-1](skips.pop())
        for i in range(len(self.up) - 2, -1, -1):
            x = self.up[i](torch.cat([x, skips.pop()], 1))  # (B, 2 width[i], ...) in
        return x[..., ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w]


class ResidualBlock(nn.Module):
    """``x + [pad, conv 3x3, IN, ReLU, pad, conv 3x3, IN](x)`` (reflection padding)."""

    def __init__(self, c: int, norm: str = "instance"):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(norm, c), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(norm, c),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Module):
    """CycleGAN's generator: ``G(x) -> (B, C, H, W)`` in [-1, 1]; H and W multiples of
    ``2^depth``."""

    def __init__(self, cfg: TranslatorConfig):
        super().__init__()
        g, c, n = cfg.generator, cfg.in_channels, cfg.norm
        width = [min(g.channels * 2**i, g.max_channels) for i in range(g.depth + 1)]
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(c, width[0], 7), _norm(n, width[0]), nn.ReLU()
        ]  # fmt: skip
        for i in range(g.depth):  # d2k, d4k, ...
            down = nn.Conv2d(width[i], width[i + 1], 3, 2, 1)
            layers += [down, _norm(n, width[i + 1]), nn.ReLU()]
        layers += [ResidualBlock(width[-1], n) for _ in range(g.blocks)]
        for i in range(g.depth, 0, -1):  # ..., u2k, uk
            up = nn.ConvTranspose2d(width[i], width[i - 1], 3, 2, 1, output_padding=1)
            layers += [up, _norm(n, width[i - 1]), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width[0], c, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """``D(x) -> (B, 1, h, w)`` patch logits; ``x`` has ``in_channels`` channels (Pix2Pix's
    conditional D reads source and image concatenated, ``2 C``)."""

    def __init__(self, in_channels: int, cfg: PatchDiscriminatorConfig, norm: str = "instance"):
        super().__init__()
        width = [min(cfg.channels * 2**i, cfg.max_channels) for i in range(cfg.layers + 1)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width[0], 4, 2, 1), nn.LeakyReLU(LEAK)]
        for i in range(1, cfg.layers):
            layers += [nn.Conv2d(width[i - 1], width[i], 4, 2, 1), _norm(norm, width[i])]
            layers.append(nn.LeakyReLU(LEAK))
        last = width[cfg.layers - 1]
        layers += [nn.Conv2d(last, width[cfg.layers], 4, 1, 1), _norm(norm, width[cfg.layers])]
        layers += [nn.LeakyReLU(LEAK), nn.Conv2d(width[cfg.layers], 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)
        init_weights_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class CycleGenerators(nn.Module):
    """CycleGAN's two generators: ``g_ab`` maps domain A to B, ``g_ba`` B to A.

    ``forward(a, b, identity)`` is the training pass, one call through both generators
    (one forward per step under DDP): a dict of ``fake_b = G(a)``, ``fake_a = F(b)``,
    ``rec_a = F(G(a))``, ``rec_b = G(F(b))`` and, with ``identity``, ``idt_b = G(b)``,
    ``idt_a = F(a)``. :meth:`translate` maps one way.
    """

    def __init__(self, cfg: TranslatorConfig):
        super().__init__()
        self.g_ab, self.g_ba = build_generator(cfg), build_generator(cfg)

    def forward(self, a: Tensor, b: Tensor, identity: bool = True) -> dict[str, Tensor]:
        ab, ba = (lambda x: self.translate(x, "a2b")), (lambda x: self.translate(x, "b2a"))
        fake_b, fake_a = ab(a), ba(b)
        out = {"fake_b": fake_b, "fake_a": fake_a, "rec_a": ba(fake_b), "rec_b": ab(fake_a)}
        if identity:
            out["idt_b"], out["idt_a"] = ab(b), ba(a)
        return out

    def translate(self, x: Tensor, direction: str = "a2b") -> Tensor:
        """``g_ab(x)`` for ``"a2b"``, ``g_ba(x)`` for ``"b2a"``; an empty batch passes
        through (a training batch may lack a domain, and instance norm needs an image)."""
        if direction not in ("a2b", "b2a"):
            raise ValueError(f"direction: expected 'a2b' or 'b2a', got {direction!r}")
        if not len(x):
            return x
        return (self.g_ab if direction == "a2b" else self.g_ba)(x)


def build_generator(cfg: TranslatorConfig) -> nn.Module:
    """The generator ``cfg.generator.kind`` names."""
    return (UNetGenerator if cfg.generator.kind == "unet" else ResNetGenerator)(cfg)
