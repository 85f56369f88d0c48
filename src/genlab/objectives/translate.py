"""The image-to-image objectives' terms, as pure functions, and CycleGAN's pool of fakes.

Pix2Pix (Isola et al. 2017, Eq. 4): ``G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G)``
with ``L_L1 = E ||y - G(x)||_1`` and ``lambda = 100``; D judges (source, image) pairs
patch by patch, and its loss is halved "to slow down the rate at which D learns
relative to G" (Sec. 3.3).

CycleGAN (Zhu et al. 2017, Eq. 3 and Sec. 4): ``L_GAN(G, D_B) + L_GAN(F, D_A) +
lambda L_cyc(G, F)`` with ``L_cyc = E ||F(G(a)) - a||_1 + E ||G(F(b)) - b||_1``,
``lambda = 10``; least-squares GAN losses; the identity term
``E ||G(b) - b||_1 + E ||F(a) - a||_1`` weighted ``0.5 lambda`` (Sec. 5.2, from Taigman
et al. 2017) keeps colours; each D is updated on a history of 50 generated images
(Shrivastava et al. 2017) and its loss halved. genlab also offers the squared error for
the cycle and identity terms: on small objects over a flat background L1's constant-size
gradient from the background outweighs a wrong-coloured object (docs/translation.md).

Losses are per sample ``(B,)``: the patch logits' GAN loss is averaged over the patches
(``genlab.objectives.gan.LOSSES`` applies elementwise), the L1 (or squared-error) terms
over the pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.objectives import gan as L


def patch_d_loss(kind: str, real: Tensor, fake: Tensor) -> Tensor:
    """Half the discriminator's GAN loss ``(B,)`` on patch logits ``(B, 1, h, w)``."""
    return 0.5 * L.d_loss(kind, real, fake).flatten(1).mean(1)


def patch_d_terms(kind: str, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """Half the discriminator's loss split into its real and fake parts, per sample:
    ``((B_real,), (B_fake,))``, for batches of different sizes (CycleGAN's domains).

    Every loss of ``genlab.objectives.gan.LOSSES`` is a sum ``p(r) + q(f)``, so
    ``p(r) = d(r, 0) - q(0)`` and ``q(f) = d(0, f) - p(0)``; the parts are returned with
    ``d(0, 0) / 4`` taken from each half, so that for a paired batch the two parts sum to
    :func:`patch_d_loss` exactly.
    """
    zero = real.new_zeros(())
    offset = 0.5 * L.d_loss(kind, zero, zero)
    r = 0.5 * L.d_loss(kind, real, torch.zeros_like(real)).flatten(1).mean(1)
    f = 0.5 * L.d_loss(kind, torch.zeros_like(fake), fake).flatten(1).mean(1)
    return r - offset / 2, f - offset / 2


def patch_g_loss(kind: str, fake: Tensor) -> Tensor:
    """The generator's GAN loss ``(B,)`` on the patch logits of its images."""
    return L.g_loss(kind, fake).flatten(1).mean(1)


def l1(x: Tensor, y: Tensor) -> Tensor:
    """Mean absolute difference per sample ``(B,)``."""
    return (x - y).abs().flatten(1).mean(1)


def l2(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared difference per sample ``(B,)``."""
    return (x - y).square().flatten(1).mean(1)


RECONSTRUCTION = {"l1": l1, "l2": l2}


def cycle_loss(a: Tensor, rec_a: Tensor, kind: str = "l1") -> Tensor:
    """``||F(G(a)) - a||_1`` per sample ``(B,)``: ``rec_a`` is ``a`` taken there and back
    (``kind="l2"``: the mean squared error instead)."""
    return RECONSTRUCTION[kind](rec_a, a)


def identity_loss(b: Tensor, g_of_b: Tensor, kind: str = "l1") -> Tensor:
    """``||G(b) - b||_1`` per sample ``(B,)``: the A -> B generator fed a B image
    (``kind="l2"``: the mean squared error instead)."""
    return RECONSTRUCTION[kind](g_of_b, b)


class ImagePool(nn.Module):
    """A history of generated images for the discriminator (Shrivastava et al. 2017).

    Until ``size`` images are stored each new one is stored and returned; after, each new
    image is, with probability 1/2, swapped with a stored one drawn uniformly (the stored
    one is returned) and otherwise returned as is. The images live in buffers, so a
    checkpoint of the module holding the pool restores it and a resumed run continues
    exactly. ``size = 0`` returns every batch unchanged.
    """

    def __init__(self, size: int, shape: tuple[int, ...]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def query(self, fake: Tensor, generator: torch.Generator) -> Tensor:
        """The batch ``(B, *shape)`` D sees in place of ``fake``; draws from ``generator``."""
        if self.size == 0:
            return fake
        out = fake.detach().clone()
        coin = torch.rand(len(fake), generator=generator) < 0.5
        slot = torch.randint(self.size, (len(fake),), generator=generator)
        for i in range(len(fake)):
            n = int(self.count)
            if n < self.size:
                self.images[n] = out[i]
                self.count += 1
            elif coin[i]:
                j = int(slot[i])
                out[i], self.images[j] = self.images[j].clone(), out[i].clone()
        return out
