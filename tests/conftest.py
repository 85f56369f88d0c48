"""Shared test set-up: one torch thread per pytest worker (``make test`` runs two
workers on two cores), the repository's paths, and tiny experiments that train in
seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# ../shared/data beside the repository (or beside a parent, for git worktrees).
SHARED_DATA = next(
    (p / "shared" / "data" for p in REPO.parents if (p / "shared" / "data").is_dir()),
    REPO.parent / "shared" / "data",
)

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def mnist_dir() -> Path:
    """The official MNIST test files in ../shared/data/mnist (skips when absent)."""
    d = SHARED_DATA / "mnist"
    if not (d / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST data not found at {d}")
    return d


def tiny_overrides(steps: int = 20, **extra) -> list[str]:
    """Overrides that make a recipe train in about a second: a small model and data,
    no TensorBoard, logs every step."""
    base = {
        "train.steps": steps,
        "train.batch_size": 32,
        "train.log_every": 1,
        "train.sample_every": 0,
        "train.num_samples": 16,
        "train.ckpt_every": steps,
        "train.warmup_steps": 2,
        "train.tensorboard": "false",
        "sampler.steps": 4,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


@pytest.fixture
def tiny_moons():
    """A class-conditional rectified-flow MLP on 512 points of the two moons."""
    from genlab.recipes import get_recipe
    from genlab.runs import override

    def make(steps: int = 20, **extra):
        ov = tiny_overrides(steps, **{"data.n": 512, "model.hidden": 32, "model.depth": 2, **extra})
        return override(get_recipe("rf-moons"), ov)

    return make
