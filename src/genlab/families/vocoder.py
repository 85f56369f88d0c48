"""The vocoder family: HiFi-GAN (objective ``hifigan``), a GAN from log-mel spectrograms
back to waveforms, trained in the two-player loop (``genlab.train.gan_loop``). Its
networks are in ``genlab.models.hifigan``, its losses in ``genlab.objectives.vocoder``.

Training: each batch of clips ``(B, 1, L)`` is cut to one random window of
``objective.segment`` samples (the same offset for the batch, a multiple of the hop);
its log-mel spectrogram (the model's mel settings) is G's input, and G's output is
compared with the window: D's LSGAN loss, G's LSGAN + feature matching + mel L1.

Sampling resynthesises: ``cond["mel"]`` ``(n, 1, n_mels, T)`` when given (e.g. by a
mel-spectrogram generator), else the mels of held-out clips picked by seed
(``genlab.data.heldout_config``); ``sampler.originals=true`` returns those clips.
:func:`mel_of` is the analysis the vocoder inverts.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from genlab.data import DATASETS
from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families.base import Family, heldout_images, no_dependencies, prepare
from genlab.families.gan import fit_game
from genlab.models.hifigan import HiFiGANDiscriminator, generator
from genlab.nn.audio import MelSpectrogram, invert_log_mel
from genlab.objectives import vocoder as V

PREVIEW = 4  # clips in a preview (originals, then resyntheses)
_PICK_KEY = 0xF0C0


def _check(exp: Experiment) -> None:
    if exp.model.arch != "hifigan":
        raise ConfigError(f"model.arch: {exp.model.arch!r}; hifigan runs need 'hifigan'")
    if DATASETS[exp.data.name].modality != "audio":
        raise ConfigError(f"data.name: {exp.data.name!r} is not audio; a vocoder makes waveforms")
    m, d = exp.model, exp.data
    if (m.sample_rate, m.length) != (d.sample_rate, d.length):
        raise ConfigError(
            f"model.sample_rate/length: {m.sample_rate} Hz, {m.length} samples, but the data "
            f"are {d.sample_rate} Hz, {d.length} samples"
        )
    if exp.objective.segment % m.hop_length or exp.objective.segment > d.length:
        raise ConfigError(
            f"objective.segment: {exp.objective.segment} must be a multiple of the hop "
            f"({m.hop_length}) and at most data.length ({d.length})"
        )


def mel_analysis(exp: Experiment) -> MelSpectrogram:
    return _analysis(exp.model)


def _analysis(m) -> MelSpectrogram:
    return MelSpectrogram(m.sample_rate, m.n_fft, m.hop_length, m.n_mels)


def mel_of(exp: Experiment, x: Tensor, mel: MelSpectrogram | None = None) -> Tensor:
    """The log-mel spectrogram ``(B, 1, n_mels, L / hop)`` a vocoder run inverts, of
    waveforms ``(B, 1, L)`` (the last frame, centred past the end, is dropped so that G's
    output has exactly ``L`` samples); ``mel``: an analysis already built for ``exp``."""
    return (mel_analysis(exp) if mel is None else mel).to(x.device).frames(x)


def build(exp: Experiment) -> nn.Module:
    _check(exp)
    return generator(exp.model)


class MelAutoencoder(nn.Module):
    """A vocoder run as the fixed "autoencoder" of mel-spectrogram diffusion (the
    latent-diffusion path of ``genlab.families.diffusion``): ``encode(x (B, 1, L))`` is
    the normalised log-mel ``(log-mel - model.mel_shift) * model.mel_scale`` ``(B, 1,
    n_mels, L / hop)``, ``decode(z)`` the vocoder's waveform of the unnormalised mel
    ``(B, 1, L)``, and ``griffin_lim(z)`` the Griffin-Lim baseline's (fast, momentum
    0.99, from the filterbank's pseudo-inverse)."""

    def __init__(self, cfg, generator: nn.Module):
        super().__init__()
        self.cfg, self.generator = cfg, generator
        self.mel = _analysis(cfg)

    def encode(self, x: Tensor) -> Tensor:
        mel = self.mel.to(x.device).frames(x)  # what the vocoder inverts
        return (mel - self.cfg.mel_shift) * self.cfg.mel_scale

    def log_mel(self, z: Tensor) -> Tensor:
        return z / self.cfg.mel_scale + self.cfg.mel_shift

    def decode(self, z: Tensor) -> Tensor:
        return self.generator(self.log_mel(z))

    def griffin_lim(self, z: Tensor, n_iter: int = 32, seed: int = 0) -> Tensor:
        c = self.cfg
        fb = self.mel.filterbank.to(z.device)
        y = invert_log_mel(self.log_mel(z)[:, 0], fb, c.n_fft, c.hop_length, c.length,
                           n_iter, seed)  # fmt: skip
        return y[:, None]


def losses(exp: Experiment):
    """The two players' ``(g, d, batch, gen, step, k) -> (loss (), logs)``."""
    o, hop = exp.objective, exp.model.hop_length
    mel = mel_analysis(exp)

    def window(batch: dict, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        x = batch["x"]
        starts = (x.shape[-1] - o.segment) // hop + 1
        at = int(torch.randint(starts, (), generator=gen)) * hop
        y = x[..., at : at + o.segment]  # (B, 1, segment)
        return y, mel_of(exp, y, mel)

    def d_loss(g, d, batch, gen, step, k):
        y, s = window(batch, gen)
        with torch.no_grad():
            fake = g(s)
        (real_logits, _), (fake_logits, _) = d(y), d(fake)
        loss = V.discriminator_loss(real_logits, fake_logits).mean()
        return loss, {"d_loss": loss.detach()}

    def g_loss(g, d, batch, gen, step, k):
        y, s = window(batch, gen)
        fake = g(s)
        real_logits, real_feats = d(y)
        fake_logits, fake_feats = d(fake)
        adv = V.generator_adv_loss(fake_logits)
        fm = V.feature_matching_loss(real_feats, fake_feats)
        l1 = V.mel_l1(s, mel_of(exp, fake, mel))
        logs = {
            "g_adv": adv.mean().detach(),
            "fm": fm.mean().detach(),
            "mel_l1": l1.mean().detach(),
        }
        return (adv + o.fm_weight * fm + o.mel_weight * l1).mean(), logs

    return g_loss, d_loss


@torch.no_grad()
def sample(model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg) -> Tensor:
    """Waveforms ``(n, 1, L)``: G of ``cond["mel"]``, or of held-out clips' mels."""
    device = next(model.parameters()).device
    s = cond.get("mel")
    if s is None:
        x = heldout_images(exp, seeds, _PICK_KEY).to(device)
        if scfg.originals:
            return x
        s = mel_of(exp, x)
    return model(s.to(device))


def preview(exp: Experiment):
    def show(model: nn.Module) -> tuple[Tensor, int]:
        device = next(model.parameters()).device
        seeds = list(range(PREVIEW))
        x = heldout_images(exp, seeds, _PICK_KEY).to(device)
        # resyntheses first (the WAVs a preview writes), the originals below them
        return torch.cat([model(mel_of(exp, x)), x]).cpu(), PREVIEW

    return show


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    _check(exp)
    data, g = prepare(exp, build, resume)
    d = HiFiGANDiscriminator(exp.model)
    return fit_game(exp, run_dir, resume, data, g, d, losses(exp), preview(exp))


FAMILY = Family(
    name="vocoder",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=lambda exp: (),
    null_cond=lambda exp: {},
    dependencies=no_dependencies,
    doc="GAN vocoder (HiFi-GAN): log-mel spectrogram -> waveform",
)
