"""Pseudo-labels without labels: k-means clusters of speech features, for
self-conditioned generation (Bao et al. 2022, "Why Are Conditional Generative Models
Better Than Unconditional Ones?"; Hu et al. 2023, "Self-Guided Diffusion Models").

A network conditioned on the cluster of each training clip, and sampled with the cluster
drawn from its training frequency, is a model of ``p(x)`` that never saw a label: the
clusters split the data into simpler parts, as classes do, and guidance can steer
towards one. The papers cluster self-supervised image features; for speech the classic
unsupervised representation is the MFCC sequence (Davis & Mermelstein 1980).

``speech_features``: MFCCs 1-12 (the DCT-II of the log-mel; c0, the loudness, is left
out) over the voiced part of each clip (the frames within ``TRIM_NATS`` of its loudest),
resampled to ``frames`` frames, so that a slow and a quick "seven" line up.
``kmeans_labels``: scikit-learn's k-means (k-means++, the best of ``n_init`` starts) on
the standardised features of the clips it is fitted on, then every clip's nearest centre.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.nn.audio import MelSpectrogram

N_MELS = 64
N_MFCC = 12  # c1..c12
TRIM_NATS = 6.0  # voiced frames: ln-energy within 6 nats (52 dB) of the clip's loudest


def mfcc(log_mel: Tensor, n: int = N_MFCC) -> Tensor:
    """``log_mel (B, M, T)`` -> ``(B, n, T)``: coefficients 1..n of the orthonormal DCT-II
    over the mel axis."""
    m = log_mel.shape[1]
    k = torch.arange(1, n + 1, dtype=log_mel.dtype)[:, None]
    f = torch.arange(m, dtype=log_mel.dtype)[None]
    dct = torch.cos(math.pi / m * (f + 0.5) * k) * math.sqrt(2 / m)  # (n, M)
    return torch.einsum("nm,bmt->bnt", dct, log_mel)


def speech_features(x: Tensor, sample_rate: int, frames: int = 16) -> Tensor:
    """Waveforms ``(B, 1, L)`` -> ``(B, N_MFCC * frames)``: the MFCCs of each clip's voiced
    part, linearly resampled to ``frames`` frames (32 ms windows, 8 ms hops)."""
    n_fft = 2 ** round(math.log2(0.032 * sample_rate))
    log_mel = MelSpectrogram(sample_rate, n_fft, n_fft // 4, N_MELS)(x)[:, 0]  # (B, M, T)
    coeffs = mfcc(log_mel)  # (B, N_MFCC, T)
    energy = log_mel.logsumexp(1)  # (B, T)
    out = []
    for c, e in zip(coeffs, energy):
        on = (e > e.max() - TRIM_NATS).nonzero().flatten()
        seg = c[:, int(on.min()) : int(on.max()) + 1]  # (N_MFCC, T_voiced)
        out.append(F.interpolate(seg[None], size=frames, mode="linear", align_corners=False)[0])
    return torch.stack(out).flatten(1)


def kmeans_labels(fit: Tensor, x: Tensor, k: int, seed: int = 0, n_init: int = 4) -> Tensor:
    """k-means with ``k`` clusters fitted on the rows of ``fit (N, D)``; returns the
    nearest centre of each row of ``x (M, D)`` as ``(M,)`` int64. Features are
    standardised by ``fit``'s mean and spread. Deterministic for a ``seed``.

    Raises:
        ValueError: fewer rows in ``fit`` than clusters.
    """
    from sklearn.cluster import KMeans

    if len(fit) < k:
        raise ValueError(f"k-means: {len(fit)} clips cannot make {k} clusters")
    mean, std = fit.mean(0), fit.std(0).clamp_min(1e-6)
    km = KMeans(k, n_init=n_init, random_state=seed).fit(((fit - mean) / std).double().numpy())
    lab = km.predict(((x - mean) / std).double().numpy())
    return torch.from_numpy(np.asarray(lab, dtype=np.int64))
