"""A neural audio codec in the manner of SoundStream (Zeghidour et al. 2021) and EnCodec
(Défossez et al. 2022), sized for 8 kHz speech on a CPU.

**Encoder**: a kernel-7 convolution to ``channels``; for each stride ``s``: three
residual units (dilations 1, 3, 9; SoundStream Fig. 3), ELU and a strided convolution
(kernel ``2s``) doubling the width; ELU and a kernel-3 convolution to ``code_dim``. A
waveform ``(B, 1, L)`` becomes ``(B, code_dim, L / hop)``, ``hop = prod(strides)``.

Or, ``model.encoder=mel`` (Spectral Codecs, Langman et al. 2024): the ``n_mels``-band
log-mel at the codec's hop (normalised as the mel decoder's output), a kernel-7
convolution, three residual units and a kernel-3 convolution to ``code_dim``; as wide as
the waveform encoder's last stage.

**Residual VQ** (SoundStream Alg. 1): codebook ``k`` quantizes what codebooks ``< k``
left; EMA codebooks with dead-code restarts (``genlab.models.vq.Codebook``). With
*quantizer dropout* a share of the training clips is quantized with only their first
``n ~ U{1..K}`` codebooks, so that one model serves every bitrate.

**Decoder**, ``model.decoder``:
- ``istft`` (default): residual units at the frame rate (``decoder_channels`` wide) and
  the Vocos head (Siuzdak 2023): a 1x1 convolution to the log-magnitude (exp, at most
  100) and phase of an ``n_fft``-point STFT with the codec's hop, inverted (centred
  frames, one more than the latent's: its last frame repeats). All of its work runs at
  125 frames per second instead of 8,000 samples, so it trains far faster on a CPU;
- ``transposed``: the mirror of the encoder with transposed convolutions, and tanh
  (SoundStream / EnCodec);
- ``mel``: the same residual units, then a 1x1 convolution to the ``n_mels``-band
  log-mel spectrogram (``n_fft`` window, the codec's hop), trained by regression on the
  clip's own log-mel and inverted by 32 iterations of fast Griffin-Lim. A discrete
  speech representation over mels with a fixed vocoder, as Tortoise's discrete VAE
  (Betker 2023); it needs no discriminator. ``forward`` then returns the log-mel
  ``(B, n_mels, L / hop)``; ``decode`` returns waveforms, as for the other decoders.

**Discriminator** (EnCodec Sec. 3.3): the multi-scale STFT discriminator. For each window
``n`` of ``stft_sizes``: the complex STFT (hop ``n / 4``) as two real channels
``(B, 2, T, F)``; 2-D convolutions of kernel (3, 9) (time, frequency), dilated 1, 2, 4 in
time and strided 2 in frequency, LeakyReLU(0.2); a (3, 3) convolution to one logit map.
Each sub-discriminator returns its logits and every layer's features.

Not causal (EnCodec's non-streaming variant); no weight normalisation. Tokens are
``(B, K, T)`` int64 (codebook-major, audiocraft's layout).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.models.configs import CodecConfig
from genlab.models.vq import Codebook, usage_stats
from genlab.nn.audio import ISTFTHead, MelSpectrogram, invert_log_mel, stft

# the mel decoder's output h is the log-mel / MEL_SCALE + MEL_SHIFT: as the vocoders'
# normalisation (genlab.models.audio_configs.VocoderConfig), [-1, 1] spans the 1e-5 floor
# to the loudest frames, so an untrained decoder starts mid-range, not at silence
MEL_SHIFT, MEL_SCALE = -5.6, 0.17
GRIFFIN_LIM_ITERS = 32


class ResidualUnit(nn.Module):
    """``x + conv1(elu(conv7_dilated(elu(x))))`` (SoundStream's residual unit)."""

    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(c, c, 7, dilation=dilation, padding=3 * dilation)
        self.proj = nn.Conv1d(c, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.proj(F.elu(self.conv(F.elu(x))))


def _units(c: int) -> list[nn.Module]:
    return [ResidualUnit(c, d) for d in (1, 3, 9)]


class ISTFTDecoder(nn.Module):
    """Latent frames ``(B, D, T)`` -> waveforms ``(B, 1, T * hop)``: residual units at the
    frame rate, then the Vocos head (log-magnitude and phase, inverse STFT)."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        c, self.n_fft, self.hop = cfg.decoder_channels, cfg.n_fft, cfg.hop_length()
        self.body = nn.Sequential(nn.Conv1d(cfg.code_dim, c, 7, padding=3), *_units(c),
                                  *_units(c), nn.ELU())  # fmt: skip
        self.head = ISTFTHead(c, cfg.n_fft, self.hop)

    def forward(self, z: Tensor) -> Tensor:
        z = torch.cat([z, z[..., -1:]], -1)  # T + 1 centred frames cover T * hop samples
        return self.head(self.body(z), (z.shape[-1] - 1) * self.hop)  # (B, 1, T * hop)


class MelEncoder(nn.Module):
    """Waveforms ``(B, 1, L)`` -> latent frames ``(B, code_dim, L / hop)`` through the
    normalised log-mel."""

    def __init__(self, cfg: CodecConfig, c: int):
        super().__init__()
        self.hop = cfg.hop_length()
        self.analysis = MelSpectrogram(cfg.sample_rate, cfg.n_fft, self.hop, cfg.n_mels)
        self.body = nn.Sequential(nn.Conv1d(cfg.n_mels, c, 7, padding=3), *_units(c), nn.ELU(),
                                  nn.Conv1d(c, cfg.code_dim, 3, padding=1))  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        log_mel = self.analysis.frames(x)[:, 0]  # (B, n_mels, T)
        return self.body((log_mel - MEL_SHIFT) * MEL_SCALE)


class MelDecoder(nn.Module):
    """Latent frames ``(B, D, T)`` -> log-mel ``(B, n_mels, T)`` (natural log of the
    magnitude mel, floor 1e-5); ``waveform`` inverts one with Griffin-Lim."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        c, self.n_fft, self.hop = cfg.decoder_channels, cfg.n_fft, cfg.hop_length()
        self.body = nn.Sequential(nn.Conv1d(cfg.code_dim, c, 7, padding=3), *_units(c),
                                  *_units(c), nn.ELU(), nn.Conv1d(c, cfg.n_mels, 1))  # fmt: skip
        self.analysis = MelSpectrogram(cfg.sample_rate, cfg.n_fft, self.hop, cfg.n_mels)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z) / MEL_SCALE + MEL_SHIFT  # (B, n_mels, T)

    def log_mel(self, x: Tensor) -> Tensor:
        """The target: waveforms ``(B, 1, L)`` -> ``(B, n_mels, L / hop)`` (the frame
        centred past the end dropped, as the vocoders' ``mel_of``)."""
        return self.analysis.frames(x)[:, 0]

    def waveform(self, log_mel: Tensor, seed: int = 0) -> Tensor:
        """``log_mel (B, n_mels, T)`` -> ``(B, 1, T * hop)``: the pseudo-inverse of the
        filterbank, then fast Griffin-Lim from phases drawn with ``seed`` (the same for
        every row)."""
        fb, length = self.analysis.filterbank, log_mel.shape[-1] * self.hop
        y = invert_log_mel(log_mel.float(), fb, self.n_fft, self.hop, length,
                           GRIFFIN_LIM_ITERS, seed)  # fmt: skip
        return y[:, None].clamp(-1, 1)


class Codec(nn.Module):
    """``forward(x (B, 1, L), n, update) -> (x_hat (B, 1, L), stats)`` (the mel decoder:
    ``x_hat`` is the log-mel ``(B, n_mels, T)``); ``encode`` / ``decode`` go through
    tokens ``(B, K, T)``. ``stats``: per-sample ``commit (B,)``,
    and the batch's ``usage`` / ``perplexity`` of each codebook."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        self.cfg = cfg
        c, enc = cfg.channels, [nn.Conv1d(1, cfg.channels, 7, padding=3)]
        for s in cfg.strides:
            enc += [
                *_units(c),
                nn.ELU(),
                nn.Conv1d(c, 2 * c, 2 * s, stride=s, padding=(s + 1) // 2),
            ]
            c *= 2
        enc += [nn.ELU(), nn.Conv1d(c, cfg.code_dim, 3, padding=1)]
        self.encoder = MelEncoder(cfg, c) if cfg.encoder == "mel" else nn.Sequential(*enc)
        if cfg.decoder == "istft":
            self.decoder = ISTFTDecoder(cfg)
        elif cfg.decoder == "mel":
            self.decoder = MelDecoder(cfg)
        else:
            dec: list[nn.Module] = [nn.Conv1d(cfg.code_dim, c, 7, padding=3)]
            for s in reversed(cfg.strides):
                # out = (T - 1) s - 2p + 2s + op = T s  with p = ceil(s / 2), op = s mod 2
                up = nn.ConvTranspose1d(c, c // 2, 2 * s, stride=s, padding=(s + 1) // 2,
                                        output_padding=s % 2)  # fmt: skip
                dec += [nn.ELU(), up, *_units(c // 2)]
                c //= 2
            dec += [nn.ELU(), nn.Conv1d(c, 1, 7, padding=3), nn.Tanh()]
            self.decoder = nn.Sequential(*dec)
        self.books = nn.ModuleList(
            Codebook(cfg.codebook_size, cfg.code_dim, cfg.ema_decay, cfg.restart_threshold)
            for _ in range(cfg.codebooks)
        )

    def quantize(
        self, z: Tensor, n: Tensor | None = None, update: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Residual VQ of ``z (B, D, T)`` -> ``(z_q (B, D, T), tokens (B, K, T))``.
        ``n (B,)``: codebooks each clip keeps (the rest add nothing and their tokens are
        0; default all). In training mode with ``update``, a codebook's EMA learns from
        the clips using it."""
        b, d, t = z.shape
        r = z.transpose(1, 2).reshape(-1, d)  # (B*T, D)
        z_q, toks = torch.zeros_like(r), []

        def vq(book: Codebook, v: Tensor) -> tuple[Tensor, Tensor]:
            if self.training and update:
                return book(v)
            idx = book.nearest(v.detach())
            return book.lookup(idx), idx

        for k, book in enumerate(self.books):
            keep = None if n is None else (n > k).repeat_interleave(t)  # (B*T,)
            if keep is None or bool(keep.all()):
                q, idx = vq(book, r)
            else:
                q, idx = (
                    torch.zeros_like(r),
                    torch.zeros(len(r), dtype=torch.int64, device=r.device),
                )
                if bool(keep.any()):
                    q[keep], idx[keep] = vq(book, r[keep])
            z_q, r = z_q + q, r - q
            toks.append(idx.view(b, t))
        return z_q.view(b, t, d).transpose(1, 2), torch.stack(toks, 1)

    def forward(
        self, x: Tensor, n: Tensor | None = None, update: bool = True
    ) -> tuple[Tensor, dict]:
        z = self.encoder(x)  # (B, D, T)
        z_q, tokens = self.quantize(z, n, update)
        commit = (z - z_q.detach()).pow(2).flatten(1).mean(1)
        x_hat = self.decoder(z + (z_q - z).detach())  # straight-through estimator
        stats = {"commit": commit}
        for k in range(len(self.books)):  # over the clips that used codebook k
            used = tokens[:, k] if n is None else tokens[n > k, k]
            if len(used):
                stats[f"usage{k}"], stats[f"perplexity{k}"] = usage_stats(
                    used, self.cfg.codebook_size
                )
        return x_hat, stats

    def encode(self, x: Tensor) -> Tensor:
        """Waveforms ``(B, 1, L)`` -> tokens ``(B, K, L / hop)`` int64."""
        return self.quantize(self.encoder(x))[1]

    def decode(self, tokens: Tensor) -> Tensor:
        """Tokens ``(B, k, T)`` (the first ``k <= K`` codebooks) -> waveforms
        ``(B, 1, T * hop)`` in [-1, 1]. Raises ValueError for more than ``K`` codebooks
        or codes out of range."""
        k = tokens.shape[1]
        if tokens.dim() != 3 or not 1 <= k <= len(self.books):
            raise ValueError(
                f"tokens: expected (B, 1..{len(self.books)}, T), got {tuple(tokens.shape)}"
            )
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.cfg.codebook_size):
            raise ValueError(f"tokens: codes must be in [0, {self.cfg.codebook_size})")
        z = sum(self.books[i].lookup(tokens[:, i]) for i in range(k))  # (B, T, D)
        out = self.decoder(z.transpose(1, 2))
        return self.decoder.waveform(out) if self.cfg.decoder == "mel" else out


