"""The codec language-model family (objective ``codec_lm``; network
``genlab.models.codec_lm``): a transformer prior over a trained codec run's tokens
(``objective.codec``, ``genlab.families.codec``), conditioned on the digit (``class``)
and the speaker, so that ``genlab sample`` speaks a chosen digit in a chosen voice.

Training encodes each batch of clips ``(B, 1, L)`` to codes ``(B, K, T)`` with the frozen
codec and scores them by cross-entropy (nats per token):
- ``model.pattern=delay``: every real cell of the delay pattern (MusicGen);
- ``model.pattern=coarse_fine``: codebook 0 under the causal transformer, plus the fine
  transformer's codebook ``k ~ U{1..K-1}`` per clip given the codebooks below it
  (VALL-E); the logged ``nll_coarse`` / ``nll_fine`` are per token.

Sampling draws codes with ``genlab.sampling.tokens`` (delay: ``generate_delayed``;
coarse-to-fine: ``generate`` then ``generate_fine``) and decodes them with the codec.
A sample whose speaker is not given gets the ``seed % S``-th of the S speakers the run
trained on.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.checkpoint import load_network
from genlab.cond import drop
from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families.base import Family, class_preview, fit_one_objective
from genlab.families.wavenet import check_speakers, cond_keys, null_cond, with_speakers
from genlab.models import build_model
from genlab.objectives.vae import unwrap
from genlab.sampling.tokens import delay_pattern, generate, generate_delayed, generate_fine

CODEC_WEIGHTS = "ema"  # the codec weights `genlab sample` uses
_FINE_KEY = 0xF1E


def load_codec(exp: Experiment, device="cpu") -> nn.Module:
    """The codec run ``objective.codec``, frozen, loaded once per process; a clear error
    if it is missing, not a codec, or gives other tokens than the model is set for."""
    path = Path(exp.objective.codec)
    if (
        not (path / "config.yaml").is_file()
        or not (path / f"{CODEC_WEIGHTS}.safetensors").is_file()
    ):
        raise ConfigError(
            f"objective.codec: {path} is not a trained codec run (no config.yaml / "
            f"{CODEC_WEIGHTS}.safetensors); train one first: `genlab train codec-fsdd --out {path}`"
        )
    found = load_network(path, CODEC_WEIGHTS, device)
    c, m = found.model, exp.model
    if c.arch != "codec":
        raise ConfigError(f"objective.codec: {path} is a '{c.arch}' run, not a codec")
    if exp.data.length % c.hop_length():
        raise ConfigError(
            f"data.length: {exp.data.length} samples is not a whole number of {path}'s "
            f"{c.hop_length()}-sample frames"
        )
    want = (c.codebook_size, c.codebooks, exp.data.length // c.hop_length())
    have = (m.vocab_size, m.codebooks, m.frames)
    if want != have:
        raise ConfigError(
            f"objective.codec: {path} gives (codebook_size, codebooks, frames) {want} for "
            f"{exp.data.length}-sample clips, but the model is set for {have}"
        )
    if c.sample_rate != exp.data.sample_rate:
        raise ConfigError(
            f"objective.codec: {path} codes {c.sample_rate} Hz audio; the data are "
            f"{exp.data.sample_rate} Hz"
        )
    return found.module.eval().requires_grad_(False)


def build(exp: Experiment) -> nn.Module:
    """The codec LM; checks the codec run first (training and sampling need it)."""
    if exp.model.arch != "codec_lm":
        raise ConfigError(f"model.arch: {exp.model.arch!r}; codec_lm runs need 'codec_lm'")
    check_speakers(exp)
    load_codec(exp)
    return build_model(exp.model)


def _ce(logits: Tensor, target: Tensor) -> Tensor:
    """``(B, ..., V), (B, ...) -> (B, ...)`` nats."""
    return F.cross_entropy(logits.movedim(-1, 1).float(), target, reduction="none")


def loss(exp: Experiment):
    """Per-sample cross-entropy ``(B,)`` in nats per token."""
    null, p, m = null_cond(exp), exp.objective.cond_drop, exp.model

    def codec_lm_loss(model: nn.Module, batch: dict, generator) -> tuple[Tensor, dict]:
        x = batch["x"]
        with torch.no_grad():
            codes = load_codec(exp, x.device).encode(x)  # (B, K, T)
        cond = drop(dict(batch.get("cond", {})), p, null, generator)
        if m.pattern == "delay":
            seq = delay_pattern(codes, m.vocab_size)  # (B, K, T + K - 1)
            logits = model(seq, cond)  # (B, S, K, V)
            real = (seq != m.vocab_size).transpose(1, 2)  # (B, S, K): cells to predict
            ce = _ce(logits, seq.transpose(1, 2).clamp_max(m.vocab_size - 1)) * real
            nll = ce.sum((1, 2)) / real.sum((1, 2))
            return nll, {"nll_per_token": nll.mean().detach(),
                         "bits_per_second": _bps(nll.mean().detach(), exp)}  # fmt: skip
        level = torch.randint(1, m.codebooks, (len(x),), generator=generator).to(x.device)
        coarse_logits, fine_logits = model(codes, cond, level)  # (B, T, V) each
        coarse = _ce(coarse_logits, codes[:, 0]).mean(1)  # (B,)
        target = codes[torch.arange(len(x), device=x.device), level]  # (B, T)
        fine = _ce(fine_logits, target).mean(1)
        # per frame: 1 coarse token + K - 1 fine ones (fine: one random level's mean)
        per_token = (coarse + (m.codebooks - 1) * fine) / m.codebooks
        logs = {"nll_coarse": coarse.mean().detach(), "nll_fine": fine.mean().detach(),
                "nll_per_token": per_token.mean().detach(),
                "bits_per_second": _bps(per_token.mean().detach(), exp)}  # fmt: skip
        return coarse + fine, logs

    return codec_lm_loss


def _bps(nll: Tensor, exp: Experiment) -> Tensor:
    """Nats per token -> bits per second of audio (``K`` tokens per frame)."""
    m = exp.model
    frames_per_s = m.frames * exp.data.sample_rate / exp.data.length
    return nll / math.log(2) * m.codebooks * frames_per_s


@torch.no_grad()
def sample(model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg) -> Tensor:
    """``(n, 1, L)`` waveforms: codes drawn per seed, decoded by the codec."""
    model, m = unwrap(model), exp.model
    device = next(model.parameters()).device
    cond = with_speakers(exp, seeds, cond, device)
    kw = dict(temperature=scfg.temperature, top_k=scfg.top_k, top_p=scfg.top_p, cfg=scfg.cfg,
              null_cond=null_cond(exp))  # fmt: skip
    if m.pattern == "delay":
        codes = generate_delayed(model.coarse, m.frames, seeds, cond, empty=m.vocab_size,
                                 use_cache=scfg.use_cache, **kw)  # fmt: skip
    else:
        coarse = generate(model.coarse, m.frames, seeds, cond, use_cache=scfg.use_cache, **kw)
        codes = generate_fine(model.fine, coarse, m.codebooks, seeds, cond, key=_FINE_KEY, **kw)
    return load_codec(exp, device).decode(codes)


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    load_codec(exp)  # first, so the LM's initialisation does not depend on it
    return fit_one_objective(
        exp,
        run_dir,
        resume,
        build=build,
        loss=loss(exp),
        cond_keys=cond_keys(exp),
        preview=lambda exp, data: class_preview(sample, exp),
    )


FAMILY = Family(
    name="codec_lm",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=null_cond,
    dependencies=lambda exp: {"objective.codec": (exp.objective.codec, CODEC_WEIGHTS)},
    doc="transformer over codec tokens: MusicGen delay pattern or coarse-to-fine (AudioLM/VALL-E)",
)
