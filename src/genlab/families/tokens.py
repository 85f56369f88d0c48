"""The token family: a causal transformer prior over VQ tokens (``ar``) and VAR
next-scale prediction (``var``). Both read a trained tokenizer run named by
``objective.tokenizer`` (its ``model`` weights, loaded once per process with
``genlab.checkpoint.load_network``): data images are encoded to tokens on the fly for
training, and samples are decoded back to images. The run pins the tokenizer (its
location and weights fingerprint, see ``genlab.runs``)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.checkpoint import load_network
from genlab.cond import drop
from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families.base import (
    Family,
    class_cond_keys,
    class_null_cond,
    class_preview,
    fit_one_objective,
)
from genlab.models import build_model
from genlab.objectives.vae import unwrap
from genlab.sampling.tokens import generate, generate_scales

null_cond = class_null_cond


cond_keys = class_cond_keys


def load_tokenizer(exp: Experiment, device="cpu") -> nn.Module:
    """The tokenizer run ``objective.tokenizer`` (its ``model`` weights), frozen and in
    eval mode, loaded once per process; a clear error if it is missing or is not a VQ
    tokenizer that fits this model."""
    path = Path(exp.objective.tokenizer)
    if not (path / "config.yaml").is_file() or not (path / "model.safetensors").is_file():
        raise ConfigError(
            f"objective.tokenizer: {path} is not a trained tokenizer run (no config.yaml / "
            f"model.safetensors); train one first, e.g. `genlab train "
            f"{'msvq' if exp.objective.kind == 'var' else 'vqvae'}-mnist --out {path}`"
        )
    found = load_network(path, "model", device)
    t, m = found.model, exp.model
    if t.arch != "vqvae":
        raise ConfigError(f"objective.tokenizer: {path} is a '{t.arch}' run, not a vqvae")
    if exp.objective.kind == "var":
        want = (t.codebook_size, t.code_dim, tuple(t.scales))
        have = (m.vocab_size, m.code_dim, tuple(m.scales))
    else:
        want, have = (t.codebook_size * 1, t.num_tokens()), (m.vocab_size, m.seq_len)
    if want != have:
        raise ConfigError(
            f"objective.tokenizer: {path} gives {want} but the model is set for {have} "
            "(vocab_size, code_dim/seq_len, scales)"
        )
    if t.depth > 1:
        raise ConfigError(f"objective.tokenizer: {path} is a residual VQ (depth {t.depth})")
    return found.module


def build(exp: Experiment) -> nn.Module:
    """The token model; checks the tokenizer run first (training and sampling need it).
    VAR copies the tokenizer's codebook (a saved run's weights then overwrite it)."""
    tok = load_tokenizer(exp)
    model = build_model(exp.model)
    if exp.objective.kind == "var":
        model.set_codebook(tok.books[0].codes.detach())
    return model


def loss(exp: Experiment):
    """Per-sample cross-entropy (nats per token, ``(B,)``) of the tokenizer's tokens."""
    null = null_cond(exp)
    p = exp.objective.cond_drop

    def token_loss(model: nn.Module, batch: dict, generator) -> tuple[Tensor, dict]:
        x = batch["x"]
        tok = load_tokenizer(exp, x.device)  # cached: loaded once per process and device
        with torch.no_grad():
            tokens = tok.encode(x)  # (B, N)
        cond = drop(dict(batch.get("cond", {})), p, null, generator)
        logits = model(tokens, cond)  # (B, N, V)
        ce = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none").mean(1)
        acc = (logits.argmax(-1) == tokens).float().mean()
        return ce, {"nll_per_token": ce.mean().detach(), "accuracy": acc}

    return token_loss


@torch.no_grad()
def sample(model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg) -> Tensor:
    """Generate tokens (per-seed generators) and decode them with the tokenizer."""
    model = unwrap(model)
    device = next(model.parameters()).device
    kw = dict(temperature=scfg.temperature, top_k=scfg.top_k, top_p=scfg.top_p, cfg=scfg.cfg)
    if exp.objective.kind == "var":
        tokens = generate_scales(model, seeds, cond, null_cond=null_cond(exp), **kw)
    else:
        tokens = generate(
            model,
            exp.model.seq_len,
            seeds,
            cond,
            null_cond=null_cond(exp),
            use_cache=scfg.use_cache,
            **kw,
        )
    return load_tokenizer(exp, device).decode(tokens).clamp(-1, 1)


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train the prior in the one-objective loop (the tokenizer is loaded first, so the
    prior's initialisation does not depend on whether it was loaded before)."""
    load_tokenizer(exp)
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
    name="tokens",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=null_cond,
    dependencies=lambda exp: {"objective.tokenizer": (exp.objective.tokenizer, "model")},
    doc="token priors over a VQ tokenizer: causal transformer (ar), VAR next-scale (var)",
)
