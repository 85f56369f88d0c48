"""Recipes for the metric feature networks: domain classifiers trained by the shared loop.

``genlab train eval-mnist-classifier`` trains the MNIST classifier on test images
[0, 8000) (genlab's MNIST convention; [8000, 10000) stays held out) with random shifts
of up to 2 pixels. The run directory is the artifact that ``genlab.metrics.features``
loads (``--extractor RUN``); its fingerprint is the architecture plus the sha256 of the
EMA weights.

``genlab train eval-moving-mnist-classifier`` trains the 3-D CNN whose features genlab's
Frechet video distance compares (``genlab.metrics.video``), on the labels Moving MNIST
gives for free: which digits are in a clip and which ways they start moving (two
multi-label heads).
"""

from __future__ import annotations

import dataclasses

from genlab.data import DATASETS
from genlab.data.configs import MNIST_ROOT, TRAIN_STOP, caption_words
from genlab.experiment import Experiment, TrainConfig
from genlab.models import preset
from genlab.models.configs import DualEncoderConfig
from genlab.objectives.configs import ClassifyConfig, ContrastiveConfig
from genlab.recipes.base import Recipe
from genlab.recipes.video import SMALL_MOVING_MNIST
from genlab.sampling.configs import ClassifierEvalConfig


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
    data = DATASETS["mnist"].config(root=MNIST_ROOT, split="test", start=0, stop=TRAIN_STOP)
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


def fsdd_classifier() -> Experiment:
    """Spoken-digit classifier of the Free Spoken Digit Dataset (``../shared/data/fsdd``):
    a log-mel CNN with a digit head and a speaker head, trained on takes 5-49 with random
    shifts of up to 0.1 s; takes 0-4 are held out (``benchmarks/eval_classifiers.py``).
    Label smoothing 0.1 keeps its probabilities usable by the scores built on them (IS,
    modified IS, AM): trained without it, the same network put ~30 nats between the
    predictions of two different real digits, so real audio's modified IS was 2.7e14."""
    exp = Experiment(
        recipe="eval-fsdd-classifier",
        data=DATASETS["fsdd"].config(),
        model=preset("classifier-fsdd"),
        objective=ClassifyConfig(shift=800, label_smoothing=0.1),
        sampler=ClassifierEvalConfig(),
        train=_train(1500),
    )
    exp.train.batch_size, exp.train.threads = 64, 1
    return exp


def moving_mnist_classifier() -> Experiment:
    """3-D CNN of Moving MNIST clips ``(1, 20, 64, 64)`` with two multi-label heads: the
    digits present (10 classes, from ``cond["digits"]``) and the octants of their initial
    velocities (8, from ``cond["directions"]``), each trained by binary cross-entropy on
    the multi-hot set (the two slots are unordered). No shifts: the digits already wander
    over the whole frame. 10,000 clips in memory (3.3 GB float32), 2,000 steps of 32."""
    exp = Experiment(
        recipe="eval-moving-mnist-classifier",
        data=DATASETS["moving-mnist"].config(),
        model=preset("classifier-moving-mnist"),
        objective=ClassifyConfig(shift=0),
        sampler=ClassifierEvalConfig(batch_size=64),
        train=_train(2000),
    )
    exp.train.batch_size = 32
    return exp


def moving_mnist_small_classifier() -> Experiment:
    """:func:`moving_mnist_classifier` on the clips of ``dit-moving-mnist-small`` (one
    14x14 digit on a 32x32 canvas, 20 frames): its FVD features. 2,000 steps of 32."""
    exp = moving_mnist_classifier()
    exp.recipe = "eval-moving-mnist-small-classifier"
    exp.data = DATASETS["moving-mnist"].config(**SMALL_MOVING_MNIST)
    exp.model = dataclasses.replace(exp.model, image_size=exp.data.image_size)
    return exp


def shapes_clip() -> Experiment:
    """A CLIP-style dual encoder of ``shapes`` images and captions (every combination;
    seed 0, other seeds held out), the feature network of ``--metrics clip``: the
    classifier's CNN and a 2-block word transformer into a 64-d space, CLIP's symmetric
    contrastive loss."""
    data = DATASETS["shapes"].config()
    exp = Experiment(
        recipe="clip-shapes",
        data=data,
        model=DualEncoderConfig(vocab=caption_words(data)),
        objective=ContrastiveConfig(),
        sampler=ClassifierEvalConfig(),
        train=_train(1500),
    )
    exp.train.lr, exp.train.ema_halflife = 1e-3, 2_000
    return exp


RECIPES = {
    "eval-mnist-classifier": Recipe(mnist_classifier, "MNIST digit classifier for metrics"),
    "eval-digits-classifier": Recipe(digits_classifier, "8x8 digits classifier for metrics"),
    "eval-shapes-classifier": Recipe(
        shapes_classifier, "shapes attribute classifier (shape/colour/size/position)"
    ),
    "eval-fsdd-classifier": Recipe(
        fsdd_classifier, "spoken-digit classifier (log-mel CNN; digit and speaker heads)"
    ),
    "eval-moving-mnist-classifier": Recipe(
        moving_mnist_classifier, "Moving MNIST 3-D CNN (digits and directions present) for FVD"
    ),
    "eval-moving-mnist-small-classifier": Recipe(
        moving_mnist_small_classifier,
        "3-D CNN of one-digit 32x32 Moving MNIST (dit-moving-mnist-small's FVD features)",
    ),
    "clip-shapes": Recipe(shapes_clip, "CLIP-style dual encoder of shapes images and captions"),
}
