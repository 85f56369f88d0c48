"""HiFi-GAN: shapes, the losses' closed forms, a tiny vocoder whose mel loss falls, and
resynthesis through `genlab sample`."""

from __future__ import annotations

import json
import math

import pytest
import soundfile as sf
import torch

from genlab.cli import main
from genlab.errors import ConfigError
from genlab.families.vocoder import build, mel_of
from genlab.models.configs import HiFiGANConfig
from genlab.models.hifigan import HiFiGAN, HiFiGANDiscriminator
from genlab.nn.audio import MelSpectrogram, mel_to_linear
from genlab.objectives import vocoder as V
from genlab.recipes import get_recipe
from genlab.runs import override

SMALL = dict(channels=16, d_channels=4, resblock_kernels=(3,), resblock_dilations=(1, 3),
             periods=(2, 3), scales=2)  # fmt: skip


def test_generator_and_discriminator_shapes():
    cfg = HiFiGANConfig(**SMALL)
    g, d = HiFiGAN(cfg), HiFiGANDiscriminator(cfg)
    mel = torch.randn(2, 1, 64, 20)
    y = g(mel).detach()
    assert y.shape == (2, 1, 20 * 64) and float(y.abs().max()) <= 1
    logits, feats = d(y)
    assert len(logits) == len(feats) == 2 + 2  # periods + scales
    assert all(z.shape[0] == 2 for z in logits)
    exp = override(get_recipe("hifigan-fsdd"), ["data.length=2048", "model.length=2048"])
    assert mel_of(exp, torch.zeros(3, 1, 2048)).shape == (3, 1, 64, 2048 // 64)


def test_losses_closed_forms():
    one, zero = [torch.ones(2, 5)], [torch.zeros(2, 5)]
    assert torch.equal(V.discriminator_loss(one, zero), torch.zeros(2))  # perfect D
    assert torch.equal(V.discriminator_loss(zero, one), torch.full((2,), 2.0))
    assert torch.equal(V.generator_adv_loss(one), torch.zeros(2))
    f = [[torch.ones(2, 3, 4), torch.zeros(2, 6)]]
    g = [[torch.ones(2, 3, 4) * 1.5, torch.zeros(2, 6)]]
    assert torch.allclose(V.feature_matching_loss(f, g), torch.full((2,), 0.5))
    assert torch.allclose(V.mel_l1(torch.zeros(2, 1, 4, 3), torch.ones(2, 1, 4, 3)), torch.ones(2))


def test_bad_settings_are_one_error():
    with pytest.raises(ConfigError, match=r"model.upsample_rates: \(4, 4\) multiply to 16"):
        HiFiGANConfig(upsample_rates=(4, 4))
    with pytest.raises(ConfigError, match="objective.segment: 1000 must be a multiple of the hop"):
        build(override(get_recipe("hifigan-fsdd"), ["objective.segment=1000"]))
    with pytest.raises(ConfigError, match="model.sample_rate/length"):
        build(override(get_recipe("hifigan-fsdd"), ["model.length=4096"]))


TINY = [
    "data.name=tones", "data.n=32", "data.length=1024", "model.length=1024",
    "model.channels=16", "model.d_channels=4", "model.resblock_kernels=[3]",
    "model.resblock_dilations=[1,3]", "model.periods=[2,3]", "model.scales=2",
    "objective.segment=512", "train.steps=40", "train.batch_size=8", "train.log_every=5",
    "train.sample_every=40", "train.ckpt_every=40", "train.tensorboard=false",
    "objective.g_lr=2e-3", "objective.d_lr=2e-3",
]  # fmt: skip


def test_a_tiny_vocoder_learns_and_resynthesises(tmp_path, capsys):
    run = tmp_path / "voc"
    assert main(["train", "hifigan-fsdd", *TINY, "--out", str(run)]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    mel = [r["mel_l1"] for r in rows if "mel_l1" in r]
    assert sum(mel[-2:]) / 2 < 0.8 * sum(mel[:2]) / 2, mel  # 3.4 -> 2.3 in 40 steps
    preview = run / "samples" / "step_00000040"  # resyntheses as WAVs, beside the picture
    assert sorted(p.name for p in preview.iterdir()) == [f"{i:03d}.wav" for i in range(4)]
    capsys.readouterr()
    out = tmp_path / "r.wav"
    assert main(["sample", str(run), "--n", "2", "--out", str(out)]) == 0
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["000.wav", "001.wav"]
    assert sf.info(tmp_path / "r" / "000.wav").frames == 1024
    orig = tmp_path / "o.wav"
    assert main(["sample", str(run), "--n", "1", "--out", str(orig), "originals=true"]) == 0
    assert sf.info(orig).frames == 1024


def test_any_valid_setting_builds_and_keeps_the_length():
    cfg = HiFiGANConfig(**{**SMALL, "upsample_rates": (3, 4, 4), "hop_length": 48, "d_channels": 6})
    y = HiFiGAN(cfg)(torch.randn(1, 64, 10)).detach()
    assert y.shape == (1, 1, 480)  # odd rates too: exactly hop x frames
    logits, _ = HiFiGANDiscriminator(cfg)(y)
    assert len(logits) == 4
    with pytest.raises(ConfigError, match="model.resblock_kernels: .* must be odd"):
        HiFiGANConfig(resblock_kernels=(4,))


def test_istft_head_inverts_the_stft_it_is_given():
    # with an identity 1x1 convolution, features [log|S|; angle S] give back the waveform
    from genlab.nn.audio import ISTFTHead, stft

    n_fft, hop = 64, 16
    head = ISTFTHead(2 * (n_fft // 2 + 1), n_fft, hop)
    with torch.no_grad():
        head.weight.copy_(torch.eye(head.out_channels)[..., None])
        head.bias.zero_()
    x = 0.5 * torch.sin(torch.linspace(0, 60, 320))[None] * torch.linspace(0.2, 1, 320)
    s = stft(x, n_fft, hop)  # (1, F, T + 1)
    h = torch.cat([s.abs().clamp(min=1e-9).log(), s.angle()], 1)
    y = head(h, x.shape[-1])
    assert y.shape == (1, 1, 320)
    assert torch.allclose(y[0], x, atol=1e-4)


def test_vocos_generator_keeps_the_length_and_learns(tmp_path, capsys):
    from genlab.models.hifigan import Vocos, generator

    cfg = HiFiGANConfig(
        generator="vocos", channels=16, layers=2, d_channels=4, periods=(2,), scales=1
    )
    g = generator(cfg)
    assert isinstance(g, Vocos)
    y = g(torch.randn(2, 1, 64, 10)).detach()
    assert y.shape == (2, 1, 640) and float(y.abs().max()) <= 1
    # at initialisation the magnitudes are the mel's least-squares inverse (the prior)
    mel = MelSpectrogram(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels)
    m = mel(0.3 * torch.randn(2, 1, 640))[..., :10]  # (2, 1, 64, 10)
    prior = mel_to_linear(m[:, 0].exp(), mel.filterbank).clamp(min=1e-5)
    got = g.spectrum(m).abs().detach()  # (2, F, 11)
    assert torch.allclose(got[..., :10], prior, rtol=1e-4)
    run = tmp_path / "vocos"
    tiny = [a for a in TINY if not a.startswith(("model.resblock", "model.channels"))]
    args = ["train", "vocos-fsdd", *tiny, "model.channels=16", "model.layers=2", "--out", str(run)]
    assert main(args) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    mel = [r["mel_l1"] for r in rows if "mel_l1" in r]
    assert sum(mel[-2:]) / 2 < 0.8 * sum(mel[:2]) / 2, mel
    capsys.readouterr()
    assert main(["info", str(run)]) == 0
    assert "hifigan (vocos generator), " in capsys.readouterr().out
    from genlab.checkpoint import load_network  # how a mel flow loads its vocoder

    assert isinstance(load_network(run, "ema").module, Vocos)


def test_vocos_with_griffin_lim_phase_starts_as_griffin_lim():
    from genlab.models.hifigan import generator
    from genlab.nn.audio import griffin_lim, istft, stft

    cfg = HiFiGANConfig(generator="vocos", channels=16, layers=2, phase="griffin-lim", gl_iters=4)
    g = generator(cfg)
    mel = MelSpectrogram(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels)
    m = mel(0.3 * torch.randn(2, 1, 640))[..., :10]  # (2, 1, 64, 10)
    prior = mel_to_linear(m[:, 0].exp(), mel.filterbank).clamp(min=1e-5)
    prior = torch.cat([prior, prior[..., -1:]], -1)  # (2, F, 11)
    start = 2 * math.pi * torch.rand(prior.shape[-2:], generator=torch.Generator().manual_seed(0))
    gl = griffin_lim(prior, 256, 64, n_iter=4, length=640, phase=start)
    want = istft(torch.polar(prior, stft(gl, 256, 64).angle()), 256, 64, length=640)
    y = g(m).detach()
    assert torch.allclose(y[:, 0], want.clamp(-1, 1), atol=1e-5)
    # a clip's output does not depend on its batch or its place in it
    assert torch.allclose(g(m[1:]).detach()[0], y[1], atol=1e-5)


def test_vocos_settings_are_checked():
    with pytest.raises(ConfigError, match="model.n_fft: 48 is shorter than the hop"):
        HiFiGANConfig(generator="vocos", n_fft=48)
    with pytest.raises(ConfigError, match="model.n_fft: must be at least 2"):
        HiFiGANConfig(generator="vocos", n_fft=1)
    with pytest.raises(ConfigError, match="model.phase: 'griffin-lim' is a Vocos option"):
        HiFiGANConfig(phase="griffin-lim")
    HiFiGANConfig(generator="vocos", hop_length=48, n_fft=192)  # upsample_rates unused
