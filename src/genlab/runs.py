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


def discard_unstarted(out: Path) -> bool:
    """Remove a new run directory that a failure left with nothing trained in it.

    Called when a new run fails (say, a tokenizer run it names is missing): if no
    checkpoint and no logged step exist, the directory holds only the config this run
    wrote, so removing it leaves the disk as it was. Returns whether it was removed.
    """
    import shutil

    from genlab.train.checkpoint import checkpoints

    metrics = out / "metrics.jsonl"
    if not out.is_dir() or checkpoints(out) or (metrics.is_file() and metrics.stat().st_size):
        return False
    shutil.rmtree(out)
    return True


def fit(
    exp: Experiment,
    out: str | Path,
    *,
    resume: bool = False,
    overrides: list[str] = (),
    write: bool = True,
) -> Path:
    """Train ``exp`` into run directory ``out`` (or continue it with ``resume=True``).

    The Python twin of ``genlab train``: the same checks, files and exact resume. Only a
    process with ``write`` (rank 0 under torchrun) writes the config or cleans up a new
    run that failed before training anything.
    """
    from genlab.train import loop

    out = Path(out)
    created = not resume and not out.exists()
    exp, out = prepare_run(exp, out, resume=resume, overrides=list(overrides), write=write)
    try:
        return loop.fit(exp, out, resume=resume)
    except GenlabError:
        if created and write:
            discard_unstarted(out)  # nothing trained: leave no half-made run behind
        raise


def sampler_config(exp: Experiment, overrides: list[str] = (), **fields):
    """The run's sampler config with ``fields`` (e.g. ``steps=10``; None = keep) and
    ``key=value`` overrides applied and re-checked."""
    import dataclasses

    scfg = dataclasses.replace(exp.sampler)
    for name, value in fields.items():
        if value is None:
            continue
        if not hasattr(scfg, name):
            raise ConfigError(f"sampler.{name}: does not apply to '{exp.objective.kind}' runs")
        setattr(scfg, name, value)
    return C.revalidate(C.apply_overrides(scfg, list(overrides)))


def class_cond(k: int, n: int, cls: int | None) -> tuple[dict, int | None]:
    """Labels for ``n`` samples of a ``k``-class run: all ``cls``, or contiguous blocks of
    every class (then also the row width that puts one class per row)."""
    if cls is not None:
        if not k:
            raise ConfigError("--class: this run is not class-conditional")
        if not 0 <= cls < k:
            raise ConfigError(f"--class: {cls} is out of range; the run has classes 0..{k - 1}")
        return {"class": torch.full((n,), cls, dtype=torch.int64)}, None
    if not k:
        return {}, None
    label = torch.arange(n) * k // n
    return {"class": label}, -(-n // k)


def sample(
    run_dir: str | Path,
    n: int = 64,
    seed: int = 0,
    *,
    cls: int | None = None,
    weights: str = "ema",
    device: str | torch.device = "cpu",
    overrides: list[str] = (),
    **sampler_fields,
) -> torch.Tensor:
    """``(n, *shape)`` samples from a trained run; sample i depends only on seed ``seed + i``.

    Args:
        cls: class label for every sample; None spreads the classes in contiguous blocks.
        sampler_fields: sampler settings such as ``name="heun", steps=10, cfg=2.0``.
        overrides: further ``key=value`` sampler settings.
    """
    return sample_with_cond(
        run_dir,
        n,
        seed,
        cls=cls,
        weights=weights,
        device=device,
        overrides=overrides,
        **sampler_fields,
    )[0]


def draw(model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg, batch=0):
    """``(len(seeds), *shape)`` samples on the CPU, ``batch`` at a time (0: all at once);
    ``cond`` holds one row per seed. Sample i depends only on ``seeds[i]``."""
    task = get_task(exp.objective.kind)
    dev = next(model.parameters()).device
    step = batch or len(seeds)
    chunks = []
    for lo in range(0, len(seeds), step):
        c = {k: v[lo : lo + step].to(dev) for k, v in cond.items()}
        chunks.append(task.sample(model, exp, seeds[lo : lo + step], c, scfg).cpu())
    return torch.cat(chunks)


def sample_with_cond(run_dir, n, seed, *, cls, weights, device, overrides, **sampler_fields):
    """:func:`sample`, also returning the conditioning used and a grid row width."""
    if n < 1:
        raise ConfigError(f"--n: must be at least 1, got {n}")
    exp, model = load_model(Path(run_dir), weights, device)
    scfg = sampler_config(exp, overrides, **sampler_fields)
    cond, nrow = class_cond(getattr(exp.model, "num_classes", 0), n, cls)
    x = draw(model, exp, [seed + i for i in range(n)], cond, scfg)
    return x, cond, nrow, exp
