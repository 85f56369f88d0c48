"""genlab.metrics.audio on closed forms: mIS, AM score, NDB, cell coverage, MCD, MR-STFT."""

import math

import numpy as np
import pytest
import torch

from genlab.metrics.audio import (
    am_score,
    cell_coverage,
    mel_cepstral_distortion,
    modified_inception_score,
    multi_resolution_stft,
    ndb,
)
from genlab.metrics.scores import inception_score


def one_hot_logits(labels, k, sharp=50.0):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), k).double() * sharp


def test_modified_is_closed_forms():
    k = 4
    assert modified_inception_score(one_hot_logits([2] * 8, k)) == pytest.approx(1.0)
    # two samples, p = (1/4, 3/4) and (3/4, 1/4): both ordered pairs have the same KL
    z = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    kl = 0.25 * math.log(1 / 3) + 0.75 * math.log(3)
    assert modified_inception_score(z) == pytest.approx(math.exp(kl))
    balanced = one_hot_logits(list(range(k)) * 25, k, sharp=8.0)
    assert inception_score(balanced, splits=1)[0] == pytest.approx(k, rel=0.01)


def test_modified_is_within_class_falls_when_a_class_collapses():
    g = torch.Generator().manual_seed(0)
    k, per = 10, 30
    labels = torch.arange(k).repeat_interleave(per)
    diverse = one_hot_logits(labels, k, sharp=6.0) + torch.randn(k * per, k, generator=g)
    collapsed = diverse.clone()
    for c in range(k):  # every sample of a class gets the class's first sample's logits
        rows = (labels == c).nonzero().squeeze(1)
        collapsed[rows] = diverse[rows[0]]
    within = modified_inception_score(collapsed, within_class=True)
    assert within == pytest.approx(1.0)
    assert modified_inception_score(diverse, within_class=True) > 1.05
    # the IS cannot tell: both are confident and balanced
    a, b = inception_score(diverse, 1)[0], inception_score(collapsed, 1)[0]
    assert abs(a - b) < 0.5


def test_am_score_closed_forms():
    k = 5
    real = one_hot_logits(list(range(k)) * 20, k)
    assert am_score(one_hot_logits(list(range(k)) * 4, k), real) == pytest.approx(0, abs=1e-9)
    # uniform predictions: entropy ln K, marginal matches -> ln K
    assert am_score(torch.zeros(10, k), real) == pytest.approx(math.log(k))
    # all samples confidently class 0: KL(uniform || (1, 0, ...)) is large
    assert am_score(one_hot_logits([0] * 10, k), real) > 5


def test_ndb_same_and_shifted():
    g = np.random.default_rng(0)
    real = g.normal(size=(2000, 4))
    same = ndb(real, g.normal(size=(2000, 4)), k=20)
    shifted = ndb(real, g.normal(size=(2000, 4)) + 1.0, k=20)
    assert same["ndb"] <= 4 and shifted["ndb"] >= 10
    assert shifted["ndb_jsd"] > 10 * same["ndb_jsd"]
    with pytest.raises(ValueError, match="10 real samples for 20 bins"):
        ndb(real[:10], real, k=20)


def test_cell_coverage():
    digit = torch.tensor([0, 1, 1, 9])
    speaker = torch.tensor([0, 0, 0, 5])
    out = cell_coverage(digit, speaker, sizes=(10, 6))
    assert out == {"cells_covered": 3, "cells_total": 60, "cell_coverage": 0.05}
    full = torch.cartesian_prod(torch.arange(10), torch.arange(6))
    assert cell_coverage(full[:, 0], full[:, 1], sizes=(10, 6))["cell_coverage"] == 1.0


def tone(freq, n=4096, sr=8000, amp=0.5):
    t = torch.arange(n) / sr
    return (amp * torch.sin(2 * math.pi * freq * t))[None]


def test_mcd_zero_for_identity_and_grows_with_difference():
    noise = 0.01 * torch.randn(1, 4096, generator=torch.Generator().manual_seed(0))
    x = tone(300) + 0.3 * tone(900) + noise  # energy in every mel band: none at the floor
    assert float(mel_cepstral_distortion(x, x, 8000)[0]) == pytest.approx(0, abs=1e-3)
    # a gain change only moves c_0, which MCD leaves out
    assert float(mel_cepstral_distortion(0.5 * x, x, 8000)[0]) < 0.05
    near = mel_cepstral_distortion(tone(300) + 0.3 * tone(950) + noise, x, 8000)
    far = mel_cepstral_distortion(tone(1500) + 0.3 * tone(2500) + noise, x, 8000)
    assert 0 < float(near[0]) < float(far[0])


def test_multi_resolution_stft():
    x = tone(440)
    same = multi_resolution_stft(x, x)
    assert float(same["mrstft"][0]) == pytest.approx(0, abs=1e-6)
    g = torch.Generator().manual_seed(0)
    noisy = multi_resolution_stft(x + 0.05 * torch.randn(x.shape, generator=g), x)
    noisier = multi_resolution_stft(x + 0.2 * torch.randn(x.shape, generator=g), x)
    for key in ("spectral_convergence", "log_magnitude", "mrstft"):
        assert 0 < float(noisy[key][0]) < float(noisier[key][0])
