"""Variational autoencoders: an encoder to a diagonal Gaussian posterior q(z|x), the
reparameterisation z = mu + sigma * eps, and a decoder to the parameters of p(x|z).

Kingma & Welling 2014. Two encoders: ``mlp`` (flattened pixels, one vector latent) and
``conv`` (strided convolutions; with ``spatial=True`` the latent is a ``(latent_dim, h, w)``
grid, the KL autoencoder that serves as a latent-diffusion first stage, Rombach et al.
2022). A conditional VAE (Sohn et al. 2015) adds a label embedding to the encoder's
features and to the decoder's input; label ``num_classes`` is the null class.

The decoder's output is the location of the likelihood named in ``likelihood``: logits of
a Bernoulli over pixels in {0, 1} (``x01 = (x + 1) / 2``), or the mean (in [-1, 1] data
space) of a Gaussian / Laplace with one learned log-scale per channel.

Codec interface (DESIGN.md): ``encode(x) = (mu - shift) * scale`` and
``decode(z) = mean image of p(x | z / scale + shift)`` in [-1, 1]; ``scale`` and ``shift``
live in the config and are measured after training (``genlab.recipes.vae``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genlab.models.configs import VAEConfig
from genlab.nn.blocks import norm
from genlab.nn.embed import LabelEmbedding, check_cond, class_embedding


def conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), norm(c_out), nn.SiLU())


def conv_encoder(c_in: int, ch: int, levels: int, c_out: int) -> nn.Sequential:
    """``(B, c_in, S, S) -> (B, c_out, S / 2**levels, S / 2**levels)``."""
    layers, c = [conv_block(c_in, ch)], ch
    for i in range(levels):
        layers += [conv_block(c, ch * 2 ** (i + 1), stride=2)]
        c = ch * 2 ** (i + 1)
    layers += [conv_block(c, c), nn.Conv2d(c, c_out, 1)]
    return nn.Sequential(*layers)


def conv_decoder(c_in: int, ch: int, levels: int, c_out: int) -> nn.Sequential:
    """``(B, c_in, g, g) -> (B, c_out, g * 2**levels, g * 2**levels)`` (nearest upsampling)."""
    c = ch * 2**levels
    layers = [conv_block(c_in, c), conv_block(c, c)]
    for i in reversed(range(levels)):
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), conv_block(c, ch * 2**i)]
        c = ch * 2**i
    layers += [nn.Conv2d(c, c_out, 3, 1, 1)]
    return nn.Sequential(*layers)


def mlp(sizes: list[int]) -> nn.Sequential:
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


class VAE(nn.Module):
    """``forward(x (B, C, H, W), cond, eps (B, *latent)) -> (out (B, C, H, W), mu, logvar)``
    with ``mu, logvar (B, *latent)``; ``out`` is the likelihood's location (see module doc)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        c, s, d = cfg.in_channels, cfg.image_size, cfg.latent_dim
        e = 0 if not cfg.num_classes else min(64, cfg.hidden)
        self.label = LabelEmbedding(cfg.num_classes, e) if cfg.num_classes else None
        g = s // 2**cfg.levels
        if cfg.encoder == "mlp":
            self.enc = mlp([c * s * s + e] + [cfg.hidden] * cfg.depth + [2 * d])
            self.dec = mlp([d + e] + [cfg.hidden] * cfg.depth + [c * s * s])
        elif cfg.spatial:
            self.enc = conv_encoder(c, cfg.channels, cfg.levels, 2 * d)
            self.dec = conv_decoder(d, cfg.channels, cfg.levels, c)
        else:
            top = cfg.channels * 2**cfg.levels
            self.enc_conv = conv_encoder(c, cfg.channels, cfg.levels, top)
            self.enc = nn.Linear(top * g * g + e, 2 * d)
            self.dec_in = nn.Linear(d + e, top * g * g)
            self.dec = conv_decoder(top, cfg.channels, cfg.levels, c)
        # log of the Gaussian std / Laplace scale per channel (unused for Bernoulli)
        self.log_scale = nn.Parameter(torch.full((c,), math.log(0.1)))
        # training samples seen, for the KL warm-up (saved with the weights)
        self.register_buffer("samples_seen", torch.zeros((), dtype=torch.int64))

    def _emb(self, cond: dict, b: int, device) -> Tensor | None:
        cond = check_cond(cond, ("class",) if self.label is not None else ())
        return class_embedding(self.label, cond, b, device)

    def posterior(self, x: Tensor, cond: dict | None = None) -> tuple[Tensor, Tensor]:
        """q(z|x): ``(mu, logvar)``, each ``(B, *latent_shape)``."""
        cfg, b = self.cfg, x.shape[0]
        y = self._emb(cond, b, x.device)
        if cfg.spatial:
            return self.enc(x).chunk(2, dim=1)
        h = x.flatten(1) if cfg.encoder == "mlp" else self.enc_conv(x).flatten(1)
        if y is not None:
            h = torch.cat([h, y], 1)
        return self.enc(h).chunk(2, dim=1)

    def decoder(self, z: Tensor, cond: dict | None = None) -> Tensor:
        """p(x|z)'s location ``(B, C, H, W)`` for latents ``z (B, *latent_shape)``."""
        cfg, b = self.cfg, z.shape[0]
        y = self._emb(cond, b, z.device)
        if cfg.spatial:
            return self.dec(z)
        if y is not None:
            z = torch.cat([z, y], 1)
        if cfg.encoder == "mlp":
            return self.dec(z).view(b, *cfg.input_shape())
        g = cfg.image_size // 2**cfg.levels
        return self.dec(self.dec_in(z).view(b, -1, g, g))

    def forward(self, x: Tensor, cond: dict | None, eps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.posterior(x, cond)
        z = mu + (0.5 * logvar).exp() * eps  # reparameterisation
        return self.decoder(z, cond), mu, logvar

    def mean_image(self, out: Tensor) -> Tensor:
        """The decoder's location as an image in [-1, 1] (the likelihood's mean)."""
        if self.cfg.likelihood == "bernoulli":
            return torch.sigmoid(out) * 2 - 1
        return out

    # ---------------------------------------------------------------- codec (DESIGN.md)
    def encode(self, x: Tensor, cond: dict | None = None) -> Tensor:
        """Normalised latents ``(mu - shift) * scale``, ``(B, *latent_shape)``."""
        mu, _ = self.posterior(x, cond)
        return (mu - self.cfg.shift) * self.cfg.scale

    def decode(self, z: Tensor, cond: dict | None = None) -> Tensor:
        """Images in [-1, 1] from normalised latents ``z (B, *latent_shape)``."""
        return self.mean_image(self.decoder(z / self.cfg.scale + self.cfg.shift, cond))


class PatchDiscriminator(nn.Module):
    """A PatchGAN discriminator (Isola et al. 2017), as in the latent-diffusion first stage:
    strided convolutions to one logit per overlapping patch, ``(B, C, S, S) -> (B,)`` (the
    mean of the ``(B, 1, S/4, S/4)`` logit map)."""

    def __init__(self, in_channels: int, channels: int = 32):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1),
            norm(2 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 1, 3, 1, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten(1).mean(1)
