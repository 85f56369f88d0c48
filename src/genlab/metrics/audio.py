"""Audio metrics: the scores of sample quality and diversity under a classifier (modified
Inception score, AM score, NDB, coverage of label cells) and the distances of a
resynthesis from its original (mel-cepstral distortion, multi-resolution STFT).

Logits are ``(N, K)``; features ``(N, D)``; waveforms ``(N, 1, L)`` or ``(N, L)`` in
[-1, 1]. The Inception score itself is :func:`genlab.metrics.scores.inception_score`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from genlab.nn.audio import MelSpectrogram, stft


def modified_inception_score(logits: Tensor, within_class: bool = False) -> float:
    """The modified Inception score ``exp(E_{i != j} KL(p(y|x_i) || p(y|x_j)))`` over
    ordered pairs of different samples (Gurumurthy et al. 2017, DeLiGAN, Sec. 5.1).

    ``within_class=False`` (default) takes every pair, as DiffWave and WaveGAN report it
    (real SC09: ~235 with 10 classes): it grows with confident predictions spread over
    the classes and, unlike the IS, with how much samples of one class differ in their
    predictions. ``within_class=True`` is DeLiGAN's released code: pairs within each
    predicted class only, averaged over classes; 1 when every sample of a class gets the
    same prediction (a collapsed class), larger the more they differ. A class with one
    sample counts as 1."""
    logp = torch.log_softmax(logits.double(), 1)  # (N, K)
    if within_class:
        pred = logp.argmax(1)
        scores = [modified_inception_score(logits[pred == c]) if int((pred == c).sum()) > 1
                  else 1.0 for c in pred.unique()]  # fmt: skip
        return float(np.mean(scores))
    n = len(logp)
    if n < 2:
        raise ValueError("modified_inception_score: needs at least 2 samples")
    p = logp.exp()
    # KL(p_i || p_j) = sum_k p_ik log p_ik - sum_k p_ik log p_jk; the diagonal is 0
    kl = (p * logp).sum(1, keepdim=True) - p @ logp.T  # (N, N)
    return float((kl.sum() / (n * (n - 1))).exp())


def am_score(logits: Tensor, reference_logits: Tensor) -> float:
    """Zhou et al. 2018 (Activation Maximization GAN), Eq. 12: ``KL(p_ref(y) ||
    p_gen(y)) + E_x H(p(y|x))``, the class marginal of the reference (real) data against
    that of the samples, plus the samples' mean entropy. Lower is better; 0 for
    confident samples with the reference's class balance."""
    p = torch.softmax(logits.double(), 1)
    ref = torch.softmax(reference_logits.double(), 1).mean(0)
    gen = p.mean(0)
    kl = float((ref * (ref.clamp(min=1e-12).log() - gen.clamp(min=1e-12).log())).sum())
    entropy = float(-(p * p.clamp(min=1e-12).log()).sum(1).mean())
    return kl + entropy


def ndb(
    real_features, fake_features, k: int = 50, alpha: float = 0.05, seed: int = 0
) -> dict[str, float]:
    """Number of statistically different bins (Richardson & Weiss 2018): k-means with
    ``k`` clusters on the real features, each sample to its nearest centre, and a
    two-proportion z-test per bin at level ``alpha``. Returns ``ndb`` (the count),
    ``ndb_over_k`` and the Jensen-Shannon divergence of the two bin histograms (nats).

    Raises ``ValueError`` when there are fewer real samples than bins."""
    from scipy.stats import norm
    from sklearn.cluster import KMeans

    real, fake = np.asarray(real_features, np.float64), np.asarray(fake_features, np.float64)
    if len(real) < k:
        raise ValueError(f"ndb: {len(real)} real samples for {k} bins")
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(real)
    p = np.bincount(km.labels_, minlength=k) / len(real)
    q = np.bincount(km.predict(fake), minlength=k) / len(fake)
    pooled = (p * len(real) + q * len(fake)) / (len(real) + len(fake))
    se = np.sqrt(pooled * (1 - pooled) * (1 / len(real) + 1 / len(fake)))
    z = np.abs(p - q) / np.maximum(se, 1e-12)
    different = int((z > norm.ppf(1 - alpha / 2)).sum())
    m = (p + q) / 2

    def kl(a, b):
        nz = a > 0
        return float((a[nz] * np.log(a[nz] / b[nz])).sum())

    return {"ndb": different, "ndb_over_k": different / k, "ndb_jsd": (kl(p, m) + kl(q, m)) / 2}


