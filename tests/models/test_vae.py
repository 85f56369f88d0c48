"""VAE networks: shapes of encode/decode for every encoder, the codec's scale/shift, a
conditional VAE's label path, and a loss that falls on a tiny overfit."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import ConfigError
from genlab.models.vae import VAE, VAEConfig
from genlab.objectives.vae import elbo_loss
from genlab.rng import keyed


@pytest.mark.parametrize(
    "cfg",
    [
        VAEConfig(image_size=8, hidden=16, latent_dim=3),
        VAEConfig(image_size=8, encoder="conv", channels=8, latent_dim=3, num_classes=4),
        VAEConfig(
            in_channels=3,
            image_size=16,
            encoder="conv",
            spatial=True,
            channels=8,
            latent_dim=2,
            likelihood="laplace",
        ),
    ],
    ids=["mlp", "conv-cond", "spatial"],
)
def test_encode_decode_shapes(cfg):
    vae = VAE(cfg).eval()
    x = torch.rand(5, *cfg.input_shape()) * 2 - 1
    cond = {"class": torch.arange(5) % 4} if cfg.num_classes else {}
    z = vae.encode(x, cond)
    assert z.shape == (5, *cfg.latent_shape())
    y = vae.decode(z, cond)
    assert y.shape == x.shape
    if cfg.likelihood == "bernoulli":
        assert y.min() >= -1 and y.max() <= 1
    out, mu, logvar = vae(x, cond, torch.zeros(5, *cfg.latent_shape()))
    assert out.shape == x.shape and mu.shape == logvar.shape == z.shape


def test_codec_scale_and_shift():
    cfg = VAEConfig(image_size=8, hidden=16, latent_dim=3)
    torch.manual_seed(0)
    a = VAE(cfg).eval()
    b = VAE(VAEConfig(image_size=8, hidden=16, latent_dim=3, scale=2.0, shift=0.5)).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(b.encode(x), (a.encode(x) - 0.5) * 2.0)
    torch.testing.assert_close(b.decode(b.encode(x)), a.decode(a.encode(x)))


def test_conditional_vae_uses_the_label():
    vae = VAE(VAEConfig(image_size=8, hidden=16, latent_dim=3, num_classes=3)).eval()
    z = torch.randn(2, 3)
    a = vae.decode(z, {"class": torch.tensor([0, 0])})
    b = vae.decode(z, {"class": torch.tensor([1, 1])})
    assert not torch.allclose(a, b)
    with pytest.raises(KeyError):
        vae.decode(z, {"label": torch.tensor([0, 0])})


def test_bad_configs_fail_clearly():
    with pytest.raises(ConfigError, match="model.spatial"):
        VAEConfig(spatial=True)
    with pytest.raises(ConfigError, match="model.levels"):
        VAEConfig(encoder="conv", image_size=30)


def test_loss_falls_on_tiny_overfit():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(image_size=8, hidden=64, depth=1, latent_dim=4)).train()
    x = (torch.rand(16, 1, 8, 8, generator=keyed(1)) > 0.5).float() * 2 - 1
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    losses = []
    for step in range(150):
        loss, _ = elbo_loss(
            vae,
            {"x": x, "cond": {}, "samples_seen": 16 * step},
            keyed(step),
            beta=1.0,
            warmup_samples=0,
            binarize=False,
        )
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        losses.append(loss.mean().item())
    # 64 fair coins cost 44.4 nats; memorising 16 images must do much better
    assert losses[0] > 40 and sum(losses[-10:]) / 10 < 30
