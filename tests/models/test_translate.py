"""Image-to-image networks: the PatchGAN's receptive field, the generators' shapes, and
the paired sources made from the data."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.data.pairs import (
    BREAK_WIDTH,
    BREAKS,
    POSITION_STD,
    break_strokes,
    edges,
    make_source,
    position_map,
    thicken,
    to_channels,
)
from genlab.errors import ConfigError
from genlab.models.configs import (
    PatchDiscriminatorConfig,
    TranslatorConfig,
    TranslatorGeneratorConfig,
)
from genlab.models.translate import (
    CycleGenerators,
    PatchDiscriminator,
    ResNetGenerator,
    UNetGenerator,
    patch_grid,
    receptive_field,
)


def test_receptive_field_is_the_papers_70_at_three_layers():
    assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_a_patch_logit_sees_exactly_its_receptive_field(layers):
    """The gradient of one central logit w.r.t. the input is non-zero on a square of
    ``receptive_field`` pixels (instance norm, which couples all pixels, taken out)."""
    torch.manual_seed(0)
    d = PatchDiscriminator(1, PatchDiscriminatorConfig(channels=4, layers=layers))
    for i, m in enumerate(d.net):
        if isinstance(m, nn.InstanceNorm2d):
            d.net[i] = nn.Identity()
    size = 2 * receptive_field(layers) + 16
    x = torch.randn(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = d.double()(x)
    assert out.shape[-1] == patch_grid(size, layers)
    c = out.shape[-1] // 2
    out[0, 0, c, c].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().squeeze(1)
    cols = x.grad[0, 0].abs().sum(0).nonzero().squeeze(1)
    r = receptive_field(layers)
    assert int(rows[-1] - rows[0] + 1) == r
    assert int(cols[-1] - cols[0] + 1) == r


@pytest.mark.parametrize(
    "size,channels,norm",
    [(32, 3, "instance"), (28, 1, "batch"), (32, 3, "layer"), (32, 3, "none")],
)
def test_generators_keep_the_image_shape(size, channels, norm):
    x = torch.rand(2, channels, size, size) * 2 - 1
    cfg = TranslatorConfig(image_size=size, in_channels=channels, norm=norm)
    cfg.generator.channels = 8
    y = UNetGenerator(cfg).eval()(x)  # 28 is padded to 32 and cropped back
    kinds = {type(m) for m in UNetGenerator(cfg).modules()}
    norms = {"instance": nn.InstanceNorm2d, "batch": nn.BatchNorm2d, "layer": nn.GroupNorm}
    want = norms.get(norm)
    assert not (kinds & set(norms.values()) - {want})
    assert want is None or want in kinds
    assert y.shape == x.shape and y.abs().max() <= 1
    cfg.generator = TranslatorGeneratorConfig(kind="resnet", channels=8, depth=2, blocks=2)
    assert ResNetGenerator(cfg)(x).shape == x.shape
    pair = CycleGenerators(cfg)
    out = pair(x, x.flip(0))
    assert set(out) == {"fake_a", "fake_b", "rec_a", "rec_b", "idt_a", "idt_b"}
    assert torch.equal(pair.translate(x, "a2b"), pair.g_ab(x))
    with pytest.raises(ValueError, match="direction"):
        pair.translate(x, "sideways")


def test_unet_dropout_is_off_at_sampling():
    cfg = TranslatorConfig(image_size=16, in_channels=1)
    cfg.discriminator.layers = 1
    cfg.generator.channels, cfg.generator.depth = 4, 4
    g = UNetGenerator(cfg)
    x = torch.randn(2, 1, 16, 16)
    assert not torch.equal(g.train()(x), g(x))  # dropout draws
    assert torch.equal(g.eval()(x), g(x))


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="model.discriminator.layers"):
        TranslatorConfig(image_size=16, discriminator=PatchDiscriminatorConfig(layers=3))
    with pytest.raises(ConfigError, match="model.generator.depth"):
        TranslatorConfig(image_size=28, generator=TranslatorGeneratorConfig("resnet", depth=3))
    with pytest.raises(ConfigError, match="leave at least 2x2 pixels"):
        TranslatorConfig(image_size=32, generator=TranslatorGeneratorConfig("resnet", depth=5))
    with pytest.raises(ConfigError, match="model.generator.max_channels"):
        TranslatorConfig(generator=TranslatorGeneratorConfig(max_channels=0))
    with pytest.raises(ConfigError, match="model.generator.dropout"):
        TranslatorConfig(generator=TranslatorGeneratorConfig(dropout=1.0))


def _square(k: int, size: int = 12) -> torch.Tensor:
    x = -torch.ones(1, 3, size, size)
    lo = (size - k) // 2
    x[:, 0, lo : lo + k, lo : lo + k] = 1.0  # a red k x k square
    return x


def test_edges_of_a_square_are_its_one_pixel_border():
    x = _square(6)
    e = edges(x)
    lit = e[0, 0] > -1
    assert int(lit.sum()) == 4 * (6 - 1)  # the ring around a 4x4 hole
    assert bool((e[0, 1:] == -1).all())  # in the shape's own colour only
    assert torch.equal(edges(-torch.ones(1, 1, 5, 5)), -torch.ones(1, 1, 5, 5))


def test_thicken_grows_a_pixel_into_a_3x3_block():
    x = -torch.ones(1, 1, 7, 7)
    x[0, 0, 3, 3] = 1.0
    assert int((thicken(x) > -1).sum()) == 9


def test_break_erases_bands_and_adds_nothing():
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    g = torch.Generator().manual_seed(0)
    y = break_strokes(x, g)
    assert bool((y <= x).all())  # only set to background
    erased = (y != x) | (x == -1)
    # every image loses between one band (both overlap) and BREAKS full bands
    lost = (y == -1).flatten(1).sum(1) - (x == -1).flatten(1).sum(1)
    assert bool((lost >= BREAK_WIDTH * 28 - BREAK_WIDTH**2).all()) and erased.any()
    assert bool((lost <= BREAKS * BREAK_WIDTH * 28).all())
    assert torch.equal(y, break_strokes(x, torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="unknown source 'blur'"):
        make_source("blur", x)


def test_position_map_is_a_blob_at_the_centre_of_ink():
    x = _square(4, size=16)  # rows and columns 6..9: centre 8.0 in pixel units
    p = position_map(x)
    assert p.shape == x.shape and bool((p[:, 0] == p[:, 1]).all())  # white: every channel
    peak = (p[0, 0] == p[0, 0].max()).nonzero()
    assert {tuple(r) for r in peak.tolist()} == {(7, 7), (7, 8), (8, 7), (8, 8)}
    # a Gaussian of std POSITION_STD * H: half a pixel off-centre the value is exact
    sigma2 = (POSITION_STD * 16) ** 2
    assert abs(float(p[0, 0, 7, 7]) - (2 * torch.exp(torch.tensor(-0.5 / (2 * sigma2))) - 1)) < 1e-5
    assert torch.equal(position_map(-torch.ones(1, 3, 8, 8)), -torch.ones(1, 3, 8, 8))


def test_to_channels_gives_brightness_for_one():
    x = _square(4)
    assert torch.equal(to_channels(x, 3), x)
    assert torch.equal(to_channels(x, 1), x.amax(1, keepdim=True))
    with pytest.raises(ValueError, match="cannot make 2 channels from 3"):
        to_channels(x, 2)
