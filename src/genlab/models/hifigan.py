"""HiFi-GAN (Kong et al. 2020): a GAN vocoder from log-mel spectrograms to waveforms.

**Generator** (Sec. 2.1, Fig. 1): a kernel-7 input convolution from ``n_mels`` to
``channels``; for each upsampling rate ``r``: LeakyReLU(0.1), a transposed convolution
(kernel ``2r``, stride ``r``) halving the width, then the multi-receptive-field fusion
(MRF): the mean of residual blocks of kernels ``resblock_kernels``, each a chain of
``x + conv(lrelu(conv_dilated(lrelu(x))))`` over ``resblock_dilations`` (ResBlock1).
A final LeakyReLU, kernel-7 convolution to one channel and tanh. Mel frames ``T`` give
``T * hop_length`` samples.

**Discriminators** (Sec. 2.2-2.3): the multi-period discriminator (MPD) reshapes the
waveform ``(B, 1, L)`` to ``(B, 1, L / p, p)`` for each period ``p`` and applies 2-D
convolutions of kernel (5, 1) along time, so each sees every ``p``-th sample; the
multi-scale discriminator (MSD) applies 1-D grouped convolutions to the waveform and to
its 2x and 4x average-pooled copies. Every sub-discriminator returns its logits and
feature maps (for the feature-matching loss). Widths are ``d_channels``-based, smaller
than the paper's, for CPUs; weight normalisation is left out (the losses below are what
the paper specifies; ``genlab.objectives.vocoder``).

**Vocos generator** (``model.generator=vocos``; Siuzdak 2023, Sec. 3): the same mel in,
the same waveform out, but no upsampling. A kernel-7 convolution to ``channels`` and
LayerNorm, ``layers`` ConvNeXt blocks at the frame rate (Liu et al. 2022: depthwise
kernel-7 convolution, LayerNorm, a 3x-wide GELU MLP, a layer scale starting at
``1 / layers``, residual), LayerNorm, and the iSTFT head
(:class:`genlab.nn.audio.ISTFTHead`): the STFT's log-magnitude and phase per frame,
inverted. All of its work runs at ``sample_rate / hop_length`` frames per second, not at
the sample rate. It trains against the same discriminators and losses.

One change from Vocos: the head predicts the log-magnitude as a correction to the log
of the mel's least-squares linear magnitude (``pinv(filterbank) exp(mel)``, floored at
1e-5, the mel's own floor), not from zero; the correction's weights start at zero, so
the first magnitudes are the prior's. Quiet speech sits near ``log|S| = -7`` at
8 kHz; a head that starts at 0 spends thousands of Adam steps at 2e-4 moving its bias
there, and meanwhile outputs loud noise. With the prior, the first outputs already have
the mel's spectral envelope and training goes to the phase and the fine structure.

``model.phase=griffin-lim`` (recipe ``vocos-gl-fsdd``) takes the phase from
``gl_iters`` Griffin-Lim iterations on the predicted magnitude (no gradient through
them) and adds the head's phase as a learned correction, zero at the start. An untrained
generator is then Griffin-Lim from the mel's least-squares magnitude, and training
improves the magnitude and corrects the phase; a learned network around Griffin-Lim
projections, as in Deep Griffin-Lim Iteration (Masuyama et al. 2019). It runs at
Griffin-Lim's speed, not Vocos's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.configs import HiFiGANConfig
from genlab.nn.audio import ISTFTHead, griffin_lim_phase, istft, mel_filterbank

LRELU = 0.1


def _same(k: int, d: int = 1) -> int:
    return (k * d - d) // 2


class ResBlock(nn.Module):
    """HiFi-GAN's ResBlock1: for each dilation ``d``,
    ``x = x + conv_k(lrelu(conv_{k,d}(lrelu(x))))``."""

    def __init__(self, c: int, k: int, dilations: tuple[int, ...]):
        super().__init__()
        self.dilated = nn.ModuleList(
            nn.Conv1d(c, c, k, dilation=d, padding=_same(k, d)) for d in dilations
        )
        self.plain = nn.ModuleList(nn.Conv1d(c, c, k, padding=_same(k)) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for a, b in zip(self.dilated, self.plain):
            x = x + b(F.leaky_relu(a(F.leaky_relu(x, LRELU)), LRELU))
        return x


class HiFiGAN(nn.Module):
    """The generator: ``forward(mel (B, 1, n_mels, T) or (B, n_mels, T)) -> (B, 1, T *
    hop_length)`` in [-1, 1]."""

    def __init__(self, cfg: HiFiGANConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.pre = nn.Conv1d(cfg.n_mels, c, 7, padding=3)
        self.ups, self.mrfs = nn.ModuleList(), nn.ModuleList()
        for i, r in enumerate(cfg.upsample_rates):
            c_in, c_out = c // 2**i, c // 2 ** (i + 1)
            # kernel 2r, stride r: exactly r T samples for even and odd r
            pad = (r + 1) // 2
            self.ups.append(nn.ConvTranspose1d(c_in, c_out, 2 * r, r, pad, output_padding=r % 2))
            self.mrfs.append(
                nn.ModuleList(
                    ResBlock(c_out, k, cfg.resblock_dilations) for k in cfg.resblock_kernels
                )
            )
        self.post = nn.Conv1d(c // 2 ** len(cfg.upsample_rates), 1, 7, padding=3)

    def forward(self, mel: Tensor) -> Tensor:
        x = self.pre(mel.flatten(1, -2) if mel.ndim == 4 else mel)  # (B, C, T)
        for up, mrf in zip(self.ups, self.mrfs):
            x = up(F.leaky_relu(x, LRELU))  # (B, C / 2, r T)
            x = sum(block(x) for block in mrf) / len(mrf)
        return self.post(F.leaky_relu(x)).tanh()  # (B, 1, hop T)


class ConvNeXtBlock(nn.Module):
    """``x + gamma * W2 gelu(W1 LN(dwconv7(x)))`` on ``(B, C, T)`` (ConvNeXt's block in
    1-D, as Vocos): W1 widens 3x, ``gamma`` per channel starts at ``scale``."""

    def __init__(self, c: int, scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.mlp = nn.Sequential(nn.Linear(c, 3 * c), nn.GELU(), nn.Linear(3 * c, c))
        self.gamma = nn.Parameter(torch.full((c,), scale))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm(self.dwconv(x).transpose(1, 2))  # (B, T, C)
        return x + (self.gamma * self.mlp(h)).transpose(1, 2)


class Vocos(nn.Module):
    """The Vocos generator: ``forward(mel (B, 1, n_mels, T) or (B, n_mels, T)) -> (B, 1,
    T * hop_length)`` in [-1, 1]. The last frame is repeated so that ``T + 1`` centred
    STFT frames cover exactly ``T * hop_length`` samples."""

    def __init__(self, cfg: HiFiGANConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.embed = nn.Conv1d(cfg.n_mels, c, 7, padding=3)
        self.norm_in, self.norm_out = nn.LayerNorm(c), nn.LayerNorm(c)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(c, 1 / cfg.layers) for _ in range(cfg.layers)))
        self.head = ISTFTHead(c, cfg.n_fft, cfg.hop_length)
        fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels)  # as MelSpectrogram's
        self.register_buffer("pinv", torch.linalg.pinv(fb), persistent=False)  # (F, n_mels)
        # the correction starts at 0: the first magnitudes are the prior's (and with
        # phase=griffin-lim, the phase correction too: the first outputs are Griffin-Lim's)
        rows = cfg.n_fft // 2 + 1 if cfg.phase == "predicted" else 2 * (cfg.n_fft // 2 + 1)
        with torch.no_grad():
            self.head.weight[:rows].zero_()
            self.head.bias[:rows].zero_()

    def features(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        """``(h (B, C, T + 1), prior (B, F, T + 1))``: the head's input and the log of the
        mel's least-squares magnitude, each with its last frame repeated."""
        x = mel.flatten(1, -2) if mel.ndim == 4 else mel  # (B, n_mels, T): log-mel
        prior = (self.pinv @ x.float().exp()).clamp(min=1e-5).log()  # (B, F, T)
        h = self.norm_in(self.embed(x).transpose(1, 2)).transpose(1, 2)  # (B, C, T)
        h = self.norm_out(self.blocks(h).transpose(1, 2)).transpose(1, 2)
        h, prior = (torch.cat([v, v[..., -1:]], -1) for v in (h, prior))  # T + 1 frames
        return h, prior

    def spectrum(self, mel: Tensor) -> Tensor:
        """The complex STFT ``(B, F, T + 1)`` the generator inverts for ``mel``: the
        head's, or with ``phase=griffin-lim`` the head's magnitude and Griffin-Lim's
        phase plus the head's correction."""
        c = self.cfg
        mag, phase = self.head.parts(*self.features(mel))
        if c.phase == "griffin-lim":  # (B, F, T + 1), the same for a mel in any batch
            phase = phase + griffin_lim_phase(mag, c.n_fft, c.hop_length, c.gl_iters)
        return torch.polar(mag, phase)

    def forward(self, mel: Tensor) -> Tensor:
        length = mel.shape[-1] * self.cfg.hop_length
        spec = self.spectrum(mel)  # (B, F, T + 1)
        y = istft(spec, self.cfg.n_fft, self.cfg.hop_length, length=length)
        return y[:, None].clamp(-1, 1)  # (B, 1, T * hop)


