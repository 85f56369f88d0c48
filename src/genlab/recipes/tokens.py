"""The token family: a causal transformer prior over VQ tokens (``ar``) and VAR
next-scale prediction (``var``). Both read a trained tokenizer run named by
``objective.tokenizer`` (its ``model.safetensors`` weights): data images are encoded to
tokens on the fly for training, and samples are decoded back to images."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.errors import ConfigError
from genlab.models import build_model
from genlab.models.gpt import GPTConfig
from genlab.models.var import VARConfig
from genlab.objectives.vae import unwrap
from genlab.recipes.experiment import Experiment, TrainConfig
from genlab.recipes.tasks import Recipe, Task
from genlab.recipes.vae import _data, null_cond
from genlab.sampling.tokens import generate, generate_scales


@dataclass
class TokenObjective:
    kind: Literal["ar"] = "ar"
    tokenizer: str = "runs/vqvae-mnist"  # a trained VQ-VAE run directory
    cond_drop: float = 0.1  # class -> null with this probability (for guidance)

    def __post_init__(self):
        if not 0 <= self.cond_drop <= 1:
            raise ConfigError(f"objective.cond_drop: must be in [0, 1], got {self.cond_drop}")


@dataclass
class VARObjective(TokenObjective):
    kind: Literal["var"] = "var"  # type: ignore[assignment]
    tokenizer: str = "runs/msvq-mnist"  # a trained multi-scale VQ run directory


@dataclass
class TokenSamplerConfig:
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k filter
    top_p: float = 1.0  # 1: no nucleus filter
    cfg: float = 0.0  # guidance weight on logits
    use_cache: bool = True  # KV cache (ar only)

    def __post_init__(self):
        if self.temperature < 0 or self.top_k < 0 or not 0 < self.top_p <= 1:
            raise ConfigError(
                "sampler: need temperature >= 0, top_k >= 0 and 0 < top_p <= 1, got "
                f"{self.temperature}, {self.top_k}, {self.top_p}"
            )


def load_tokenizer(exp: Experiment, device="cpu") -> nn.Module:
    """The tokenizer run ``objective.tokenizer`` (its latest ``model`` weights), in eval
    mode; a clear error if it is missing or is not a VQ tokenizer that fits this model."""
    from genlab.runs import load_model

    path = Path(exp.objective.tokenizer)
    if not (path / "config.yaml").is_file() or not (path / "model.safetensors").is_file():
        raise ConfigError(
            f"objective.tokenizer: {path} is not a trained tokenizer run (no config.yaml / "
            f"model.safetensors); train one first, e.g. `genlab train "
            f"{'msvq' if exp.objective.kind == 'var' else 'vqvae'}-mnist --out {path}`"
        )
    tok_exp, tok = load_model(path, "model", device)
    t, m = tok_exp.model, exp.model
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
    return tok


def build(exp: Experiment) -> nn.Module:
    """The token model; checks the tokenizer run first (training and sampling need it).
    VAR copies the tokenizer's codebook (a saved run's weights then overwrite it)."""
    tok = load_tokenizer(exp)
    model = build_model(exp.model)
    if exp.objective.kind == "var":
        model.set_codebook(tok.books[0].codes.detach())
    return model


def token_loss(exp: Experiment):
    """Per-sample cross-entropy (nats per token, ``(B,)``) of the tokenizer's tokens."""
    tok = load_tokenizer(exp)
    null = null_cond(exp)
    drop = exp.objective.cond_drop

    def loss(model: nn.Module, batch: dict, generator) -> tuple[Tensor, dict]:
        x, cond = batch["x"], dict(batch.get("cond", {}))
        if next(tok.parameters()).device != x.device:
            tok.to(x.device)
        with torch.no_grad():
            tokens = tok.encode(x)  # (B, N)
        if "class" in cond and drop > 0:
            keep = torch.rand(len(x), generator=generator).to(x.device) >= drop
            cond["class"] = torch.where(keep, cond["class"], null["class"].to(x.device))
        logits = model(tokens, cond)  # (B, N, V)
        ce = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none").mean(1)
        acc = (logits.argmax(-1) == tokens).float().mean()
        return ce, {"nll_per_token": ce.mean().detach(), "accuracy": acc}

    return loss


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


TASKS = {
    "ar": Task(
        "tokens",
        TokenObjective,
        TokenSamplerConfig,
        build=build,
        sample=sample,
        loss=token_loss,
        null_cond=null_cond,
        doc="causal transformer (RoPE, KV cache) over VQ tokens",
    ),
    "var": Task(
        "tokens",
        VARObjective,
        TokenSamplerConfig,
        build=build,
        sample=sample,
        loss=token_loss,
        null_cond=null_cond,
        doc="VAR next-scale prediction over multi-scale VQ tokens",
    ),
}


# ----------------------------------------------------------------------------- recipes


def _train(steps: int) -> TrainConfig:
    return TrainConfig(
        steps=steps,
        batch_size=32,
        lr=2e-3,
        warmup_steps=100,
        weight_decay=0.01,
        ema_halflife=10_000.0,
        log_every=50,
        sample_every=500,
        num_samples=40,
        ckpt_every=500,
    )


def gpt(data: str = "mnist") -> Experiment:
    """Class-conditional GPT prior over the 7x7 (MNIST) / 8x8 (shapes) VQ tokens."""
    n, k = (49, 10) if data == "mnist" else (64, 5)
    return Experiment(
        data=_data(data),
        model=GPTConfig(vocab_size=256, seq_len=n, n_layer=3, n_embd=64, num_classes=k),
        objective=TokenObjective(tokenizer=f"runs/vqvae-{data}"),
        sampler=TokenSamplerConfig(cfg=1.0),
        train=_train(1500),
    )


def var(data: str = "mnist") -> Experiment:
    """Class-conditional VAR over the multi-scale tokenizer's scales."""
    scales, k = ((1, 2, 3, 4, 5, 7), 10) if data == "mnist" else ((1, 2, 4, 6, 8), 5)
    return Experiment(
        data=_data(data),
        model=VARConfig(
            vocab_size=256, code_dim=32, scales=scales, n_layer=3, n_embd=64, num_classes=k
        ),
        objective=VARObjective(tokenizer=f"runs/msvq-{data}"),
        sampler=TokenSamplerConfig(cfg=1.0),
        train=_train(1500),
    )


RECIPES = {
    "vq-gpt-mnist": Recipe(gpt, "class-conditional GPT over vqvae-mnist tokens"),
    "vq-gpt-shapes": Recipe(partial(gpt, "shapes"), "class-conditional GPT over vqvae-shapes"),
    "var-mnist": Recipe(var, "class-conditional VAR over msvq-mnist scales"),
    "var-shapes": Recipe(partial(var, "shapes"), "class-conditional VAR over msvq-shapes"),
}
