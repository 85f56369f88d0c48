"""The neural codec's losses (EnCodec, Défossez et al. 2022, Sec. 3.4), per sample ``(B,)``.

- reconstruction in time: ``mean |x - x_hat|``;
- reconstruction in frequency: the multi-scale log-mel L1, ``sum_i mean |log S_i(x) -
  log S_i(x_hat)|`` over mel spectrograms ``S_i`` of window ``n_i`` and hop ``n_i / 4``
  (DAC's form of EnCodec's frequency loss; Kumar et al. 2023, Sec. 3.4);
- adversarial: hinge, ``D: relu(1 - D(x)) + relu(1 + D(x_hat))``, ``G: relu(1 -
  D(x_hat))`` (EnCodec Eq. 2), averaged over the sub-discriminators;
- feature matching, relative: ``mean_k mean_l |D_k^l(x) - D_k^l(x_hat)| /
  mean |D_k^l(x)|`` (EnCodec Eq. 3).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from genlab.nn.audio import MelSpectrogram


def _mean(x: Tensor) -> Tensor:
    return x.flatten(1).mean(1)


class MultiScaleMelLoss(nn.Module):
    """``(x, x_hat) (B, 1, L) -> (B,)``: the summed log-mel L1 over windows ``sizes``, each
    with ``min(64, n / 4)`` mel bands."""

    def __init__(self, sample_rate: int, sizes: tuple[int, ...]):
        super().__init__()
        self.mels = nn.ModuleList(
            MelSpectrogram(sample_rate, n, n // 4, min(64, n // 4)) for n in sizes
        )

    def forward(self, x: Tensor, x_hat: Tensor) -> Tensor:
        return sum(_mean((m(x) - m(x_hat)).abs()) for m in self.mels)


def time_l1(x: Tensor, x_hat: Tensor) -> Tensor:
    return _mean((x - x_hat).abs())


def discriminator_hinge(real: list[Tensor], fake: list[Tensor]) -> Tensor:
    """``mean_k [E relu(1 - D_k(x)) + E relu(1 + D_k(x_hat))]`` per sample."""
    terms = [_mean(F.relu(1 - r)) + _mean(F.relu(1 + f)) for r, f in zip(real, fake)]
    return sum(terms) / len(terms)


def generator_hinge(fake: list[Tensor]) -> Tensor:
    """``mean_k E relu(1 - D_k(x_hat))`` per sample."""
    return sum(_mean(F.relu(1 - f)) for f in fake) / len(fake)


def relative_feature_matching(real: list[list[Tensor]], fake: list[list[Tensor]]) -> Tensor:
    """``mean_{k,l} mean |D_k^l(x) - D_k^l(x_hat)| / mean |D_k^l(x)|`` per sample; the
    real features are targets (no gradient)."""
    terms = [
        _mean((r.detach() - f).abs()) / _mean(r.detach().abs()).clamp_min(1e-8)
        for rs, fs in zip(real, fake)
        for r, f in zip(rs, fs)
    ]
    return sum(terms) / len(terms)
