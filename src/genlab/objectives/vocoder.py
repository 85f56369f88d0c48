"""HiFi-GAN's losses (Kong et al. 2020, Sec. 2.4), as pure functions of the
sub-discriminators' outputs; every one is per sample ``(B,)``.

- Eq. 1: ``L_adv(D) = E[(D(x) - 1)^2 + D(G(s))^2]``, ``L_adv(G) = E[(D(G(s)) - 1)^2]``
  (LSGAN), summed over the sub-discriminators (Eq. 5-6);
- Eq. 2: ``L_mel = || phi(x) - phi(G(s)) ||_1`` on log-mel spectrograms;
- Eq. 3: ``L_fm = sum_i 1/N_i || D^i(x) - D^i(G(s)) ||_1`` over every layer's features;
- Eq. 5: ``L_G = L_adv(G) + 2 L_fm + 45 L_mel``.
"""

from __future__ import annotations

from torch import Tensor


def _mean(x: Tensor) -> Tensor:
    return x.flatten(1).mean(1)


def discriminator_loss(real: list[Tensor], fake: list[Tensor]) -> Tensor:
    """``sum_k E[(D_k(x) - 1)^2 + D_k(G(s))^2]`` per sample, from each member's logits."""
    return sum(_mean((r - 1) ** 2) + _mean(f**2) for r, f in zip(real, fake))


def generator_adv_loss(fake: list[Tensor]) -> Tensor:
    """``sum_k E[(D_k(G(s)) - 1)^2]`` per sample."""
    return sum(_mean((f - 1) ** 2) for f in fake)


def feature_matching_loss(real: list[list[Tensor]], fake: list[list[Tensor]]) -> Tensor:
    """``sum_k sum_i mean |D_k^i(x) - D_k^i(G(s))|`` per sample; the real features are
    targets (no gradient)."""
    return sum(_mean((r.detach() - f).abs()) for rs, fs in zip(real, fake) for r, f in zip(rs, fs))


def mel_l1(mel_real: Tensor, mel_fake: Tensor) -> Tensor:
    """Mean absolute difference of log-mel spectrograms, per sample."""
    return _mean((mel_real - mel_fake).abs())
