"""The U-Net reads a prompt: cross-attention to its token states at the attention levels
(padding keys change nothing) and its pooled states in the time embedding."""

from __future__ import annotations

import pytest
import torch

from genlab.models import build_model, preset


def _net(text_dim: int = 12):
    torch.manual_seed(0)
    net = build_model(
        preset("unet-tiny", image_size=8, in_channels=3, channels=16, text_dim=text_dim)
    )
    with torch.no_grad():  # a "trained" network: the zero-initialised outputs lit
        for name, p in net.named_parameters():
            if name.endswith("out.weight") or name.startswith("out."):
                p.normal_(0, 0.2)
    return net


def test_padding_keys_change_nothing():
    net = _net()
    x, t = torch.randn(2, 3, 8, 8), torch.rand(2)
    text = torch.randn(2, 5, 12)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    y = net(x, t, {"text": text, "text_mask": mask})
    garbage = text.clone()
    garbage[0, 3:] = 100.0  # what sits under the padding must not matter
    assert torch.equal(net(x, t, {"text": garbage, "text_mask": mask}), y)
    other = text.clone()
    other[0, :3] = torch.randn(3, 12)  # a real token does matter
    assert not torch.allclose(net(x, t, {"text": other, "text_mask": mask})[0], y[0])


def test_a_text_network_has_cross_attention_at_attention_levels_only():
    from genlab.nn.blocks import CrossAttention

    net, plain = _net(), _net(0)
    cross = {n for n, m in net.named_modules() if isinstance(m, CrossAttention)}
    # unet-tiny: attention at level 1 (of 2), one res block per level, and the middle
    assert cross == {"down.2.2", "mid.3", "up.0.2", "up.1.2"}
    assert set(plain.state_dict()) < set(net.state_dict())  # the same names, and more
    assert plain.cond_keys() == () and net.cond_keys() == ("text", "text_mask")
    with pytest.raises(KeyError, match="takes cond 'text' and 'text_mask'"):
        net(torch.randn(1, 3, 8, 8), torch.rand(1), {})
