"""Domain classifiers: the feature networks genlab trains itself for its metrics.

A small CNN (or MLP) maps an image ``(B, C, S, S)`` in [-1, 1] to the logits of one or
more heads (e.g. MNIST digit; or shape, colour, size and position for ``shapes``).
``forward(x) -> (B, sum(heads))`` concatenated logits; ``features(x) -> (B, features)``
is the penultimate layer, used for FID/KID/precision-recall like Inception's pool3;
``split(logits)`` gives ``{head name: (B, K_head)}``.

CNN: ``conv3x3(C->w) -> conv3x3 stride 2 (w->w) -> conv3x3(w->2w) -> conv3x3 stride 2
(2w->2w) -> flatten -> linear(features) -> heads``, ReLU after every layer but the heads.

``kind="mel"`` reads waveforms ``(B, 1, L)``: their log-mel spectrogram ``(B, 1, n_mels,
T)`` (HiFi-GAN's, :class:`~genlab.nn.audio.MelSpectrogram`), standardised per clip (zero
mean, unit variance: loudness does not matter), then the CNN above with a third
``conv3x3(2w->4w), conv3x3 stride 2 (4w->4w)`` pair, average-pooled to a 4x4 grid of
frequency x time before the flatten (as the log-mel CNNs of audio classification).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.configs import ClassifierConfig
from genlab.nn.audio import MelSpectrogram


class Classifier(nn.Module):
    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg = cfg
        c, s, w = cfg.in_channels, cfg.image_size, cfg.width
        self.mel = None
        if cfg.kind == "mel":
            self.mel = MelSpectrogram(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels)
            self.body = nn.Sequential(
                nn.Conv2d(1, w, 3, padding=1), nn.ReLU(),
                nn.Conv2d(w, w, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
                nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(),
                nn.Conv2d(4 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU(),
                nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            )  # fmt: skip
            flat = 4 * w * 16
        elif cfg.kind == "cnn":
            self.body = nn.Sequential(
                nn.Conv2d(c, w, 3, padding=1), nn.ReLU(),
                nn.Conv2d(w, w, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
                nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
                nn.Flatten(),
            )  # fmt: skip
            flat = 2 * w * math.ceil(math.ceil(s / 2) / 2) ** 2  # after two stride-2 convs
        else:
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(c * s * s, 4 * w), nn.ReLU())
            flat = 4 * w
        self.proj = nn.Linear(flat, cfg.features)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.features, sum(cfg.heads))

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features ``(B, features)`` of images ``(B, C, S, S)`` (or of
        waveforms ``(B, 1, L)`` for ``kind="mel"``)."""
        if self.mel is not None:
            m = self.mel(x)  # (B, 1, n_mels, T)
            mu, sd = m.mean((2, 3), keepdim=True), m.std((2, 3), keepdim=True)
            x = (m - mu) / (sd + 1e-5)
        return F.relu(self.proj(self.body(x)))

    def forward(self, x: Tensor) -> Tensor:
        """Concatenated logits ``(B, sum(heads))``."""
        return self.head(self.drop(self.features(x)))

    def split(self, logits: Tensor) -> dict[str, Tensor]:
        """``{head name: (B, K)}`` from the concatenated logits."""
        return dict(zip(self.cfg.head_names, logits.split(list(self.cfg.heads), dim=1)))
