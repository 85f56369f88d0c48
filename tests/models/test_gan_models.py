"""GAN networks: shapes for every size, AdaIN and modulated conv formulas, style mixing,
truncation, packing and spectral norm in the built discriminator."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genlab.errors import ConfigError
from genlab.families import family_of
from genlab.families.gan import build_discriminator
from genlab.models.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator, stages
from genlab.models.gan_mlp import GanMLPConfig, MLPDiscriminator, MLPGenerator
from genlab.models.stylegan import StyleGANConfig, StyleGenerator, adain, modulated_conv
from genlab.recipes import get_recipe
from genlab.runs import override


def test_stages():
    assert [stages(s) for s in (8, 28, 32, 7)] == [(4, 1), (7, 2), (4, 3), (7, 0)]


@pytest.mark.parametrize("size,chans,classes,pack", [(8, 1, 10, 1), (28, 3, 0, 2), (28, 1, 10, 1)])
def test_dcgan_shapes(size, chans, classes, pack):
    cfg = DCGANConfig(image_size=size, in_channels=chans, num_classes=classes)
    cfg.generator.channels, cfg.discriminator.channels = 8, 8
    cfg.discriminator.minibatch_std = True
    g, d = DCGANGenerator(cfg), DCGANDiscriminator(cfg, pack)
    cond = {"class": torch.arange(4) % 10} if classes else {}
    x = g(torch.randn(4, cfg.z_dim), cond)
    assert x.shape == (4, chans, size, size) and x.abs().max() <= 1
    dcond = {"class": cond["class"][: 4 // pack]} if classes else {}
    assert d(x.reshape(4 // pack, pack * chans, size, size), dcond).shape == (4 // pack,)
    with pytest.raises(KeyError, match="unexpected conditioning"):
        g(torch.randn(4, cfg.z_dim), {"label": torch.zeros(4, dtype=torch.int64)})


def test_projection_discriminator_uses_the_label():
    cfg = DCGANConfig(image_size=8, num_classes=10)
    d = DCGANDiscriminator(cfg).eval()
    x = torch.randn(2, 1, 8, 8)
    b0 = d(x, {"class": torch.tensor([1, 2])})
    assert torch.equal(b0[0], d(x, {"class": torch.tensor([2, 2])})[0])  # zero-init rows
    torch.nn.init.normal_(d.proj.weight)
    a = d(x, {"class": torch.tensor([1, 1])})
    b = d(x, {"class": torch.tensor([2, 2])})
    assert not torch.allclose(a, b)


def test_mlp_gan_shapes_and_pack():
    cfg = GanMLPConfig(num_classes=0)
    assert MLPGenerator(cfg)(torch.randn(6, cfg.z_dim)).shape == (6, 2)
    assert MLPDiscriminator(cfg, pack=3)(torch.randn(2, 6)).shape == (2,)


def test_adain_formula():
    x = torch.randn(3, 4, 5, 5) * 3 + 2
    s, b = torch.rand(3, 4) + 0.5, torch.randn(3, 4)
    y = adain(x, s, b)
    assert torch.allclose(y.mean((2, 3)), b, atol=1e-5)
    assert torch.allclose(y.std((2, 3), unbiased=False), s, atol=1e-3)


def test_modulated_conv_matches_per_sample_conv():
    x, w, s = torch.randn(2, 3, 6, 6), torch.randn(5, 3, 3, 3), torch.rand(2, 3) + 0.5
    out = modulated_conv(x, w, s)
    for i in range(2):
        wi = w * s[i][None, :, None, None]
        wi = wi / wi.pow(2).sum((1, 2, 3), keepdim=True).add(1e-8).sqrt()
        assert torch.allclose(out[i], F.conv2d(x[i : i + 1], wi, padding=1)[0], atol=1e-5)


@pytest.mark.parametrize("mode", ["adain", "modconv"])
def test_stylegan_mixing_truncation_and_shapes(mode):
    cfg = StyleGANConfig(image_size=28, in_channels=1)
    cfg.generator.modulation, cfg.generator.channels = mode, 8
    g = StyleGenerator(cfg)
    assert g.num_layers == 6 and g.noise_shapes()[-1] == (1, 28, 28)
    z, z2 = torch.randn(4, cfg.z_dim), torch.randn(4, cfg.z_dim)
    g.train()
    g.styles(z)  # training-mode mapping moves w_avg
    assert g.w_avg.abs().sum() > 0
    g.eval()
    w = g.styles(z, z2=z2, crossover=2)
    assert torch.equal(w[:, :2], g.map(z)[:, None].expand(-1, 2, -1))
    assert torch.equal(w[:, 2:], g.map(z2)[:, None].expand(-1, 4, -1))
    w0 = g.styles(z, psi=0.0)
    assert torch.equal(w0, g.w_avg.expand_as(w0))  # psi = 0: exactly the mean w
    wh = g.styles(z, psi=0.5)
    assert torch.allclose(wh, 0.5 * (g.styles(z) + g.w_avg), atol=1e-6)
    x = g(z, truncation=0.7)
    assert x.shape == (4, 1, 28, 28)
    noise = [torch.randn(4, *s) for s in g.noise_shapes()]
    assert torch.equal(g(z, noise=noise), g(z))  # noise strengths start at zero
    with torch.no_grad():
        for layer in g.layers:
            layer.noise_strength.fill_(0.5)
    assert not torch.allclose(g(z, noise=noise), g(z))


def test_stylegan_sample_per_seed_and_truncation():
    exp = override(get_recipe("stylegan-shapes"), ["model.generator.channels=8"])
    task = family_of("gan")
    g = task.build(exp).eval()
    with torch.no_grad():
        for layer in g.layers:
            layer.noise_strength.fill_(0.5)
    a = task.sample(g, exp, [3, 4], {}, exp.sampler)
    b = task.sample(g, exp, [4], {}, exp.sampler)
    assert a.shape == (2, 3, 32, 32) and torch.allclose(a[1], b[0], atol=1e-5)
    exp.sampler.truncation = 0.0
    t0 = task.sample(g, exp, [3, 4], {}, exp.sampler)
    assert not torch.allclose(t0[0], a[0])


def test_built_discriminator_is_spectrally_normalised():
    exp = override(get_recipe("dcgan-digits"), ["objective.spectral_norm=true"])
    d = build_discriminator(exp)
    names = [n for n, _ in d.named_parameters()]
    assert any("parametrizations.weight.original" in n for n in names)
    bad = override(get_recipe("cdcgan-digits"), ["objective.pack=2"])
    with pytest.raises(Exception, match="objective.pack"):
        build_discriminator(bad)


def test_mbstd_recipe_discriminator_sees_the_batch():
    """dcgan-mbstd-stacked-mnist's D scores sample 0 differently when the other members
    of its minibatch-std group change; the plain DCGAN's D (in eval mode) does not."""
    x = torch.rand(4, 3, 28, 28) * 2 - 1
    y = x.clone()
    y[1:] = x[0]  # same sample 0, a collapsed group around it
    scores = {}
    for name in ("dcgan-mbstd-stacked-mnist", "dcgan-stacked-mnist"):
        exp = get_recipe(name)
        assert exp.data.name == "stacked-mnist" and exp.model.in_channels == 3
        d = build_discriminator(exp).eval()
        with torch.no_grad():
            scores[name] = (d(x, {})[0], d(y, {})[0])
    a, b = scores["dcgan-mbstd-stacked-mnist"]
    assert not torch.allclose(a, b)
    a, b = scores["dcgan-stacked-mnist"]
    assert torch.allclose(a, b)
    # StyleGAN's D keeps its default minibatch std
    assert get_recipe("stylegan-mnist").model.discriminator.minibatch_std


