"""The sine-cosine position table (genlab.nn.embed.sincos_grid) and the DiT's choice of
position-embedding start (model.pos_init)."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.errors import ConfigError
from genlab.models import build_model, preset
from genlab.models.configs import DiTConfig
from genlab.nn.embed import sincos_grid


def test_sincos_grid_is_the_closed_form_per_axis():
    pos = sincos_grid((2, 3), 8)  # 2 axes x (cos, sin) x 2 frequencies
    assert pos.shape == (1, 6, 8)
    freqs = [1.0, 1.0 / 100.0]  # exp(-ln(10^4) k / 2), k = 0, 1
    for i in range(6):
        r, c = divmod(i, 3)  # row-major, as patchify
        want = []
        for coord in (r, c):
            want += [math.cos(coord * f) for f in freqs] + [math.sin(coord * f) for f in freqs]
        torch.testing.assert_close(pos[0, i], torch.tensor(want))
    assert pos.abs().max() <= 1.0
    with pytest.raises(ValueError, match="not divisible by 2 x 2 axes"):
        sincos_grid((4, 4), 6)


def test_a_dit_starts_from_the_table_with_pos_init_sincos():
    cfg = preset("dit-mnist", image_size=16, in_channels=3, patch=4, hidden=32, depth=1,
                 heads=2, pos_init="sincos")  # fmt: skip
    net = build_model(cfg)
    torch.testing.assert_close(net.pos.detach(), sincos_grid((4, 4), 32))
    assert net.pos.requires_grad  # a start, then learned
    torch.manual_seed(0)
    plain = build_model(preset("dit-mnist", image_size=16, in_channels=3, patch=4, hidden=32,
                               depth=1, heads=2))  # fmt: skip
    assert plain.pos.std() < 0.05  # the default: N(0, 0.02^2)
    with pytest.raises(ConfigError, match="model.pos_init"):
        DiTConfig(pos_init="rope")
    with pytest.raises(ConfigError, match="30 is not a multiple of 4"):
        DiTConfig(hidden=30, heads=2, pos_init="sincos")