def generator(cfg: HiFiGANConfig) -> nn.Module:
    """The generator ``model.generator`` names: :class:`HiFiGAN` or :class:`Vocos`."""
    return Vocos(cfg) if cfg.generator == "vocos" else HiFiGAN(cfg)


class PeriodDiscriminator(nn.Module):
    """One MPD member: ``(B, 1, L)`` -> padded (reflect) to a multiple of ``period``,
    viewed as ``(B, 1, L / p, p)``, 2-D convolutions of kernel (5, 1), stride (3, 1)."""

    def __init__(self, period: int, c: int):
        super().__init__()
        self.period = period
        widths = [1, c, 2 * c, 4 * c, 8 * c]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, (5, 1), (3, 1), padding=(2, 0)) for a, b in zip(widths, widths[1:])
        )
        self.convs.append(nn.Conv2d(8 * c, 8 * c, (5, 1), padding=(2, 0)))
        self.post = nn.Conv2d(8 * c, 1, (3, 1), padding=(1, 0))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        b, _, n = x.shape
        pad = (-n) % self.period
        if pad:
            x = F.pad(x, (0, pad), mode="reflect")
        x = x.view(b, 1, -1, self.period)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU)
            feats.append(x)
        x = self.post(x)
        feats.append(x)
        return x.flatten(1), feats