class STFTDiscriminator(nn.Module):
    """One scale of the MS-STFT discriminator: ``x (B, 1, L) -> (logits, features)``."""

    def __init__(self, n_fft: int, c: int):
        super().__init__()
        self.n_fft = n_fft
        k, p = (3, 9), (1, 4)  # (time, frequency), as EnCodec
        self.convs = nn.ModuleList([nn.Conv2d(2, c, k, padding=p)])
        for d in (1, 2, 4):
            self.convs.append(nn.Conv2d(c, c, k, stride=(1, 2), dilation=(d, 1), padding=(d, 4)))
        self.convs.append(nn.Conv2d(c, c, 3, padding=1))
        self.out = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        s = stft(x[:, 0], self.n_fft, self.n_fft // 4)  # (B, F, T) complex
        h = torch.stack([s.real, s.imag], 1).transpose(2, 3)  # (B, 2, T, F)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
            feats.append(h)
        return self.out(h), feats


class MSSTFTDiscriminator(nn.Module):
    """``x (B, 1, L) -> ([logits per scale], [[features per layer] per scale])``."""

    def __init__(self, cfg: CodecConfig):
        super().__init__()
        self.members = nn.ModuleList(STFTDiscriminator(n, cfg.d_channels) for n in cfg.stft_sizes)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        out = [m(x) for m in self.members]
        return [o[0] for o in out], [o[1] for o in out]
