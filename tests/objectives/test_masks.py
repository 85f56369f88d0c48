"""Random inpainting masks and the mask-conditioned U-Net: masks are deterministic per
generator and of the kind asked for; the extra input convolution is zero at
initialisation, so an inpainting U-Net starts as exactly the plain one; guidance keeps the
mask and masked image in both halves of its batch."""

import pytest
import torch

from genlab.cond import cat_with_null
from genlab.models.configs import UNetConfig
from genlab.models.unet import UNet
from genlab.objectives.masks import (
    band_mask,
    box_mask,
    random_masks,
    stroke_mask,
    with_inpaint_cond,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_masks_are_deterministic_binary_and_of_their_kind():
    a, b = random_masks(16, 12, 10, gen(3)), random_masks(16, 12, 10, gen(3))
    assert a.shape == (16, 1, 12, 10) and torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert bool((random_masks(8, 12, 10, gen(), full_p=1.0) == 1).all())
    partial = random_masks(64, 12, 10, gen(), full_p=0.0)
    frac = partial.mean((1, 2, 3))
    assert bool((frac > 0).all() and (frac < 1).all())
    for i in range(20):
        box = box_mask(16, 16, gen(i))
        rows, cols = box.any(1).sum(), box.any(0).sum()
        assert 4 <= rows <= 12 and 4 <= cols <= 12 and box.sum() == rows * cols
        band = band_mask(16, 16, gen(i))
        assert 4 <= band.sum() / 16 <= 8  # 1/4 to 1/2 of one side, full length
        assert bool(band.all(0).any() or band.all(1).any())
        assert 0 < stroke_mask(16, 16, gen(i)).sum() < 256


def test_with_inpaint_cond_blanks_the_masked_pixels():
    x = torch.randn(6, 3, 8, 8)
    batch = with_inpaint_cond({"x": x, "cond": {"class": torch.arange(6)}}, gen(), full_p=0.0)
    m, img = batch["cond"]["mask"], batch["cond"]["image"]
    assert m.shape == (6, 1, 8, 8) and torch.equal(batch["cond"]["class"], torch.arange(6))
    assert torch.equal(img, torch.where(m.bool().expand_as(x), torch.zeros_like(x), x))
    assert torch.equal(batch["x"], x)


def small(**kw):
    cfg = dict(channels=16, channel_mult=(1, 2), num_res_blocks=1, attn_levels=(), image_size=8)
    return UNetConfig(**cfg, num_classes=3, **kw)


def test_an_inpainting_unet_starts_as_the_plain_one():
    torch.manual_seed(0)
    base, inp = UNet(small()), UNet(small(inpaint=True))
    missing, unexpected = inp.load_state_dict(base.state_dict(), strict=False)
    assert unexpected == [] and all(k.startswith("inp_mask.") for k in missing) and missing
    x, t = torch.randn(4, 1, 8, 8), torch.rand(4)
    cond = {"class": torch.tensor([0, 1, 2, 0])}
    mask = (torch.rand(4, 1, 8, 8) > 0.5).float()
    full = {**cond, "mask": mask, "image": torch.randn(4, 1, 8, 8)}
    # the output layer is zero-initialised too: perturb it so outputs are not all 0
    for net in (base, inp):
        torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    inp.out[-1].load_state_dict(base.out[-1].state_dict())
    assert torch.equal(inp(x, t, full), base(x, t, cond))
    torch.nn.init.normal_(inp.inp_mask.weight, std=0.1)  # once trained, the mask matters
    assert not torch.allclose(inp(x, t, full), base(x, t, cond))
    assert torch.isfinite(inp(x, t, cond)).all()  # no mask: plain generation
    with pytest.raises(KeyError, match="together"):
        inp(x, t, {**cond, "mask": mask})


def test_guidance_keeps_mask_and_image_in_both_halves():
    cond = {"class": torch.tensor([1, 2]), "mask": torch.ones(2, 1, 4, 4)}
    cond["image"] = torch.randn(2, 1, 4, 4)
    both = cat_with_null(cond, {"class": torch.tensor(10)})
    assert both["class"].tolist() == [1, 2, 10, 10]
    assert torch.equal(both["image"], torch.cat([cond["image"], cond["image"]]))
    assert torch.equal(both["mask"], torch.ones(4, 1, 4, 4))