class ScaleDiscriminator(nn.Module):
    """One MSD member (MelGAN's): 1-D convolutions, grouped in the middle, on
    ``(B, 1, L)``."""

    def __init__(self, c: int):
        super().__init__()
        spec = [  # (in, out, kernel, stride, groups)
            (1, c, 15, 1, 1), (c, 2 * c, 41, 2, 4), (2 * c, 4 * c, 41, 2, 16),
            (4 * c, 8 * c, 41, 4, 16), (8 * c, 8 * c, 5, 1, 1),
        ]  # fmt: skip
        self.convs = nn.ModuleList(  # groups that divide both widths, for any c
            nn.Conv1d(a, b, k, s, padding=k // 2, groups=math.gcd(g, a, b))
            for a, b, k, s, g in spec
        )
        self.post = nn.Conv1d(8 * c, 1, 3, padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU)
            feats.append(x)
        x = self.post(x)
        feats.append(x)
        return x.flatten(1), feats


class HiFiGANDiscriminator(nn.Module):
    """MPD (one member per period) and MSD (``scales`` members on the waveform, then on
    it average-pooled by 2 (kernel 4, stride 2) once, twice, ...).
    ``forward(x (B, 1, L)) -> (logits, features)``: a list with one ``(B, n)`` logit
    tensor per member and a list of each member's feature maps."""

    def __init__(self, cfg: HiFiGANConfig):
        super().__init__()
        c = cfg.d_channels
        self.mpd = nn.ModuleList(PeriodDiscriminator(p, c) for p in cfg.periods)
        self.msd = nn.ModuleList(ScaleDiscriminator(c) for _ in range(cfg.scales))

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        outs = [d(x) for d in self.mpd]
        for i, d in enumerate(self.msd):
            if i:
                x = F.avg_pool1d(x, 4, 2, padding=2)
            outs.append(d(x))
        return [o[0] for o in outs], [o[1] for o in outs]
