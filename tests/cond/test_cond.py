"""The conditioning layer: declared nulls, dropout and guidance agree for a scalar null
(a class id) and a tensor null (token states (L, D) with a key mask (L,))."""

import pytest
import torch

from genlab.cond import cat_with_null, class_null, drop, null_batch
from genlab.errors import ConfigError
from genlab.sampling.configs import DiffusionSamplerConfig
from genlab.sampling.guidance import cfg

L, D = 5, 3


def text_null() -> dict:
    """An 'empty prompt': one token of states, padded to L with a mask."""
    states = torch.zeros(L, D)
    states[0] = torch.tensor([1.0, -1.0, 0.5])
    mask = torch.zeros(L, dtype=torch.bool)
    mask[0] = True
    return {"text": states, "text_mask": mask}


def text_cond(b: int) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "text": torch.randn(b, L, D, generator=g),
        "text_mask": torch.ones(b, L, dtype=torch.bool),
    }


def test_null_batch_broadcasts_declared_nulls_and_keeps_per_sample_ones():
    cond = text_cond(4)
    nb = null_batch(text_null(), cond)
    assert nb["text"].shape == (4, L, D) and nb["text_mask"].shape == (4, L)
    assert all(torch.equal(nb["text"][i], text_null()["text"]) for i in range(4))
    negative = {"text": torch.full((4, L, D), 7.0), "text_mask": torch.ones(4, L, dtype=torch.bool)}
    assert torch.equal(null_batch(negative, cond)["text"], negative["text"])  # a negative prompt
    cls = null_batch(class_null(10), {"class": torch.tensor([1, 2, 3])})["class"]
    assert cls.tolist() == [10, 10, 10]
    with pytest.raises(ConfigError, match="cond.text: null of shape"):
        null_batch({"text": torch.zeros(L + 1, D)}, cond)
    with pytest.raises(ConfigError, match="cond.class: has no declared null"):
        null_batch({}, {"class": torch.tensor([1])})


def test_dropout_and_guidance_agree_on_a_tensor_null_with_a_mask():
    """A dropped row equals the row guidance feeds the model as 'unconditional', and the
    states and their mask are dropped together."""
    b = 400
    cond, null = text_cond(b), text_null()
    dropped = drop(cond, 0.5, null, torch.Generator().manual_seed(1))
    is_null = (dropped["text"] == null["text"]).flatten(1).all(1)
    mask_null = (dropped["text_mask"] == null["text_mask"]).all(1)
    assert torch.equal(is_null, mask_null)  # one decision per sample for both keys
    assert 0.4 < is_null.float().mean() < 0.6
    seen = {}

    def model(x, t, c):
        seen.update(c)
        return x * 0 + c["text"].sum((1, 2)).view(-1, 1)

    x, t = torch.zeros(b, 2), torch.full((b,), 0.5)
    out = cfg(model, 2.0, null)(x, t, cond)
    uncond_rows = {k: v[b:] for k, v in seen.items()}
    both = cat_with_null(cond, null)
    assert all(torch.equal(uncond_rows[k], both[k][b:]) for k in both)
    for i in torch.nonzero(is_null).flatten()[:5].tolist():  # the same null row
        assert torch.equal(dropped["text"][i], uncond_rows["text"][i])
        assert torch.equal(dropped["text_mask"][i], uncond_rows["text_mask"][i])
    c, u = cond["text"].sum((1, 2)), null["text"].sum()
    torch.testing.assert_close(out[:, 0], c + 2.0 * (c - u))


def test_dropout_keeps_keys_without_a_null():
    cond = {"class": torch.tensor([1, 2, 3, 4]), "mask": torch.ones(4, 1, 2, 2)}
    out = drop(cond, 1.0, class_null(10), torch.Generator())
    assert out["class"].tolist() == [10] * 4 and out["mask"] is cond["mask"]
    assert drop(cond, 0.0, class_null(10), torch.Generator()) is cond


def test_guidance_rescale_matches_the_conditional_std_and_phi_mixes():
    """Lin et al. 2024, Eq. 15-16: phi = 1 gives the guided prediction scaled to the
    conditional's per-sample std; phi = 0.5 the midpoint; phi = 0 plain guidance."""
    gen = torch.Generator().manual_seed(0)
    c_out, u_out = torch.randn(3, 2, 4, 4, generator=gen), torch.randn(3, 2, 4, 4, generator=gen)

    def model(x, t, cond):  # conditional rows then null rows
        return torch.where((cond["class"] < 5).view(-1, 1, 1, 1), c_out.repeat(2, 1, 1, 1),
                           u_out.repeat(2, 1, 1, 1))  # fmt: skip

    x, t, cond = torch.zeros(3, 2, 4, 4), torch.full((3,), 0.5), {"class": torch.tensor([0, 1, 2])}
    null = {"class": torch.tensor(5)}
    g = cfg(model, 3.0, null)(x, t, cond)
    torch.testing.assert_close(g, c_out + 3.0 * (c_out - u_out))
    full = cfg(model, 3.0, null, rescale=1.0)(x, t, cond)
    torch.testing.assert_close(full.std((1, 2, 3)), c_out.std((1, 2, 3)))
    ratio = c_out.std((1, 2, 3), keepdim=True) / g.std((1, 2, 3), keepdim=True)
    torch.testing.assert_close(full, g * ratio)
    half = cfg(model, 3.0, null, rescale=0.5)(x, t, cond)
    torch.testing.assert_close(half, 0.5 * (full + g))
    with pytest.raises(ConfigError, match="sampler.guidance_rescale: phi must be in"):
        DiffusionSamplerConfig(guidance_rescale=1.5)
