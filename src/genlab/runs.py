"""Run directories: create one without touching anything that exists, load one back.

See ``genlab.train.checkpoint`` for the files a run holds.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from genlab import config as C
from genlab.errors import CheckpointError, ConfigError, GenlabError
from genlab.recipes import Experiment, experiment_from_dict, get_task, override
from genlab.train.checkpoint import load_into


def load_experiment(run_dir: Path) -> Experiment:
    """The resolved experiment stored in ``RUN/config.yaml``."""
    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: not a genlab run (no config.yaml)")
    try:
        return experiment_from_dict(C.load_yaml(path), str(path))
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None


def prepare_run(
    exp: Experiment, out: Path, *, resume: bool, overrides: list[str], write: bool = True
) -> tuple[Experiment, Path]:
    """Check the run directory and write ``config.yaml``; return the experiment to train.

    A new run refuses an existing non-empty directory (checked by the writing rank only).
    ``resume`` needs an existing run; its stored config is used, and only ``train.*``
    overrides (say, more ``train.steps``) may change it.
    """
    out = Path(out)
    if resume:
        stored = load_experiment(out)
        bad = [o for o in overrides if not o.split("=", 1)[0].strip().startswith("train.")]
        if bad:
            raise ConfigError(
                f"{bad[0].split('=', 1)[0]}: only train.* settings can change when resuming {out}"
            )
        exp = override(stored, overrides)
        if write and exp != stored:
            C.save_yaml(exp, out / "config.yaml")
        return exp, out
    # Only the writing rank checks: under torchrun, rank 0 may already have created `out`.
    if write and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GenlabError(
            f"{out}: already exists; pass --resume to continue it, "
            "or --out to start a new run elsewhere"
        )
    if write:
        out.mkdir(parents=True, exist_ok=True)
        C.save_yaml(exp, out / "config.yaml")
    return exp, out


def load_model(
    run_dir: Path, weights: str = "ema", device: str | torch.device = "cpu"
) -> tuple[Experiment, nn.Module]:
    """The experiment and its network with ``weights`` ("ema" or "model") loaded, in eval mode."""
    if weights not in ("ema", "model"):
        raise ConfigError(f"--weights: expected 'ema' or 'model', got {weights!r}")
    exp = load_experiment(run_dir)
    path = Path(run_dir) / f"{weights}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (has the run saved a checkpoint yet?)")
    model = get_task(exp.objective.kind).build(exp)
    load_into(model, path)
    return exp, model.to(device).eval()