def test_mixture_latent_picks_a_component_by_z0_and_offsets_it():
    """DeLiGAN-style static mixture: z_0 picks component floor(Phi(z_0) K), and the first
    layer sees mu_k + std * z_{1:}; under z ~ N(0, I) the K components are equally likely."""
    cfg = GanMLPConfig()
    cfg.generator.z_dim, cfg.generator.mixture, cfg.generator.mixture_std = 3, 5, 0.2
    g = MLPGenerator(cfg)
    assert g.means.shape == (5, 2) and g.means.abs().max() <= 1
    seen = []
    g.inp.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    k = torch.tensor([0, 1, 2, 3, 4, 2])
    z0 = torch.special.ndtri((k + 0.5) / 5)  # the middle of component k's z_0 bucket
    rest = torch.randn(6, 2)
    g(torch.cat([z0[:, None], rest], 1))
    torch.testing.assert_close(seen[0], g.means[k] + 0.2 * rest)
    z = torch.randn(50_000, 3, generator=torch.Generator().manual_seed(0))
    g(z)
    offset = (seen[1][:, None] - g.means[None] - 0.2 * z[:, None, 1:]).abs().amax(2)  # (N, K)
    hit = offset.argmin(1)  # the component whose mean + offset reproduces the input
    assert offset.min(1).values.max() < 1e-5
    freq = torch.bincount(hit, minlength=5) / len(z)
    assert (freq - 0.2).abs().max() < 0.01
    # the means are buffers: saved with the weights, so a loaded G samples the same points
    assert "means" in g.state_dict()
    with pytest.raises(ConfigError, match="model.generator.mixture"):
        GanMLPConfig(generator=type(cfg.generator)(z_dim=1, mixture=4))
