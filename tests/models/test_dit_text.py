"""DiT text conditioning, each mode of ``model.text_conditioning``: the prompt is read,
padding tokens change nothing, an all-padding prompt is defined, and the cross and joint
paths start as the identity (zero-initialised outputs, adaLN-Zero)."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import ConfigError
from genlab.models.configs import DiTConfig
from genlab.models.dit import DiT

L, D = 5, 12


def _dit(mode: str, seed: int = 0, randomise: bool = True) -> DiT:
    torch.manual_seed(seed)
    cfg = DiTConfig(image_size=8, in_channels=3, patch=2, hidden=32, depth=2, heads=4,
                    text_dim=D, text_conditioning=mode)  # fmt: skip
    net = DiT(cfg).eval()
    if randomise:  # trained-like weights: the zero-initialised paths open
        with torch.no_grad():
            for p in net.parameters():
                p.normal_(0, 0.2)
    return net


def _inputs(b=3):
    g = torch.Generator().manual_seed(1)
    x, t = torch.randn(b, 3, 8, 8, generator=g), torch.rand(b, generator=g)
    text = torch.randn(b, L, D, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    return x, t, text, mask[:b]


@pytest.mark.parametrize("mode", ["cross", "pooled", "joint"])
def test_the_prompt_is_read_and_padding_changes_nothing(mode):
    net = _dit(mode)
    x, t, text, mask = _inputs()
    out = net(x, t, {"text": text, "text_mask": mask})
    garbage = torch.where(mask[..., None], text, torch.randn_like(text) * 100)
    torch.testing.assert_close(net(x, t, {"text": garbage, "text_mask": mask}), out)
    other = net(x, t, {"text": text.flip(0), "text_mask": mask})
    assert not torch.allclose(other, out)
    empty = net(x, t, {"text": text, "text_mask": torch.zeros_like(mask)})
    assert torch.isfinite(empty).all()
    with pytest.raises(KeyError, match="takes cond 'text' and 'text_mask'"):
        net(x, t, {})


@pytest.mark.parametrize("mode", ["cross", "joint"])
def test_token_paths_start_as_the_identity(mode):
    """At initialisation the cross-attention's output projection is zero and every
    block's adaLN-Zero gates are zero: the tokens change nothing beyond the pooled
    vector, so two prompts with the same pooled states give the same output."""
    net = _dit(mode, randomise=False)
    with torch.no_grad():  # open the final layer so outputs are not all zero
        net.out.weight.normal_(0, 0.2)
        net.ada.weight.normal_(0, 0.2)
    x, t, text, mask = _inputs()
    full = torch.ones_like(mask)
    # same mean over the L tokens, different tokens
    perm = text[:, torch.randperm(L, generator=torch.Generator().manual_seed(3))]
    a = net(x, t, {"text": text, "text_mask": full})
    torch.testing.assert_close(net(x, t, {"text": perm, "text_mask": full}), a)


def test_bad_text_settings_are_refused():
    with pytest.raises(ConfigError, match="model.text_conditioning: 'concat' is not one of"):
        DiTConfig(text_dim=8, text_conditioning="concat")
    with pytest.raises(ConfigError, match="it needs model.attention=full"):
        DiTConfig(dims=3, image_size=8, text_dim=8, text_conditioning="joint", attention="factored")
