"""Few-step students of the rectified-flow teachers (``rf-digits``, ``rf-mnist``): reflow,
its one-step distillation, a round of progressive distillation, consistency distillation
and the adversarial one-step student (also as a DCGAN generator of its own). Each names
the teacher run it reads (train that first). Plain values only: the family
(``genlab.families.distill``) trains them."""

from __future__ import annotations

import dataclasses
import math
from functools import partial

from genlab.experiment import Experiment, TrainConfig
from genlab.models import preset
from genlab.objectives.configs import (
    AdversarialConfig,
    ConsistencyConfig,
    ProgressiveConfig,
    ReflowConfig,
)
from genlab.recipes.base import Recipe
from genlab.recipes.diffusion import digits, mnist
from genlab.sampling.configs import DiffusionSamplerConfig

# objective.kind -> (objective, default sampler); the teacher is filled in per dataset
METHODS = {
    "reflow": (ReflowConfig, DiffusionSamplerConfig(name="euler", steps=4)),
    "reflow-distill": (
        partial(ReflowConfig, student_steps=1),
        DiffusionSamplerConfig(name="euler", steps=1),
    ),
    "pd": (
        partial(ProgressiveConfig, student_steps=16),
        DiffusionSamplerConfig(name="euler", steps=16),
    ),
    "cd": (ConsistencyConfig, DiffusionSamplerConfig(name="consistency", steps=1)),
    "adv": (AdversarialConfig, DiffusionSamplerConfig(name="consistency", steps=1)),
}


def _train(steps: int, batch: int, lr: float, every: int) -> TrainConfig:
    return TrainConfig(
        steps=steps,
        batch_size=batch,
        lr=lr,
        warmup_steps=20,
        min_lr_ratio=1.0,  # fine-tuning from the teacher: a constant rate
        ema_halflife=2_000,
        ema_rampup=0.05,
        log_every=25,
        sample_every=every,
        num_samples=100,
        ckpt_every=every,
    )


def student(method: str, data: str) -> Experiment:
    """The ``method`` student (``METHODS``) of the ``rf-{data}`` teacher; reflow-distill
    reads ``runs/reflow-{data}`` (the straightened flow) instead."""
    base = digits("rf") if data == "digits" else mnist("rf")
    teacher = f"runs/reflow-{data}" if method == "reflow-distill" else f"runs/rf-{data}"
    make, sampler = METHODS[method]
    # a student teacher has its guidance built in: it is not guided again
    objective = make(teacher=teacher, teacher_cfg=0.0 if method == "reflow-distill" else 1.0)
    if data == "digits":
        train = _train(600, 128, 2e-4, 200)
    else:
        train = _train(400, 64, 1e-4, 200)
    if method == "adv":
        train.lr = objective.g_lr
    return Experiment(
        recipe=f"{method}-{data}",
        data=base.data,
        model=base.model,
        objective=objective,
        sampler=sampler,
        train=train,
    )


def scratch_student(net: str, data: str) -> Experiment:
    """The adversarial student as a network of its own (``objective.init=scratch``),
    trained from scratch on the teacher's pairs for 2,000 steps (Adam betas 0.5 / 0.999):

    - ``small``: a U-Net of width 8, widths x1, x4, x4, no attention (0.23M parameters on
      MNIST, against the teacher's 1.1M-4.7M), regression weight 10, rate 5e-4. It keeps
      the teacher's parametrisation (``G(z) = z - v(z, 1)``), so the noise reaches the
      output directly. On MNIST 0.6x the DCGAN generator's speed (docs/distill.md).
    - ``dcgan``: the DCGAN generator, ``G(z)`` reading the teacher's noise flattened
      (``z_dim`` = the image's size), regression weight 1, the DCGAN's rate 2e-4. One GAN
      forward pass a sample.
    """
    base = digits("rf") if data == "digits" else mnist("rf")
    if net == "small":
        model = dataclasses.replace(base.model, channels=8, channel_mult=(1, 4, 4), attn_levels=())
        lr, reg = 5e-4, 10.0
    else:
        model = preset("dcgan-8" if data == "digits" else "dcgan-28")
        model.num_classes = base.model.num_classes
        size = math.prod(base.model.input_shape())
        model.generator = dataclasses.replace(model.generator, z_dim=size)
        lr, reg = 2e-4, 1.0
    objective = AdversarialConfig(
        teacher=f"runs/rf-{data}", init="scratch", g_lr=lr, d_lr=2e-4, betas=(0.5, 0.999),
        reg_weight=reg,
    )  # fmt: skip
    return Experiment(
        recipe=f"adv-{net}-{data}",
        data=base.data,
        model=model,
        objective=objective,
        sampler=DiffusionSamplerConfig(name="consistency", steps=1),
        train=_train(2000, 128 if data == "digits" else 64, lr, 500),
    )


_DOCS = {
    "reflow": "reflow: rectified flow on the teacher's (noise, sample) pairs",
    "reflow-distill": "one-step distillation of the reflow run (Liu et al. 2022)",
    "pd": "a round of progressive distillation (student_steps; chain rounds)",
    "cd": "consistency distillation, pseudo-Huber + curriculum (1/2/4-step sampling)",
    "adv": "one-step generator from the teacher, GAN loss + R1 + regression",
}

RECIPES = {
    f"{m}-{d}": Recipe(
        partial(student, m, d), f"{_DOCS[m]}, of {'reflow' if m == 'reflow-distill' else 'rf'}-{d}"
    )
    for d in ("digits", "mnist")
    for m in METHODS
}
_SCRATCH = {
    "small": "one-step U-Net of width 8 from scratch",
    "dcgan": "one-step DCGAN generator from scratch",
}
for _d in ("digits", "mnist"):
    for _net, _what in _SCRATCH.items():
        RECIPES[f"adv-{_net}-{_d}"] = Recipe(
            partial(scratch_student, _net, _d),
            f"{_what}, GAN loss + R1 + regression, of rf-{_d}",
        )
