"""Audio signal processing in torch: STFT and its inverse, mel filterbanks (Slaney and HTK
scales), log-mel spectrograms, Griffin-Lim phase reconstruction, mu-law companding, and
the Vocos iSTFT output head of the vocoder and the codec.

Shapes follow DESIGN.md: a waveform is ``(B, 1, L)`` (any leading dims work) in [-1, 1];
a spectrogram is ``(B, 1, F, T)`` (frequency bins x frames). Frequencies are in Hz,
sample rates in samples per second. Every function is differentiable where that makes
sense, so the mel loss of a vocoder back-propagates through :class:`MelSpectrogram`.

The filterbank follows the definitions librosa uses (``librosa.filters.mel``, itself
after Slaney's Auditory Toolbox), so a mel spectrogram here equals librosa's; the test
suite checks that where librosa is installed.

>>> mel = MelSpectrogram(sample_rate=8000, n_fft=256, hop_length=64, n_mels=64)
>>> mel(torch.zeros(2, 1, 8192)).shape
torch.Size([2, 1, 64, 129])
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from genlab.errors import ConfigError

MelScale = Literal["slaney", "htk"]

# Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above
# (27 mels per factor 6.4): Slaney (1998), Auditory Toolbox, as in librosa.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(f: Tensor, scale: MelScale = "slaney") -> Tensor:
    """Frequencies ``f`` (Hz, any shape) on the mel scale: ``"htk"`` is
    ``2595 log10(1 + f / 700)`` (O'Shaughnessy 1987); ``"slaney"`` is linear below 1 kHz
    and logarithmic above. Raises ``ValueError`` for another scale."""
    f = torch.as_tensor(f, dtype=torch.float64)
    if scale == "htk":
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    if scale != "slaney":
        raise ValueError(f"mel scale must be 'slaney' or 'htk', got {scale!r}")
    log_part = _MIN_LOG_MEL + torch.log(f.clamp(min=_MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return torch.where(f >= _MIN_LOG_HZ, log_part, f / _F_SP)


def mel_to_hz(m: Tensor, scale: MelScale = "slaney") -> Tensor:
    """The inverse of :func:`hz_to_mel`: mels ``m`` (any shape) to Hz."""
    m = torch.as_tensor(m, dtype=torch.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if scale != "slaney":
        raise ValueError(f"mel scale must be 'slaney' or 'htk', got {scale!r}")
    log_part = _MIN_LOG_HZ * torch.exp(_LOGSTEP * (m.clamp(min=_MIN_LOG_MEL) - _MIN_LOG_MEL))
    return torch.where(m >= _MIN_LOG_MEL, log_part, m * _F_SP)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: MelScale = "slaney",
    norm: Literal["slaney"] | None = "slaney",
) -> Tensor:
    """Triangular mel filters ``(n_mels, n_fft // 2 + 1)`` (float32) over the STFT bins.

    The ``n_mels + 2`` edges are evenly spaced in mels between ``f_min`` and ``f_max``
    (default ``sample_rate / 2``); filter ``i`` rises from edge ``i`` to ``i + 1`` and
    falls to ``i + 2``. ``norm="slaney"`` scales each to unit area (``2 / (f_{i+2} -
    f_i)``), so each band measures energy per Hz; ``None`` leaves peak 1.

    Raises ``ValueError`` for non-positive sizes or ``f_min >= f_max > sample_rate / 2``,
    and :class:`~genlab.errors.ConfigError` when a band holds no STFT bin (too many mels
    for ``n_fft``: the lowest bands are narrower than the bin spacing).
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if n_fft < 2 or n_mels < 1 or sample_rate < 1:
        raise ValueError(f"need n_fft >= 2, n_mels >= 1, sample_rate >= 1; got {n_fft}, "
                         f"{n_mels}, {sample_rate}")  # fmt: skip
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got {f_min}, {f_max}")
    if norm not in ("slaney", None):
        raise ValueError(f"mel norm must be 'slaney' or None, got {norm!r}")
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # (K,)
    lo, hi = hz_to_mel(torch.tensor(f_min), scale), hz_to_mel(torch.tensor(f_max), scale)
    edges = mel_to_hz(torch.linspace(float(lo), float(hi), n_mels + 2, dtype=torch.float64), scale)
    width = edges.diff()  # (n_mels + 1,)
    to_bin = edges[:, None] - bins[None, :]  # (n_mels + 2, K): edge - bin frequency
    rising = -to_bin[:-2] / width[:-1, None]  # (n_mels, K)
    falling = to_bin[2:] / width[1:, None]
    fb = torch.minimum(rising, falling).clamp(min=0)
    empty = int((fb.sum(1) == 0).sum())
    if empty:  # librosa only warns; a band that reads nothing is a configuration error
        raise ConfigError(
            f"n_mels: {empty} of {n_mels} mel bands fall between two STFT bins at n_fft "
            f"{n_fft} and {sample_rate} Hz and would always read 0; use fewer mel bands "
            f"or a larger n_fft"
        )
    if norm == "slaney":
        fb = fb * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return fb.float()


def _frames(x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """``(..., L)`` -> ``(N, L)`` and the leading shape."""
    return x.reshape(-1, x.shape[-1]), tuple(x.shape[:-1])


def stft(
    x: Tensor,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    center: bool = True,
) -> Tensor:
    """Complex STFT of waveforms ``(..., L)``: ``(..., n_fft // 2 + 1, T)``, with a
    periodic Hann window of ``win_length`` (default ``n_fft``), hop ``hop_length``
    (default ``win_length // 4``) and, with ``center``, ``n_fft // 2`` zeros padded on
    each side so frame ``t`` is centred on sample ``t * hop_length``
    (``T = 1 + L // hop_length``)."""
    win_length = win_length or n_fft
    hop_length = hop_length or win_length // 4
    flat, lead = _frames(x)
    window = torch.hann_window(win_length, periodic=True, device=x.device, dtype=x.dtype)
    spec = torch.stft(flat, n_fft, hop_length, win_length, window, center=center,
                      pad_mode="constant", return_complex=True)  # fmt: skip
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(
    spec: Tensor,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    length: int | None = None,
    center: bool = True,
) -> Tensor:
    """Inverse of :func:`stft` (weighted overlap-add): ``(..., F, T)`` complex ->
    ``(..., length)`` real; exact for a spectrogram that :func:`stft` made."""
    win_length = win_length or n_fft
    hop_length = hop_length or win_length // 4
    flat = spec.reshape(-1, *spec.shape[-2:])
    window = torch.hann_window(win_length, periodic=True, device=spec.device,
                               dtype=spec.real.dtype)  # fmt: skip
    x = torch.istft(flat, n_fft, hop_length, win_length, window, center=center, length=length)
    return x.reshape(*spec.shape[:-2], x.shape[-1])


def griffin_lim(
    magnitude: Tensor,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    n_iter: int = 32,
    momentum: float = 0.99,
    length: int | None = None,
    generator: torch.Generator | None = None,
    phase: Tensor | None = None,
) -> Tensor:
    """A waveform ``(..., length)`` whose STFT magnitude approaches ``magnitude``
    ``(..., F, T)``: Griffin & Lim (1984) alternate projections, with the momentum of
    the fast variant (Perraudin, Balazs & Sondergaard 2013; ``momentum=0`` is the
    original). The phases start at ``phase`` (radians, broadcast to ``magnitude``'s
    shape) when given, else uniformly random (from ``generator``).

    Raises ``ValueError`` for ``n_iter < 1`` or ``momentum`` outside [0, 1)."""
    if n_iter < 1 or not 0 <= momentum < 1:
        raise ValueError(f"need n_iter >= 1 and 0 <= momentum < 1, got {n_iter}, {momentum}")
    args = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length)
    if phase is None:
        phase = (
            2 * math.pi * torch.rand(magnitude.shape, generator=generator, dtype=magnitude.dtype)
        )
    phase = phase.to(magnitude.device, magnitude.dtype).expand(magnitude.shape)
    angles = torch.polar(torch.ones_like(magnitude), phase)
    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        rebuilt = stft(istft(magnitude * angles, length=length, **args), **args)
        step = rebuilt - (momentum / (1 + momentum)) * previous
        angles = step / step.abs().clamp(min=1e-16)
        previous = rebuilt
    return istft(magnitude * angles, length=length, **args)


def griffin_lim_phase(magnitude: Tensor, n_fft: int, hop_length: int, n_iter: int) -> Tensor:
    """The phase ``(B, F, T)`` of :func:`griffin_lim` on ``magnitude`` ``(B, F, T)``
    (``T`` centred frames, ``(T - 1) * hop_length`` samples), without gradient. Every
    row starts from the same phases (uniform, seed 0), so a magnitude gets the same phase
    whatever its batch or place in it. The phase of Vocos with ``phase=griffin-lim``
    (``genlab.models.hifigan``)."""
    gen = torch.Generator().manual_seed(0)
    start = 2 * math.pi * torch.rand(magnitude.shape[-2:], generator=gen)
    length = (magnitude.shape[-1] - 1) * hop_length
    with torch.no_grad():
        y = griffin_lim(magnitude, n_fft, hop_length, n_iter=n_iter, length=length, phase=start)
        return stft(y, n_fft, hop_length).angle()


def mel_to_linear(mel: Tensor, filterbank: Tensor) -> Tensor:
    """A non-negative linear-frequency magnitude ``(..., F, T)`` whose mel projection
    approximates ``mel`` ``(..., n_mels, T)`` (linear, not log): the least-squares
    solution through the filterbank's pseudo-inverse, negative values set to 0 (librosa's
    ``mel_to_stft`` solves the non-negative least squares instead)."""
    return torch.einsum("fm,...mt->...ft", torch.linalg.pinv(filterbank), mel).clamp(min=0)


def invert_log_mel(
    log_mel: Tensor,
    filterbank: Tensor,
    n_fft: int,
    hop_length: int,
    length: int,
    n_iter: int = 32,
    seed: int = 0,
) -> Tensor:
    """A waveform ``(B, length)`` for a natural-log mel ``(B, n_mels, T)`` of ``T``
    centred frames (the one centred past the end dropped, as ``MelSpectrogram.frames``):
    the filterbank's pseudo-inverse (:func:`mel_to_linear`), the last frame repeated,
    then :func:`griffin_lim`. Every row starts from the same phases, drawn with
    ``seed``, so a clip's waveform does not depend on its batch or its place in it."""
    lin = mel_to_linear(log_mel.exp(), filterbank)  # (B, F, T)
    lin = torch.cat([lin, lin[..., -1:]], -1)  # the frame centred past the end
    gen = torch.Generator().manual_seed(seed)
    phase = 2 * math.pi * torch.rand(lin.shape[-2:], generator=gen)
    return griffin_lim(lin, n_fft, hop_length, n_iter=n_iter, length=length, phase=phase)


def spectral_convergence(magnitude: Tensor, x: Tensor, n_fft: int, **kw) -> Tensor:
    """``|| |STFT(x)| - magnitude ||_F / || magnitude ||_F`` per leading index: how far
    waveform ``x`` ``(..., L)`` is from a target magnitude ``(..., F, T)`` (Sturmel &
    Daudet 2011)."""
    err = stft(x, n_fft, **kw).abs() - magnitude
    return err.flatten(-2).norm(dim=-1) / magnitude.flatten(-2).norm(dim=-1).clamp(min=1e-12)


def mu_law_encode(x: Tensor, mu: int = 255) -> Tensor:
    """Mu-law companding and quantisation (ITU-T G.711; WaveNet, van den Oord et al.
    2016, Eq. 2): ``x`` in [-1, 1] -> int64 codes in ``[0, mu]``,
    ``round((sign(x) ln(1 + mu |x|) / ln(1 + mu) + 1) / 2 * mu)``."""
    x = x.clamp(-1, 1)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return ((y + 1) / 2 * mu + 0.5).floor().long()


def mu_law_decode(q: Tensor, mu: int = 255) -> Tensor:
    """The inverse of :func:`mu_law_encode`: codes in ``[0, mu]`` -> floats in [-1, 1]."""
    y = 2 * q.float() / mu - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu


class MelSpectrogram(nn.Module):
    """Waveforms ``(B, 1, L)`` -> mel spectrograms ``(B, 1, n_mels, 1 + L // hop)``.

    ``power=1`` takes the magnitude (HiFi-GAN's mel), ``2`` the power. With ``log``,
    the output is ``ln(max(mel, floor))`` (``floor`` 1e-5, as HiFi-GAN), else linear.
    The filterbank and window are buffers, so ``.to(device)`` moves them.
    """

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 80,
        f_min: float = 0.0,
        f_max: float | None = None,
        power: float = 1.0,
        log: bool = True,
        floor: float = 1e-5,
        scale: MelScale = "slaney",
        norm: Literal["slaney"] | None = "slaney",
    ):
        super().__init__()
        self.n_fft, self.hop_length, self.power, self.log, self.floor = (
            n_fft, hop_length, power, log, floor
        )  # fmt: skip
        fb = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, scale, norm)
        self.register_buffer("filterbank", fb, persistent=False)  # (n_mels, F)

    def frames(self, x: Tensor) -> Tensor:
        """``forward`` without the last frame (centred past the end): ``(B, 1, n_mels,
        L // hop)``, one frame per hop of the clip."""
        return self(x)[..., : x.shape[-1] // self.hop_length]

    def forward(self, x: Tensor) -> Tensor:
        spec = stft(x.float(), self.n_fft, self.hop_length).abs()  # (B, 1, F, T)
        if self.power != 1:
            spec = spec**self.power
        mel = torch.einsum("mf,...ft->...mt", self.filterbank, spec)
        return torch.log(mel.clamp(min=self.floor)) if self.log else mel


class ISTFTHead(nn.Conv1d):
    """The Vocos output head (Siuzdak 2023, Sec. 3): a 1x1 convolution from ``channels``
    features per frame to the log-magnitude and the phase of an ``n_fft``-point STFT,
    ``S = exp(log|S|) e^{i phase}`` (the magnitude capped at 100, as Vocos), inverted with
    :func:`istft` (Hann window, hop ``hop_length``, centred frames).
    ``forward(h (B, channels, T), length, log_mag_base=None) -> (B, 1, length)`` clamped
    to [-1, 1]; ``T`` centred frames cover ``(T - 1) * hop_length`` samples;
    ``log_mag_base`` ``(B, F, T)``, when given, is added to the predicted log-magnitude
    (the head then predicts a correction to it). A ``Conv1d`` itself, so its parameters
    are ``weight`` and ``bias``."""

    def __init__(self, channels: int, n_fft: int, hop_length: int):
        super().__init__(channels, 2 * (n_fft // 2 + 1), 1)
        self.n_fft, self.hop_length = n_fft, hop_length

    def parts(self, h: Tensor, log_mag_base: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(magnitude, phase)``, each ``(B, F, T)``: what the head predicts."""
        log_mag, phase = super().forward(h).float().chunk(2, 1)  # (B, F, T) each
        if log_mag_base is not None:
            log_mag = log_mag + log_mag_base
        return log_mag.clamp(max=math.log(100.0)).exp(), phase  # capped before exp: no inf

    def spectrum(self, h: Tensor, log_mag_base: Tensor | None = None) -> Tensor:
        """The complex STFT ``(B, F, T)`` the head predicts, before its inversion."""
        return torch.polar(*self.parts(h, log_mag_base))

    def forward(self, h: Tensor, length: int, log_mag_base: Tensor | None = None) -> Tensor:
        spec = self.spectrum(h, log_mag_base)
        return istft(spec, self.n_fft, self.hop_length, length=length)[:, None].clamp(-1, 1)
