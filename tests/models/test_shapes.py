"""Every preset of mlp, unet and dit maps (B, *shape) to the same shape, with and without
classes; a misspelt conditioning key fails clearly; patchify is exactly invertible in 1/2/3-D."""

import pytest
import torch

from genlab.errors import ConfigError
from genlab.models import PRESETS, build_model, preset
from genlab.nn.patch import patchify, unpatchify

SMALL = ("mlp", "unet-tiny", "dit-tiny")  # real forward passes; the rest on the meta device


DENOISERS = ("mlp", "unet", "dit")  # networks forward(x_t, t, cond) -> x_t-shaped


@pytest.mark.parametrize("name", sorted(n for n, c in PRESETS.items() if c.arch in DENOISERS))
def test_preset_shapes(name):
    cfg = preset(name, num_classes=10)
    shape = cfg.input_shape()
    device = "cpu" if name in SMALL or name.startswith("mlp") else "meta"
    with torch.device(device):
        m = build_model(cfg)
        x = torch.randn(2, *shape)
        y = m(x, torch.rand(2), {"class": torch.tensor([3, 10])})  # 10: the null class
    assert y.shape == (2, *shape)
    if device == "cpu":  # zero-initialised outputs are still finite; unconditional call works
        assert torch.isfinite(y).all()
        assert m(x, torch.rand(2), {}).shape == (2, *shape)


@pytest.mark.parametrize("name", ["mlp-small", "unet-tiny", "dit-tiny"])
def test_bad_cond_key_fails_clearly(name):
    cfg = preset(name, num_classes=10, **({"image_size": 8} if "unet" in name else {}))
    m = build_model(cfg)
    x = torch.randn(2, *cfg.input_shape())
    with pytest.raises(KeyError, match="unexpected conditioning keys \\['klass'\\]"):
        m(x, torch.rand(2), {"klass": torch.tensor([1, 2])})


@pytest.mark.parametrize("shape", [(2, 3, 8), (2, 3, 4, 6), (2, 1, 4, 2, 6)])
def test_patchify_round_trip(shape):
    x = torch.randn(shape)
    tokens = patchify(x, 2)
    n = 1
    for s in shape[2:]:
        n *= s // 2
    assert tokens.shape == (shape[0], n, shape[1] * 2 ** (len(shape) - 2))
    assert torch.equal(unpatchify(tokens, 2, shape[1], shape[2:]), x)
    # the first token is the top-left patch, channels first
    assert torch.equal(
        tokens[0, 0, : 2 ** (len(shape) - 2)], x[0, 0][(slice(0, 2),) * (len(shape) - 2)].flatten()
    )


def test_dit_dims_1_and_3():
    for dims, size in ((1, 16), (3, 4)):
        cfg = preset("dit-tiny", dims=dims, image_size=size, in_channels=2)
        m = build_model(cfg)
        assert (
            m(torch.randn(2, *cfg.input_shape()), torch.rand(2), {}).shape
            == (2, 2) + (size,) * dims
        )


def test_dit_bad_patch_fails_clearly():
    with pytest.raises(ConfigError, match="model.patch"):
        preset("dit-s/2", image_size=27)


@pytest.mark.parametrize("upsample", ["conv_resize", "resize_conv"])
def test_unet_odd_sizes_and_ranks(upsample):
    for dims, size in ((1, 27), (2, 28), (3, 6)):
        cfg = preset("unet-tiny", dims=dims, image_size=size, upsample=upsample, channels=8)
        m = build_model(cfg)
        x = torch.randn(2, *cfg.input_shape())
        assert m(x, torch.rand(2), {}).shape == x.shape