def cell_coverage(*labels: Tensor, sizes: tuple[int, ...]) -> dict[str, float]:
    """How many cells of the label grid (e.g. 10 digits x 6 speakers) the samples'
    predicted labels reach: ``cells_covered`` (count), ``cells_total`` and
    ``cell_coverage`` (fraction). ``labels`` are ``(N,)`` int tensors, one per axis."""
    if len(labels) != len(sizes):
        raise ValueError(f"cell_coverage: {len(labels)} label axes but {len(sizes)} sizes")
    index = torch.zeros_like(labels[0])
    for y, k in zip(labels, sizes):
        index = index * k + y
    total = math.prod(sizes)
    covered = int(torch.unique(index).numel())
    return {"cells_covered": covered, "cells_total": total, "cell_coverage": covered / total}


def _flat(x: Tensor) -> Tensor:
    return x.reshape(-1, x.shape[-1]).float()


def mel_cepstra(
    x: Tensor, sample_rate: int, n_fft: int, hop_length: int, n_mels: int = 40, n_ceps: int = 13
) -> Tensor:
    """Mel-frequency cepstra ``(N, n_ceps, T)`` of waveforms ``(N, L)``: the orthonormal
    DCT-II of the natural log of the magnitude mel spectrogram (MFCC-style; Davis &
    Mermelstein 1980), a cepstrum of the log amplitude as mel-cepstral distortion
    assumes."""
    mel = MelSpectrogram(sample_rate, n_fft, hop_length, n_mels, floor=1e-10).to(x.device)
    logmel = mel(_flat(x))  # (N, n_mels, T): natural log of the magnitude mel
    k = torch.arange(n_mels, dtype=torch.float64)
    basis = torch.cos(math.pi / n_mels * (k[None] + 0.5) * k[:n_ceps, None])  # (n_ceps, M)
    basis[0] *= 1 / math.sqrt(2)
    basis *= math.sqrt(2 / n_mels)
    return torch.einsum("cm,nmt->nct", basis.float().to(x.device), logmel)


def mel_cepstral_distortion(
    x: Tensor, y: Tensor, sample_rate: int, n_fft: int = 256, hop_length: int = 64,
    n_mels: int = 40, floor_db: float = 60.0,
) -> Tensor:  # fmt: skip
    """Mel-cepstral distortion in dB per clip ``(N,)`` between time-aligned waveforms
    ``x`` and ``y`` (a resynthesis and its original): ``(10 / ln 10) sqrt(2 sum_{d>=1}
    (c_d - c'_d)^2)`` averaged over frames (Kubichek 1993), on cepstra 1-12 of the log
    amplitude (the energy term c_0 left out), over the frames of the original whose mean
    log-mel level is within ``floor_db`` of its loudest frame (silence would dominate
    otherwise). The cepstra are a DCT of a mel filterbank, not SPTK's warped
    mel-cepstrum, so compare figures within genlab, not with published MCDs."""
    cx = mel_cepstra(x, sample_rate, n_fft, hop_length, n_mels)
    cy = mel_cepstra(y, sample_rate, n_fft, hop_length, n_mels)
    db = 10 / math.log(10)  # Kubichek's factor: dB per neper
    per_frame = db * torch.sqrt(2 * ((cx[:, 1:] - cy[:, 1:]) ** 2).sum(1))  # (N, T)
    level = 2 * db * cy[:, 0] / math.sqrt(n_mels)  # (N, T): mean log-mel level in dB
    loud = level > level.amax(1, keepdim=True) - floor_db
    return (per_frame * loud).sum(1) / loud.sum(1).clamp(min=1)


def multi_resolution_stft(
    x: Tensor,
    y: Tensor,
    resolutions: tuple[tuple[int, int], ...] = ((128, 32), (256, 64), (512, 128)),
) -> dict[str, Tensor]:
    """Multi-resolution STFT distance (Yamamoto et al. 2020, Parallel WaveGAN, Eq. 4-6)
    of waveforms ``x`` from ``y``, per clip ``(N,)``, averaged over the ``(n_fft, hop)``
    resolutions (Hann windows of ``n_fft``; the defaults span 16 to 64 ms at 8 kHz,
    as Parallel WaveGAN's three span 10 to 50 ms at 24 kHz):
    ``spectral_convergence`` ``|| |Y| - |X| ||_F / || |Y| ||_F`` and ``log_magnitude``
    ``mean | log|Y| - log|X| |``; ``mrstft`` is their sum."""
    x, y = _flat(x), _flat(y)
    sc, lm = 0.0, 0.0
    for n_fft, hop in resolutions:
        mx = stft(x, n_fft, hop).abs().clamp(min=1e-7)
        my = stft(y, n_fft, hop).abs().clamp(min=1e-7)
        sc = sc + (my - mx).flatten(1).norm(dim=1) / my.flatten(1).norm(dim=1)
        lm = lm + (my.log() - mx.log()).abs().flatten(1).mean(1)
    k = len(resolutions)
    return {"spectral_convergence": sc / k, "log_magnitude": lm / k, "mrstft": (sc + lm) / k}
