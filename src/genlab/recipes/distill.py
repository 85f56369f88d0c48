"""Few-step students of the rectified-flow teachers (``rf-digits``, ``rf-mnist``): reflow,
its one-step distillation, a round of progressive distillation, consistency distillation
and the adversarial one-step student. Each names the teacher run it reads (train that
first). Plain values only: the family (``genlab.families.distill``) trains them."""

from __future__ import annotations

from functools import partial

from genlab.experiment import Experiment, TrainConfig
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
