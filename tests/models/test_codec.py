"""The neural codec (genlab.models.codec) and its losses (genlab.objectives.codec):
shapes for any strides, residual VQ sums, quantizer dropout, token round trips, the
bitrate, the discriminator, and the losses' closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.errors import ConfigError
from genlab.models.codec import Codec, MSSTFTDiscriminator
from genlab.models.configs import CodecConfig
from genlab.objectives import codec as C

TINY = dict(length=1024, channels=4, code_dim=8, codebooks=3, codebook_size=16, d_channels=4)


@pytest.mark.parametrize("decoder", ["istft", "transposed"])
@pytest.mark.parametrize("strides", [(2, 4), (3, 5), (4,)])
def test_shapes_for_even_and_odd_strides(strides, decoder):
    hop = 1
    for s in strides:
        hop *= s
    cfg = CodecConfig(**{**TINY, "length": 64 * hop}, strides=strides, decoder=decoder,
                      n_fft=4 * hop, decoder_channels=8)  # fmt: skip
    torch.manual_seed(0)
    m = Codec(cfg)
    x = torch.rand(2, 1, cfg.length) * 2 - 1
    y, stats = m(x)
    assert y.shape == x.shape and stats["commit"].shape == (2,)
    tokens = m.encode(x)
    assert tokens.shape == (2, 3, 64) and tokens.dtype == torch.int64
    assert m.decode(tokens[:, :1]).shape == x.shape


@pytest.mark.parametrize("encoder", ["waveform", "mel"])
def test_mel_decoder_regresses_the_log_mel_and_decodes_waveforms(encoder):
    cfg = CodecConfig(**{**TINY, "length": 2048}, strides=(2, 4), encoder=encoder,
                      decoder="mel", n_fft=64, n_mels=16, decoder_channels=8)  # fmt: skip
    torch.manual_seed(0)
    m = Codec(cfg)
    t = torch.arange(2048) / 8000
    x = 0.5 * torch.sin(2 * math.pi * 440 * t) + 0.3 * torch.sin(2 * math.pi * 1250 * t)
    x = x.expand(2, 1, -1)
    log_mel, stats = m(x)  # what training compares with the clip's own log-mel
    target = m.decoder.log_mel(x)
    assert log_mel.shape == target.shape == (2, 16, 256) and stats["commit"].shape == (2,)
    tokens = m.encode(x)
    assert tokens.shape == (2, 3, 256)
    y = m.decode(tokens[:, :2])
    assert y.shape == x.shape and y.abs().max() <= 1
    # Griffin-Lim inverts a log-mel: the round trip lands near it, noise of the same
    # power does not
    back = m.decoder.waveform(target[:1])
    err = (m.decoder.log_mel(back) - target[:1]).abs().mean()
    noise = (m.decoder.log_mel(torch.randn_like(x[:1]) * x.std()) - target[:1]).abs().mean()
    assert err < 0.6 and noise > 5 * err, (err, noise)
    # a clip's waveform does not depend on its batch (every row starts from one phase)
    pair = torch.stack([target[1] * 0.5, target[0]])
    torch.testing.assert_close(m.decoder.waveform(pair)[1], back[0])


def test_bitrate_closed_form():
    cfg = CodecConfig()  # 8 kHz, hop 64, 4 codebooks of 256 codes
    assert cfg.hop_length() == 64 and cfg.frames() == 128
    assert cfg.bitrate() == 8000 / 64 * 4 * 8 == 4000
    assert cfg.bitrate(1) == 1000


def test_residual_vq_sums_codes_and_dropout_keeps_the_first_n():
    torch.manual_seed(0)
    m = Codec(CodecConfig(**TINY)).eval()
    z = torch.randn(2, 8, 10)
    z_q, tokens = m.quantize(z)
    parts = sum(m.books[k].lookup(tokens[:, k]) for k in range(3)).transpose(1, 2)
    torch.testing.assert_close(z_q, parts)
    # each codebook quantizes what the previous ones left: the error does not grow
    errs = [(z - sum(m.books[j].lookup(tokens[:, j]) for j in range(k + 1)).transpose(1, 2))
            .pow(2).sum() for k in range(3)]  # fmt: skip
    assert errs[0] >= errs[1] >= errs[2]
    z_n, tok_n = m.quantize(z, torch.tensor([1, 3]))
    torch.testing.assert_close(z_n[0], m.books[0].lookup(tokens[0, 0]).T)
    torch.testing.assert_close(z_n[1], z_q[1])
    # decode(tokens) is the decoder of the quantized latent
    torch.testing.assert_close(m.decode(tokens), m.decoder(z_q))


def test_usage_counts_only_the_clips_that_used_a_codebook():
    torch.manual_seed(0)
    m = Codec(CodecConfig(**TINY)).eval()
    x = torch.rand(2, 1, 1024) * 2 - 1
    _, stats = m(x, torch.tensor([1, 1]))
    assert "usage0" in stats and "usage1" not in stats and "usage2" not in stats
    _, full = m(x[:1])
    _, half = m(x, torch.tensor([3, 1]))  # clip 1's dropped codebooks are not counted
    torch.testing.assert_close(half["perplexity2"], full["perplexity2"])


def test_codebooks_learn_only_when_asked():
    torch.manual_seed(0)
    m = Codec(CodecConfig(**TINY)).train()
    x = torch.rand(2, 1, 1024) * 2 - 1
    before = m.books[0].codes.clone()
    m(x, update=False)
    torch.testing.assert_close(m.books[0].codes, before)
    m(x)
    assert not torch.equal(m.books[0].codes, before)


def test_decode_rejects_bad_tokens():
    m = Codec(CodecConfig(**TINY))
    with pytest.raises(ValueError, match="1..3"):
        m.decode(torch.zeros(1, 4, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        m.decode(torch.full((1, 2, 8), 16))


def test_config_errors():
    with pytest.raises(ConfigError, match="model.length"):
        CodecConfig(length=1000, strides=(2, 4, 8))
    with pytest.raises(ConfigError, match="model.quantizer_dropout"):
        CodecConfig(quantizer_dropout=1.5)
    with pytest.raises(ConfigError, match="model.strides"):
        CodecConfig(strides=())
    with pytest.raises(ConfigError, match="model.strides"):
        CodecConfig(strides=(2, 1, 4))
    with pytest.raises(ConfigError, match="model.ema_decay.*EMA"):
        CodecConfig(ema_decay=0)
    with pytest.raises(ConfigError, match="model.n_fft"):
        CodecConfig(strides=(2, 4, 8), n_fft=96)
    with pytest.raises(ConfigError, match="model.decoder"):
        CodecConfig(decoder="wavenet")
    with pytest.raises(ConfigError, match="model.encoder"):
        CodecConfig(encoder="spectrogram")
    with pytest.raises(ConfigError, match="model.n_fft"):  # the mel encoder's window too
        CodecConfig(strides=(2, 4, 8), encoder="mel", decoder="transposed", n_fft=96, n_mels=16)
    with pytest.raises(ConfigError, match="model.n_mels: 64 bands.*33 frequency bins"):
        CodecConfig(strides=(2, 4, 8), decoder="mel", n_fft=64 * 1, n_mels=64)
    with pytest.raises(ConfigError, match="model.n_fft: 16384 is longer than a clip"):
        CodecConfig(n_fft=16384)


def test_ms_stft_discriminator_outputs():
    d = MSSTFTDiscriminator(CodecConfig(**TINY, stft_sizes=(64, 128)))
    logits, feats = d(torch.randn(2, 1, 1024))
    assert len(logits) == 2 and len(feats) == 2 and all(len(f) == 5 for f in feats)
    # (B, 1, frames, bins): frames 1 + L / hop, bins halved by three strided layers
    assert logits[0].shape == (2, 1, 1 + 1024 // 16, 5)


def test_losses_closed_forms():
    x = torch.rand(3, 1, 1024) * 2 - 1
    mel = C.MultiScaleMelLoss(8000, (64, 256))
    assert torch.equal(mel(x, x), torch.zeros(3))
    assert (mel(x, 0.5 * x) > 0).all()
    torch.testing.assert_close(C.time_l1(x, x + 0.25), torch.full((3,), 0.25))
    r, f = [torch.full((3, 1, 4, 4), 2.0)], [torch.full((3, 1, 4, 4), -0.5)]
    # hinge: relu(1 - 2) + relu(1 - 0.5) for D, relu(1 + 0.5) for G
    torch.testing.assert_close(C.discriminator_hinge(r, f), torch.full((3,), 0.5))
    torch.testing.assert_close(C.generator_hinge(f), torch.full((3,), 1.5))
    feats = [[torch.full((3, 2, 5), 4.0), torch.full((3, 2, 5), -2.0)]]
    assert torch.equal(C.relative_feature_matching(feats, feats), torch.zeros(3))
    zeros = [[torch.zeros(3, 2, 5), torch.zeros(3, 2, 5)]]
    torch.testing.assert_close(C.relative_feature_matching(feats, zeros), torch.ones(3))
