"""VQ-VAE: straight-through gradients reach the encoder, EMA codes move toward the mean
of their assigned vectors, dead codes restart onto data, residual and multi-scale token
round trips."""

from __future__ import annotations

import torch

from genlab.models.vq import VQVAE, Codebook, VQConfig, ms_decode, usage_stats
from genlab.objectives.vae import vq_loss


def tiny(**kw) -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(VQConfig(image_size=8, channels=8, levels=1, codebook_size=16, code_dim=4, **kw))


def test_straight_through_gradient_reaches_the_encoder():
    for kw in ({}, {"ema_decay": 0.0}, {"depth": 2}, {"scales": (1, 2, 4)}):
        model = tiny(**kw).train()
        x = torch.rand(4, 1, 8, 8) * 2 - 1
        loss, logs = vq_loss(model, {"x": x}, None, commitment=0.0, recon="mse")
        loss.mean().backward()
        # commitment 0: the encoder's only gradient is the reconstruction, through sg
        g = [p.grad for p in model.enc.parameters()]
        assert all(t is not None for t in g) and sum(t.abs().sum() for t in g) > 0, kw
        assert 0 < float(logs["usage"]) <= 1 and float(logs["perplexity"]) >= 1


def test_ema_update_moves_codes_toward_assigned_means():
    book = Codebook(2, 2, decay=0.5, threshold=0.0)
    book.codes.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    book.ema_sum.copy_(book.codes)
    book.ema_count.fill_(1.0)
    z = torch.tensor([[1.0, 1.0], [1.0, 3.0], [9.0, 9.0]])  # code 0 gets mean (1, 2)
    book.train()(z)
    # counts: 0.5*1 + 0.5*2 = 1.5, sums: 0.5*0 + 0.5*(2, 4) = (1, 2) -> code (2/3, 4/3)
    torch.testing.assert_close(book.codes[0], torch.tensor([2 / 3, 4 / 3]), atol=1e-4, rtol=0)
    torch.testing.assert_close(book.codes[1], torch.tensor([9.5, 9.5]), atol=1e-4, rtol=0)
    before = (book.codes[0] - torch.tensor([1.0, 2.0])).norm()
    book(z)
    assert (book.codes[0] - torch.tensor([1.0, 2.0])).norm() < before


def test_dead_codes_restart_onto_data():
    torch.manual_seed(0)
    book = Codebook(8, 2, decay=0.9, threshold=0.5).train()
    z = torch.randn(64, 2) * 0.1 + 5.0  # far from the initial codes
    book(z)  # counts start at zero: every unused code restarts
    dist = torch.cdist(book.codes, z).min(1).values
    assert (dist < 1e-5).sum() >= 7  # (at most one code kept its EMA mean)
    idx = book.nearest(z)
    usage, ppl = usage_stats(idx, 8)
    assert usage > 0.5 and ppl > 2


def test_tokens_round_trip_for_every_quantizer():
    for kw in ({}, {"depth": 3}, {"scales": (1, 2, 4)}):
        model = tiny(**kw).eval()
        x = torch.rand(3, 1, 8, 8) * 2 - 1
        tokens = model.encode(x)
        assert tokens.shape == (3, model.cfg.num_tokens()) and tokens.dtype == torch.int64
        f_hat, _ = model.quantize(model.enc(x))
        torch.testing.assert_close(model.tokens_to_latent(tokens), f_hat)
        assert model.decode(tokens).shape == x.shape


def test_residual_and_multiscale_quantizers_reduce_error():
    x = torch.rand(8, 1, 8, 8) * 2 - 1
    err = []
    for depth in (1, 3):
        model = tiny(depth=depth).train()
        model(x)  # initialise codes from data (restart), then measure
        model.eval()
        f = model.enc(x)
        err.append((model.quantize(f)[0] - f).pow(2).mean().item())
    assert err[1] < err[0]
    model = tiny(scales=(1, 2, 4)).eval()
    t = model.encode(x)
    coarse = ms_decode(model.books[0].codes, t[:, :1].repeat(1, 21) * 0 + t[:, :1], (1,), 4)
    assert coarse.shape == (8, 4, 4, 4)
