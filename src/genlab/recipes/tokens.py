"""Token-model recipes: a GPT prior over VQ tokens and VAR over multi-scale tokens, on
MNIST and shapes; each names the tokenizer run it reads. Plain values only: the family
(``genlab.families.tokens``) trains and samples them."""

from __future__ import annotations

from functools import partial

from genlab.experiment import Experiment, TrainConfig
from genlab.models.configs import GPTConfig, VARConfig
from genlab.objectives.configs import TokenObjective, VARObjective
from genlab.recipes.base import Recipe
from genlab.recipes.vae import _data
from genlab.sampling.configs import TokenSamplerConfig


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
