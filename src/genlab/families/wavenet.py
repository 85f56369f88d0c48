"""The WaveNet family: an autoregressive model of waveforms over their mu-law codes
(objective ``mulaw``; network ``genlab.models.wavenet``).

Training: each batch of waveforms ``(B, 1, L)`` is cut to one random window of
``objective.crop`` samples (the same offset for the batch, from the step's generator),
mu-law encoded to ``model.quantization`` levels and scored by the cross-entropy of every
code given the earlier ones, in nats per sample (``bits_per_sample`` is logged too).

Sampling draws ``model.length`` codes one at a time with the token sampler
(``genlab.sampling.tokens.generate``: temperature, top-k, top-p, guidance on logits);
``sampler.use_cache`` (default) keeps each layer's queue, O(L), instead of running the
network on the last receptive field of codes at every step. Codes are decoded back to
``(n, 1, L)`` in [-1, 1]. A sample whose speaker is not given gets the
``seed % S``-th of the S speakers the run trained on, so a batch visits them all.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.cond import drop
from genlab.data import DATASETS
from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families.base import Family, class_preview, fit_one_objective, no_dependencies
from genlab.models import build_model
from genlab.nn.audio import mu_law_decode, mu_law_encode
from genlab.objectives.vae import unwrap
from genlab.sampling.tokens import generate


def null_cond(exp: Experiment) -> dict:
    """The declared nulls: class ``K`` and speaker ``M`` (each embedding's extra row)."""
    m = exp.model
    out = {}
    if m.num_classes:
        out["class"] = torch.tensor(m.num_classes)
    if m.num_speakers:
        out["speaker"] = torch.tensor(m.num_speakers)
    return out


def cond_keys(exp: Experiment) -> tuple[str, ...]:
    return tuple(null_cond(exp))


def build(exp: Experiment) -> nn.Module:
    """The WaveNet; checks it fits the data (audio, the same clip length)."""
    if exp.model.arch != "wavenet":
        raise ConfigError(f"model.arch: {exp.model.arch!r}; mulaw runs need 'wavenet'")
    if DATASETS[exp.data.name].modality != "audio":
        raise ConfigError(f"data.name: {exp.data.name!r} is not audio; WaveNet models waveforms")
    check_speakers(exp)
    if exp.data.length != exp.model.length:
        raise ConfigError(
            f"model.length: {exp.model.length} samples, but the data's clips are "
            f"{exp.data.length} (data.length)"
        )
    return build_model(exp.model)


def loss(exp: Experiment):
    """Per-sample cross-entropy ``(B,)`` in nats per audio sample."""
    o, q = exp.objective, exp.model.quantization
    null = null_cond(exp)

    def mulaw_loss(model: nn.Module, batch: dict, generator) -> tuple[Tensor, dict]:
        x = batch["x"][:, 0]  # (B, L)
        if o.crop and o.crop < x.shape[1]:
            at = int(torch.randint(x.shape[1] - o.crop + 1, (), generator=generator))
            x = x[:, at : at + o.crop]
        codes = mu_law_encode(x, q - 1)  # (B, L') in [0, Q)
        cond = drop(dict(batch.get("cond", {})), o.cond_drop, null, generator)
        logits = model(codes, cond)  # (B, L', Q)
        ce = F.cross_entropy(logits.transpose(1, 2).float(), codes, reduction="none").mean(1)
        acc = (logits.argmax(-1) == codes).float().mean()
        return ce, {"bits_per_sample": ce.mean().detach() / math.log(2), "accuracy": acc}

    return mulaw_loss


def check_speakers(exp: Experiment) -> None:
    """A network with ``model.num_speakers`` needs data that has speakers (``fsdd``)."""
    if exp.model.num_speakers and exp.data.name != "fsdd":
        raise ConfigError(
            f"model.num_speakers: {exp.model.num_speakers}, but {exp.data.name!r} data has no "
            "speakers (set model.num_speakers=0)"
        )


def with_speakers(exp: Experiment, seeds: list[int], cond: dict, device) -> dict:
    """``cond`` with ``"speaker"`` for a speaker-conditional run that was given none:
    sample ``i`` gets the ``seeds[i] % S``-th of the S speakers the run trained on."""
    cond = dict(cond)
    if exp.model.num_speakers and "speaker" not in cond:
        ids = trained_speakers(exp)
        cond["speaker"] = torch.tensor([ids[s % len(ids)] for s in seeds], device=device)
    return cond


def trained_speakers(exp: Experiment) -> list[int]:
    """The speaker ids the run's data holds (``fsdd`` with ``data.speakers``: only those),
    else all ``model.num_speakers``."""
    if exp.data.name == "fsdd":
        from genlab.data.audio import speaker_ids

        ids = [i for i in speaker_ids(exp.data) if i < exp.model.num_speakers]
        if ids:
            return ids
    return list(range(exp.model.num_speakers))


@torch.no_grad()
def sample(model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg) -> Tensor:
    """``(n, 1, model.length)`` waveforms in [-1, 1], one per seed."""
    model = unwrap(model)
    m = exp.model
    device = next(model.parameters()).device
    cond = with_speakers(exp, seeds, cond, device)
    codes = generate(
        model, m.length, seeds, cond,
        temperature=scfg.temperature, top_k=scfg.top_k, top_p=scfg.top_p, cfg=scfg.cfg,
        null_cond=null_cond(exp), use_cache=scfg.use_cache,
    )  # fmt: skip
    return mu_law_decode(codes, m.quantization - 1)[:, None]


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
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
    name="wavenet",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=null_cond,
    dependencies=no_dependencies,
    doc="autoregressive waveform model: WaveNet over mu-law codes, cached generation",
)
