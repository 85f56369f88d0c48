"""Pix2Pix and CycleGAN terms: zero cycle and identity losses for identity generators,
the split discriminator loss, and the pool of past fakes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.families.translate import cyclegan_losses
from genlab.models.translate import CycleGenerators
from genlab.objectives import translate as T
from genlab.recipes import get_recipe


def test_cycle_and_identity_terms_vanish_for_identity_generators():
    exp = get_recipe("cyclegan-shapes")
    g_loss, _ = cyclegan_losses(exp)
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    batch = {"x": x, "cond": {"class": torch.tensor([0, 1, 0, 1, 1, 0])}}

    def d(a, b):  # a constant critic: the GAN term is a known constant
        return torch.zeros(len(a), 1, 2, 2), torch.zeros(len(b), 1, 2, 2)

    g = CycleGenerators(exp.model)
    g.g_ab, g.g_ba = nn.Identity(), nn.Identity()  # the real training pass, identity maps
    total, logs = g_loss(g, d, batch, torch.Generator(), 0, 0)
    assert float(logs["cycle"]) == 0.0 and float(logs["identity"]) == 0.0
    assert float(total) == pytest.approx(2 * 0.5)  # LSGAN G: (0 - 1)^2 / 2 per domain


def test_cycle_loss_is_the_mean_absolute_error():
    a = torch.zeros(2, 1, 2, 2)
    assert torch.equal(T.cycle_loss(a, a + 0.5), torch.full((2,), 0.5))
    assert torch.equal(T.identity_loss(a, a), torch.zeros(2))
    # the squared-error option: (0.5^2 * 3 + 2^2) / 4 on one sample, 0 on the other
    b = a.clone()
    b[0] = torch.tensor([0.5, 0.5, 0.5, 2.0]).view(1, 2, 2)
    assert torch.allclose(T.cycle_loss(a, b, "l2"), torch.tensor([4.75 / 4, 0.0]))
    assert torch.allclose(T.identity_loss(b, a, "l2"), torch.tensor([4.75 / 4, 0.0]))


@pytest.mark.parametrize("kind", ["ns", "lsgan", "hinge"])
def test_split_discriminator_terms_sum_to_the_paired_loss(kind):
    r, f = torch.randn(5, 1, 3, 3), torch.randn(5, 1, 3, 3)
    real, fake = T.patch_d_terms(kind, r, f)
    assert torch.allclose(real + fake, T.patch_d_loss(kind, r, f), atol=1e-6)
    real2, _ = T.patch_d_terms(kind, r, f[:2])  # sizes may differ
    assert torch.equal(real2, real)


def test_pool_fills_then_swaps_and_restores_from_its_state():
    pool = T.ImagePool(4, (1, 2, 2))
    g = torch.Generator().manual_seed(0)
    first = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    assert torch.equal(pool.query(first, g), first)  # filling: returned as given
    assert int(pool.count) == 4
    state = {k: v.clone() for k, v in pool.state_dict().items()}
    g_state = g.get_state()
    new = torch.full((64, 1, 2, 2), 9.0)
    out = pool.query(new, g)
    stored = set(first[:, 0, 0, 0].tolist())
    values = out[:, 0, 0, 0].tolist()
    assert set(values) <= stored | {9.0}
    assert 0 < values.count(9.0) < 64  # about half are swapped for stored ones
    old = [v for v in values if v != 9.0]
    assert len(old) == len(set(old))  # a stored image leaves the pool once
    again = T.ImagePool(4, (1, 2, 2))
    again.load_state_dict(state)
    assert torch.equal(again.query(new, torch.Generator().set_state(g_state)), out)
    x = torch.randn(3, 1, 2, 2)
    assert T.ImagePool(0, (1, 2, 2)).query(x, g) is x
