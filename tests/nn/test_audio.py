"""genlab.nn.audio: STFT round trip, mel filterbanks against librosa, Griffin-Lim, mu-law."""

import math

import pytest
import torch

from genlab.nn.audio import (
    MelSpectrogram,
    griffin_lim,
    hz_to_mel,
    istft,
    mel_filterbank,
    mel_to_hz,
    mu_law_decode,
    mu_law_encode,
    spectral_convergence,
    stft,
)


def chirp(n=4096, sr=8000, seed=0):
    t = torch.arange(n, dtype=torch.float64) / sr
    g = torch.Generator().manual_seed(seed)
    noise = 0.01 * torch.randn(n, generator=g, dtype=torch.float64)
    return (0.5 * torch.sin(2 * math.pi * (200 * t + 800 * t**2)) + noise).float()


def test_stft_istft_round_trip():
    x = torch.randn(2, 1, 3000, generator=torch.Generator().manual_seed(0))
    spec = stft(x, 256, 64)
    assert spec.shape == (2, 1, 129, 1 + 3000 // 64)
    y = istft(spec, 256, 64, length=3000)
    assert torch.allclose(x, y, atol=1e-5)


def test_stft_frame_centred_on_hop():
    # an impulse at sample 640 = frame 10 * hop 64 peaks in frame 10
    x = torch.zeros(4096)
    x[640] = 1.0
    energy = stft(x, 256, 64).abs().sum(0)
    assert int(energy.argmax()) == 10


@pytest.mark.parametrize("scale", ["slaney", "htk"])
def test_mel_scale_round_trip(scale):
    f = torch.tensor([0.0, 100.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0])
    assert torch.allclose(mel_to_hz(hz_to_mel(f, scale), scale), f.double(), rtol=1e-9)


def test_mel_closed_forms():
    # HTK: 1000 Hz is 1000 mels by construction (to 4 digits); Slaney: 1 kHz is 15 mels
    assert abs(float(hz_to_mel(torch.tensor(1000.0), "htk")) - 999.99) < 0.01
    assert abs(float(hz_to_mel(torch.tensor(1000.0), "slaney")) - 15.0) < 1e-12
    assert abs(float(hz_to_mel(torch.tensor(6400.0), "slaney")) - 42.0) < 1e-9


def test_filterbank_shape_and_slaney_area():
    fb = mel_filterbank(16000, 1024, 40, scale="htk", norm=None)
    assert fb.shape == (40, 513)
    peaks = fb.max(1).values  # 1 at the centre frequency, sampled on the bin grid
    assert float(peaks.max()) <= 1.0 and float(peaks.min()) > 0.8
    # Slaney normalisation: each triangle has unit area in Hz (up to bin sampling)
    fb = mel_filterbank(16000, 4096, 40, f_min=100.0)
    area = fb.sum(1) * (16000 / 4096)
    assert torch.allclose(area, torch.ones(40), rtol=0.02)


@pytest.mark.parametrize(
    "sr,n_fft,n_mels,fmin,fmax,htk,norm",
    [
        (8000, 256, 64, 0.0, None, False, "slaney"),
        (22050, 1024, 80, 0.0, 8000.0, False, "slaney"),
        (16000, 512, 40, 20.0, None, True, None),
        (8000, 512, 32, 50.0, 3800.0, True, "slaney"),
    ],
)
def test_filterbank_matches_librosa(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    librosa = pytest.importorskip("librosa", reason="librosa (the dev extra) is not installed")
    ref = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm
    )
    ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax, "htk" if htk else "slaney", norm)
    ref = torch.from_numpy(ref).float()
    assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_mel_spectrogram_matches_librosa():
    librosa = pytest.importorskip("librosa", reason="librosa (the dev extra) is not installed")
    x = chirp()
    ref = librosa.feature.melspectrogram(
        y=x.numpy(), sr=8000, n_fft=256, hop_length=64, n_mels=64, power=1.0,
        center=True, pad_mode="constant",
    )  # fmt: skip
    ours = MelSpectrogram(8000, 256, 64, 64, log=False)(x[None, None])[0, 0]
    ref = torch.from_numpy(ref).float()
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-4 * float(ref.max()))


