"""Recipes for the metric feature networks: domain classifiers trained by the shared loop.

``genlab train eval-mnist-classifier`` trains the MNIST classifier on test images
[0, 8000) (genlab's MNIST convention; [8000, 10000) stays held out) with random shifts
of up to 2 pixels. The run directory is the artifact that ``genlab.metrics.features``
loads (``--extractor RUN``); its fingerprint is the architecture plus the sha256 of the
EMA weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.data import DATASETS
from genlab.errors import ConfigError
from genlab.models import build_model, preset
from genlab.recipes.experiment import Experiment, TrainConfig
from genlab.recipes.tasks import Recipe, Task

MNIST_ROOT = "../shared/data/mnist"


@dataclass
class ClassifyConfig:
    """Cross-entropy over every head, with random-shift augmentation of the inputs."""

    kind: Literal["classify"] = "classify"
    shift: int = 0  # largest random translation in pixels (0: none)
    label_smoothing: float = 0.0

    def __post_init__(self):
        if self.shift < 0:
            raise ConfigError(f"objective.shift: must be >= 0, got {self.shift}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(
                f"objective.label_smoothing: must be in [0, 1), got {self.label_smoothing}"
            )


@dataclass
class ClassifierEvalConfig:
    """The ``sampler`` section of a classifier run: how it is applied at evaluation."""

    batch_size: int = 500

    def __post_init__(self):
        if self.batch_size < 1:
            raise ConfigError(f"sampler.batch_size: must be at least 1, got {self.batch_size}")


def random_shift(x: Tensor, shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image ``(B, C, H, W)`` by its own integer offset in
    ``[-shift, shift]^2``, filling with the background value -1."""
    if shift == 0:
        return x
    b, _, h, w = x.shape
    pad = F.pad(x, (shift,) * 4, value=-1.0)
    dy, dx = torch.randint(0, 2 * shift + 1, (2, b, 1), generator=generator).to(x.device)
    rows = (torch.arange(h, device=x.device) + dy)[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w, device=x.device) + dx)[:, None, :]  # (B, 1, W)
    out = pad[torch.arange(b, device=x.device)[:, None, None], :, rows, cols]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def classify_loss(
    model: nn.Module, batch: dict, generator: torch.Generator, *, shift: int, smoothing: float
):
    """Per-sample cross-entropy summed over heads ``(B,)``, and each head's accuracy."""
    x = random_shift(batch["x"], shift, generator)
    net = getattr(model, "module", model)  # DDP wraps the classifier
    heads = net.split(model(x))
    loss, logs = 0.0, {}
    for name, logits in heads.items():
        y = batch["cond"][name]
        ce = F.cross_entropy(logits.float(), y, reduction="none", label_smoothing=smoothing)
        loss = loss + ce
        logs[f"acc_{name}"] = (logits.argmax(1) == y).float().mean().detach()
    return loss, logs


def loss(exp: Experiment):
    o = exp.objective
    return lambda model, batch, g: classify_loss(
        model, batch, g, shift=o.shift, smoothing=o.label_smoothing
    )


def sample(model, exp, seeds, cond, scfg):
    raise ConfigError(
        f"{exp.recipe}: a classifier run does not generate samples; use it as "
        "`genlab eval ... --extractor RUN`"
    )


@torch.no_grad()
def preview(model: nn.Module, exp: Experiment, data) -> tuple[Tensor, int]:
    """Training images sorted by the first head's prediction: row k shows images
    predicted as class k (blank cells when fewer were found)."""
    x = data.x[:1024]
    pred = model.split(model(x.to(next(model.parameters()).device)))
    pred = next(iter(pred.values())).argmax(1).cpu()
    k, per = exp.model.heads[0], 8
    rows = []
    for c in range(k):
        got = x[pred == c][:per]
        fill = torch.full((per - len(got), *x.shape[1:]), -1.0)
        rows.append(torch.cat([got, fill]))
    return torch.cat(rows), per


TASKS = {
    "classify": Task(
        "classifier",
        ClassifyConfig,
        ClassifierEvalConfig,
        build=lambda exp: build_model(exp.model),
        sample=sample,
        loss=loss,
        preview=preview,
        cond_keys=lambda exp: tuple(exp.model.head_names),
        doc="cross-entropy classifier (metric feature networks)",
    ),
}


def _train(steps: int) -> TrainConfig:
    return TrainConfig(
        steps=steps,
        batch_size=128,
        lr=2e-3,
        warmup_steps=100,
        weight_decay=1e-4,
        ema_halflife=20_000,
        log_every=100,
        sample_every=0,
        num_samples=64,
        ckpt_every=1000,
    )


def mnist_classifier() -> Experiment:
    """MNIST digit classifier: test images [0, 8000), shifts of up to 2 pixels."""
    data = DATASETS["mnist"].config(root=MNIST_ROOT, split="test", start=0, stop=8000)
    return Experiment(
        recipe="eval-mnist-classifier",
        data=data,
        model=preset("classifier-mnist"),
        objective=ClassifyConfig(shift=2),
        sampler=ClassifierEvalConfig(),
        train=_train(1200),
    )


def digits_classifier() -> Experiment:
    """8x8 digits classifier on the ``digits`` train split (test split held out)."""
    return Experiment(
        recipe="eval-digits-classifier",
        data=DATASETS["digits"].config(split="train"),
        model=preset("classifier-digits"),
        objective=ClassifyConfig(shift=1),
        sampler=ClassifierEvalConfig(),
        train=_train(1500),
    )


def shapes_classifier() -> Experiment:
    """Four-head classifier of the ``shapes`` attributes (seed 0; other seeds are held out)."""
    return Experiment(
        recipe="eval-shapes-classifier",
        data=DATASETS["shapes"].config(),
        model=preset("classifier-shapes"),
        objective=ClassifyConfig(shift=0),
        sampler=ClassifierEvalConfig(),
        train=_train(800),
    )


RECIPES = {
    "eval-mnist-classifier": Recipe(mnist_classifier, "MNIST digit classifier for metrics"),
    "eval-digits-classifier": Recipe(digits_classifier, "8x8 digits classifier for metrics"),
    "eval-shapes-classifier": Recipe(
        shapes_classifier, "shapes attribute classifier (shape/colour/size/position)"
    ),
}
