"""The codec family: a SoundStream / EnCodec-style neural audio codec (objective
``codec``; networks ``genlab.models.codec``, losses ``genlab.objectives.codec``), trained
in the two-player loop (``genlab.train.gan_loop``) against the multi-scale STFT
discriminator.

Training: each batch of clips ``(B, 1, L)`` is cut to one random window of
``objective.segment`` samples (the same offset for the batch, a multiple of the hop);
with probability ``model.quantizer_dropout`` a clip is quantized with only its first
``n ~ U{1..K}`` codebooks (SoundStream's quantizer dropout). G's loss: time L1, the
multi-scale mel loss, commitment and, from step ``objective.adv_start``, hinge GAN and
relative feature matching; D's: hinge. The mel decoder (``model.decoder=mel``) trains
alone in the one-objective loop (``train.lr``, ``train.betas``): ``mel_weight`` x L1 on
the log-mel, and commitment; the waveform and adversarial weights must be 0.

Sampling resynthesises held-out clips picked by seed (``genlab.data.heldout_config``)
through the tokens of their first ``sampler.codebooks`` codebooks (0: all), at
``model.bitrate(k)`` bits per second; ``sampler.originals=true`` returns the clips.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from genlab.data import DATASETS
from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families.base import (
    Family,
    fit_one_objective,
    heldout_images,
    no_dependencies,
    prepare,
)
from genlab.families.gan import fit_game
from genlab.models.codec import Codec, MSSTFTDiscriminator
from genlab.nn.audio import MelSpectrogram
from genlab.objectives import codec as C
from genlab.objectives.configs import CodecObjective

PREVIEW = 4  # clips in a preview (resyntheses, then originals)
_PICK_KEY = 0xC0DE


def check(exp: Experiment) -> None:
    """The run's model fits its data (audio at the codec's rate and clip length)."""
    m, d = exp.model, exp.data
    if m.arch != "codec":
        raise ConfigError(f"model.arch: {m.arch!r}; codec runs need 'codec'")
    if DATASETS[d.name].modality != "audio":
        raise ConfigError(f"data.name: {d.name!r} is not audio; a codec compresses waveforms")
    if (m.sample_rate, m.length) != (d.sample_rate, d.length):
        raise ConfigError(
            f"model.sample_rate/length: {m.sample_rate} Hz, {m.length} samples, but the data "
            f"are {d.sample_rate} Hz, {d.length} samples"
        )
    seg = exp.objective.segment
    if seg % m.hop_length() or seg > d.length:
        raise ConfigError(
            f"objective.segment: {seg} must be a multiple of the hop ({m.hop_length()}) and "
            f"at most data.length ({d.length})"
        )
    if m.decoder == "mel":  # regression on the log-mel: the game's settings do not apply
        return
    for key, sizes in (("objective.mel_sizes", exp.objective.mel_sizes),
                       ("model.stft_sizes", m.stft_sizes)):  # fmt: skip
        if max(sizes) > seg:
            raise ConfigError(
                f"{key}: a {max(sizes)}-sample window is longer than the training windows "
                f"(objective.segment={seg})"
            )


def check_regression(exp: Experiment) -> None:
    """The mel decoder trains alone (one objective, ``train.lr`` and ``train.betas``):
    the waveform and adversarial weights must be 0 and the game's optimiser settings
    left alone, rather than silently unused."""
    o, game = exp.objective, CodecObjective()
    for k in ("time_weight", "adv_weight", "fm_weight"):
        if getattr(o, k):
            raise ConfigError(
                f"objective.{k}: {getattr(o, k)}, but the mel decoder (model.decoder=mel) "
                "trains without a waveform loss or discriminator; set it to 0"
            )
    for k in ("g_lr", "d_lr", "betas", "n_critic"):
        if getattr(o, k) != getattr(game, k):
            raise ConfigError(
                f"objective.{k}: unused by the mel decoder, which trains in the "
                "one-objective loop; set train.lr / train.betas instead"
            )


def build(exp: Experiment) -> nn.Module:
    check(exp)
    return Codec(exp.model)


def codebooks_kept(exp: Experiment, b: int, gen: torch.Generator) -> Tensor:
    """Quantizer dropout: ``(B,)`` codebooks per clip, ``U{1..K}`` with probability
    ``model.quantizer_dropout``, else ``K``."""
    k, p = exp.model.codebooks, exp.model.quantizer_dropout
    drop = torch.rand(b, generator=gen) < p
    n = torch.randint(1, k + 1, (b,), generator=gen)
    return torch.where(drop, n, torch.full_like(n, k))


def _window(exp: Experiment, batch: dict, gen: torch.Generator) -> Tensor:
    """One random ``objective.segment``-sample window of the batch's clips ``(B, 1,
    segment)``, at the same offset for every clip (a multiple of the hop)."""
    x, seg, hop = batch["x"], exp.objective.segment, exp.model.hop_length()
    at = int(torch.randint((x.shape[-1] - seg) // hop + 1, (), generator=gen)) * hop
    return x[..., at : at + seg]


def mel_regression(exp: Experiment):
    """The mel decoder's one objective, ``(net, batch, gen) -> (loss (B,), logs)``:
    ``mel_weight`` x the L1 between the decoded and the window's log-mel, plus
    ``commit_weight`` x commitment."""
    o, m = exp.objective, exp.model
    analysis = MelSpectrogram(m.sample_rate, m.n_fft, m.hop_length(), m.n_mels)

    def loss(net, batch, gen):
        y = _window(exp, batch, gen)
        target = analysis.to(y.device).frames(y)[:, 0]  # (B, n_mels, T)
        mel_hat, stats = net(y, codebooks_kept(exp, len(y), gen).to(y.device))
        l1 = (mel_hat - target).abs().flatten(1).mean(1)  # (B,)
        logs = {"mel_l1": l1.mean().detach(), "commit": stats["commit"].mean().detach()}
        logs.update({k: v for k, v in stats.items() if k.startswith(("usage", "perplexity"))})
        return o.mel_weight * l1 + o.commit_weight * stats["commit"], logs

    return loss


def losses(exp: Experiment):
    """The two players' ``(g, d, batch, gen, step, k) -> (loss (), logs)``."""
    o = exp.objective
    mel = C.MultiScaleMelLoss(exp.model.sample_rate, o.mel_sizes)

    def d_loss(g, d, batch, gen, step, k):
        y = _window(exp, batch, gen)
        with torch.no_grad():
            fake = g(y, codebooks_kept(exp, len(y), gen).to(y.device), update=False)[0]
        (real, _), (fake_logits, _) = d(y), d(fake)
        loss = C.discriminator_hinge(real, fake_logits).mean()
        return loss, {"d_hinge": loss.detach()}

    def g_loss(g, d, batch, gen, step, k):
        y = _window(exp, batch, gen)
        fake, stats = g(y, codebooks_kept(exp, len(y), gen).to(y.device))
        m = mel.to(y.device)(y, fake)
        t = C.time_l1(y, fake)
        loss = o.time_weight * t + o.mel_weight * m + o.commit_weight * stats["commit"]
        logs = {"time_l1": t.mean().detach(), "mel": m.mean().detach(),
                "commit": stats["commit"].mean().detach()}  # fmt: skip
        logs.update({k: v for k, v in stats.items() if k.startswith(("usage", "perplexity"))})
        if step >= o.adv_start and (o.adv_weight or o.fm_weight):
            real_logits, real_feats = d(y)
            fake_logits, fake_feats = d(fake)
            adv = C.generator_hinge(fake_logits)
            fm = C.relative_feature_matching(real_feats, fake_feats)
            loss = loss + o.adv_weight * adv + o.fm_weight * fm
            logs.update(g_adv=adv.mean().detach(), fm=fm.mean().detach())
        return loss.mean(), logs

    return g_loss, d_loss