def test_log_mel_floor_and_shape():
    mel = MelSpectrogram(8000, 256, 64, 64)
    out = mel(torch.zeros(3, 1, 1000))
    assert out.shape == (3, 1, 64, 1 + 1000 // 64)
    assert torch.allclose(out, torch.full_like(out, math.log(1e-5)))


def test_mel_spectrogram_is_differentiable():
    x = chirp()[None, None].requires_grad_()
    MelSpectrogram(8000, 256, 64, 32)(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_griffin_lim_reduces_spectral_distance():
    x = chirp()
    mag = stft(x, 256, 64).abs()
    errs = []
    for n_iter in (1, 8, 64):
        g = torch.Generator().manual_seed(0)
        y = griffin_lim(mag, 256, 64, n_iter=n_iter, length=len(x), generator=g)
        errs.append(float(spectral_convergence(mag, y, 256, hop_length=64)))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.25, errs


def test_griffin_lim_rejects_bad_arguments():
    with pytest.raises(ValueError, match="momentum"):
        griffin_lim(torch.ones(129, 10), 256, 64, momentum=1.0)


def test_mu_law_round_trip_and_codes():
    x = torch.linspace(-1, 1, 10001)
    q = mu_law_encode(x)
    assert q.dtype == torch.int64 and int(q.min()) == 0 and int(q.max()) == 255
    assert int(mu_law_encode(torch.tensor(0.0))) == 128  # (0 + 1) / 2 * 255 rounds to 128
    # quantisation error is smallest near 0 (companding): |x| < 0.01 vs |x| > 0.9
    err = (mu_law_decode(q) - x).abs()
    assert float(err[x.abs() < 0.01].max()) < 5e-4  # one code is ~1.7e-4 wide at 0
    assert float(err.max()) < 0.025  # half a code step at |x| = 1: ~0.022
    # decode is the exact inverse of the companding curve at the code points
    codes = torch.arange(256)
    assert torch.equal(mu_law_encode(mu_law_decode(codes)), codes)


def test_bad_mel_arguments():
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(8000, 256, 64, f_max=5000.0)
    with pytest.raises(ValueError, match="mel scale"):
        hz_to_mel(torch.tensor(1.0), "bark")


def test_too_many_mel_bands_for_the_stft_is_a_config_error():
    """At n_fft 256 and 8 kHz the bins are 31.25 Hz apart; 200 bands put the lowest ones
    (about 20 Hz apart) between bins, where they would always read 0 (librosa warns)."""
    from genlab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"n_mels: \d+ of 200 mel bands fall between"):
        mel_filterbank(8000, 256, 200)
    with pytest.raises(ConfigError, match="n_mels"):
        MelSpectrogram(8000, 64, 16, 64)
    assert bool((mel_filterbank(8000, 256, 128).sum(1) > 0).all())  # 128 still fit


def test_griffin_lim_from_the_true_phase_keeps_the_signal():
    from genlab.nn.audio import griffin_lim_phase

    t = torch.arange(2048) / 8000
    x = (0.4 * torch.sin(2 * math.pi * 440 * t) * torch.hann_window(2048))[None]  # (1, L)
    s = stft(x, 256, 64)  # (1, F, T)
    y = griffin_lim(s.abs(), 256, 64, n_iter=4, length=2048, phase=s.angle())
    assert torch.allclose(y, x, atol=1e-4)  # a consistent start is a fixed point
    # the phase helper: same phase for a row whatever the batch around it
    two = torch.stack([s.abs()[0], 2 * s.abs()[0]])  # (2, F, T)
    assert torch.allclose(
        griffin_lim_phase(two, 256, 64, 3)[1:], griffin_lim_phase(two[1:], 256, 64, 3)
    )
