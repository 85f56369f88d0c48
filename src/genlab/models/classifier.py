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

``kind="video"`` reads clips ``(B, C, T, S, S)``: a 3-D CNN of ``conv -> GroupNorm ->
SiLU`` layers, three stages of a strided 3x3x3 convolution then a frame-wise 1x3x3 one
(widths ``w, 2w, 4w``; strides ``(1, 2, 2)``, ``2``, ``2`` over time, height, width),
a last 3x3x3 convolution of stride ``(1, 2, 2)`` (1/4 of the frames, 1/16 of the side
in all), then the mean and the maximum over every position, concatenated (``8w``; the
maximum answers "is this digit anywhere?", which the multi-label heads ask), then the
same feature layer and heads. Its features are what genlab's Frechet video distance
compares (``genlab.metrics.video``), a small local stand-in for the I3D network of
Unterthiner et al. 2018. The frame-wise convolutions add the spatial depth that telling
digits apart needs, at a fraction of a 3x3x3 convolution's cost.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.configs import ClassifierConfig
from genlab.nn.audio import MelSpectrogram
from genlab.nn.blocks import norm


class MeanMaxPool(nn.Module):
    """``(B, C, *S)`` -> ``(B, 2C)``: the mean and the maximum over every position."""

    def forward(self, x: Tensor) -> Tensor:
        dims = tuple(range(2, x.ndim))
        return torch.cat([x.mean(dims), x.amax(dims)], 1)


def video_body(c: int, w: int) -> nn.Sequential:
    """The 3-D CNN of ``kind="video"``: clips ``(B, c, T, S, S)`` -> ``(B, 8w)`` (see the
    module docstring)."""

    def layer(c_in, c_out, kernel, stride):
        pad = tuple(k // 2 for k in kernel)
        return [nn.Conv3d(c_in, c_out, kernel, stride, pad), norm(c_out, 8), nn.SiLU()]

    full, frame = (3, 3, 3), (1, 3, 3)
    layers = [
        *layer(c, w, full, (1, 2, 2)), *layer(w, w, frame, 1),  # (w, T, S/2, S/2)
        *layer(w, 2 * w, full, 2), *layer(2 * w, 2 * w, frame, 1),  # (2w, T/2, S/4, S/4)
        *layer(2 * w, 4 * w, full, 2), *layer(4 * w, 4 * w, frame, 1),  # (4w, T/4, S/8, S/8)
        *layer(4 * w, 4 * w, full, (1, 2, 2)),  # (4w, T/4, S/16, S/16)
    ]  # fmt: skip
    return nn.Sequential(*layers, MeanMaxPool())  # (B, 8w)


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
        elif cfg.kind == "video":
            self.body = video_body(c, w)
            flat = 8 * w
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
        waveforms ``(B, 1, L)`` for ``kind="mel"``, clips ``(B, C, T, S, S)`` for
        ``kind="video"``)."""
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
