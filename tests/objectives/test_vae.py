"""ELBO pieces: the Gaussian KL against its closed form and Monte Carlo, likelihoods
against torch.distributions, the IWAE bound against the ELBO, the KL warm-up."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.models.vae import VAE, VAEConfig
from genlab.objectives.vae import (
    elbo_loss,
    gaussian_kl,
    gaussian_log_prob,
    iwae_bound,
    kl_weight,
    likelihood_target,
    log_likelihood,
)
from genlab.rng import keyed


def test_gaussian_kl_closed_form_and_monte_carlo():
    g = keyed(1)
    mu, logvar = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g) * 0.5
    kl = gaussian_kl(mu, logvar)
    # closed form, one dimension at a time: log(1/s) + (s^2 + mu^2 - 1) / 2
    s = (0.5 * logvar).exp()
    ref = (-s.log() + (s**2 + mu**2 - 1) / 2).sum(1)
    torch.testing.assert_close(kl, ref)
    q = torch.distributions.Normal(mu.double(), s.double())
    p = torch.distributions.Normal(0.0, 1.0)
    torch.testing.assert_close(kl.double(), torch.distributions.kl_divergence(q, p).sum(1))
    # Monte Carlo: E_q[log q - log p] over 50k draws, within 4 standard errors
    z = q.sample((50_000,))  # (M, 3, 4)
    terms = (q.log_prob(z) - p.log_prob(z)).sum(-1)
    se = terms.std(0) / math.sqrt(len(z))
    assert ((terms.mean(0) - kl.double()).abs() < 4 * se).all()
    zeros = torch.zeros(3, 4)
    assert torch.allclose(gaussian_kl(zeros, zeros), torch.zeros(3))


def test_log_likelihoods_match_torch_distributions():
    g = keyed(2)
    out, x = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    ls = torch.tensor([-1.0, 0.0, 0.5])
    sd = ls.exp().view(1, 3, 1, 1)
    ref = torch.distributions.Normal(out, sd).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(log_likelihood("gaussian", out, x, ls), ref)
    ref = torch.distributions.Laplace(out, sd).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(log_likelihood("laplace", out, x, ls), ref)
    xb = (x > 0).float()
    ref = torch.distributions.Bernoulli(logits=out).log_prob(xb).flatten(1).sum(1)
    torch.testing.assert_close(log_likelihood("bernoulli", out, xb, ls), ref)
    z, mu, lv = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g), torch.rand(5, 3)
    ref = torch.distributions.Normal(mu, (0.5 * lv).exp()).log_prob(z).sum(1)
    torch.testing.assert_close(gaussian_log_prob(z, mu, lv), ref)


def test_dynamic_binarisation_is_seeded_and_binary():
    x = torch.rand(4, 1, 5, 5) * 2 - 1
    a = likelihood_target("bernoulli", x, True, keyed(3))
    b = likelihood_target("bernoulli", x, True, keyed(3))
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(likelihood_target("gaussian", x, True, keyed(3)), x)


@pytest.fixture(scope="module")
def small_vae():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(image_size=8, hidden=32, depth=1, latent_dim=4)).eval()
    with torch.no_grad():  # a decoder that depends strongly on z, a too-wide posterior
        vae.dec[0].weight.mul_(8.0)
        vae.enc[-1].bias[4:] = 1.0
    x = torch.rand(16, 1, 8, 8, generator=keyed(4)) * 2 - 1
    target = likelihood_target("bernoulli", x, True, keyed(5))
    return vae, x, target


def test_iwae_bound_exceeds_elbo_and_rises_with_k(small_vae):
    vae, x, target = small_vae
    # the ELBO estimated with many single samples vs L_k averaged over repeats
    elbo = torch.stack([iwae_bound(vae, x, target, 1, keyed(10 + i)) for i in range(200)]).mean(0)
    l10 = torch.stack([iwae_bound(vae, x, target, 10, keyed(500 + i)) for i in range(20)]).mean(0)
    l200 = iwae_bound(vae, x, target, 200, keyed(900), chunk=64)
    assert (l10 - elbo).mean() > 0.1  # untrained posterior: a clear gap
    assert (l200 - l10).mean() > 0.05
    assert (l200 > elbo).all()


def test_iwae_chunking_is_exact(small_vae):
    vae, x, target = small_vae
    a = iwae_bound(vae, x, target, 60, keyed(7), chunk=60)
    b = iwae_bound(vae, x, target, 60, keyed(7), chunk=60)
    torch.testing.assert_close(a, b)
    c = iwae_bound(vae, x, target, 60, keyed(7), chunk=7)  # different draws, same law
    assert (a - c).abs().mean() < 2.0


def test_kl_warmup_ramps_and_counts_samples():
    assert kl_weight(2.0, 0, 0) == 2.0
    assert kl_weight(2.0, 100, 50) == 1.0 and kl_weight(2.0, 100, 1000) == 2.0
    vae = VAE(VAEConfig(image_size=8, hidden=16, depth=1, latent_dim=2)).train()
    for seen in (0, 10, 20):  # the loop passes the global samples before each step
        batch = {"x": torch.zeros(10, 1, 8, 8), "cond": {}, "samples_seen": seen}
        loss, logs = elbo_loss(vae, batch, keyed(0), beta=1.0, warmup_samples=40, binarize=False)
    assert int(vae.samples_seen) == 20 and logs["kl_weight"] == 0.5
    assert loss.shape == (10,)
    torch.testing.assert_close(logs["nelbo"], logs["recon"] + logs["kl"])