def resynthesize(model: nn.Module, x: Tensor, codebooks: int = 0) -> Tensor:
    """``x (B, 1, L)`` through the codec's tokens (the first ``codebooks``; 0: all)."""
    tokens = model.encode(x)
    return model.decode(tokens[:, : codebooks or tokens.shape[1]])


@torch.no_grad()
def sample(model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg) -> Tensor:
    """``(n, 1, L)``: held-out clips resynthesised through ``sampler.codebooks``
    codebooks (or the clips, with ``sampler.originals``)."""
    if scfg.codebooks > exp.model.codebooks:
        raise ConfigError(
            f"sampler.codebooks: {scfg.codebooks}, but the codec has {exp.model.codebooks}"
        )
    device = next(model.parameters()).device
    x = heldout_images(exp, seeds, _PICK_KEY).to(device)
    return x if scfg.originals else resynthesize(model, x, scfg.codebooks)


def preview(exp: Experiment):
    def show(model: nn.Module) -> tuple[Tensor, int]:
        device = next(model.parameters()).device
        x = heldout_images(exp, list(range(PREVIEW)), _PICK_KEY).to(device)
        return torch.cat([resynthesize(model, x), x]).cpu(), PREVIEW

    return show


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    check(exp)
    if exp.model.decoder == "mel":  # regression on the log-mel: no discriminator
        check_regression(exp)
        return fit_one_objective(exp, run_dir, resume, build=build, loss=mel_regression(exp),
                                 cond_keys=(), preview=lambda e, _: preview(e))  # fmt: skip
    data, g = prepare(exp, build, resume)
    d = MSSTFTDiscriminator(exp.model)
    return fit_game(exp, run_dir, resume, data, g, d, losses(exp), preview(exp))


FAMILY = Family(
    name="codec",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=lambda exp: (),
    null_cond=lambda exp: {},
    dependencies=no_dependencies,
    doc="neural audio codec (SoundStream/EnCodec): residual VQ tokens, MS-STFT discriminator "
    "or a log-mel decoder",
)
