"""VAR: the block-causal mask (scale k sees scales <= k only), perturbation of later
scales leaves earlier outputs unchanged, and the loss falls on a tiny overfit."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.models.var import VAR, VARConfig, block_causal_mask, scale_index


def tiny(**kw) -> VAR:
    torch.manual_seed(0)
    model = VAR(
        VARConfig(vocab_size=12, code_dim=4, scales=(1, 2, 3), n_layer=2, n_head=2, n_embd=16, **kw)
    )
    model.set_codebook(torch.randn(12, 4))
    return model.eval()


def test_mask_is_block_causal():
    m = block_causal_mask((1, 2, 3))
    lv = scale_index((1, 2, 3))
    assert m.shape == (14, 14) and lv.tolist() == [0] + [1] * 4 + [2] * 9
    for i in range(14):
        for j in range(14):
            assert bool(m[i, j]) == (lv[j] <= lv[i])


def test_later_scales_do_not_change_earlier_outputs():
    model = tiny(num_classes=2)
    cond = {"class": torch.tensor([0, 1])}
    h = model.embed(torch.randint(0, 12, (2, 14)), cond)
    base = model.transformer(h)
    g = h.clone()
    g[:, 5:] += torch.randn_like(g[:, 5:])  # perturb the inputs of the last scale
    out = model.transformer(g)
    torch.testing.assert_close(out[:, :5], base[:, :5])
    assert not torch.allclose(out[:, 5:], base[:, 5:])
    # at the token level: the tokens of scale k only feed the inputs of scales > k
    t = torch.randint(0, 12, (2, 14))
    u = t.clone()
    u[:, 1:5] = (u[:, 1:5] + 1) % 12  # scale 2 (of sides 1, 2, 3)
    a, b = model(t, cond), model(u, cond)
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert not torch.allclose(a[:, 5:], b[:, 5:])
    u = t.clone()
    u[:, 5:] = (u[:, 5:] + 1) % 12  # the last scale's tokens are never read
    torch.testing.assert_close(model(u, cond), a)


def test_loss_falls_on_tiny_overfit():
    model = tiny().train()
    data = torch.randint(0, 12, (6, 14), generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = F.cross_entropy(model(data).transpose(1, 2), data)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 2.0 and losses[-1] < 0.6 * losses[0]
