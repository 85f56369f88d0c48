"""Checkpoints: safetensors for tensors, JSON for the rest, every write atomic.

A run directory holds the latest weights at its top level and the last K complete
checkpoints below ``checkpoints/``::

    RUN/config.yaml            the resolved experiment
    RUN/model.safetensors      latest weights (hard link into the newest checkpoint)
    RUN/ema.safetensors        latest EMA weights
    RUN/state -> checkpoints/step_00001000/state   (symlink, swapped atomically)
    RUN/checkpoints/step_00001000/{model,ema}.safetensors, state/{optimizer.pt,trainer.json}

A checkpoint directory is written under a temporary name and renamed into place, so it
is either complete or absent. Resuming reads the newest complete checkpoint. Nothing is
ever unpickled: optimizer state is loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from genlab.errors import CheckpointError

_STEP = re.compile(r"^step_(\d{8,})$")


def _tensors(state: dict) -> dict:
    """A state dict safetensors can store: contiguous, unshared CPU tensors."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def save_tensors(state: dict, path: Path) -> None:
    """Write a ``{name: tensor}`` dict to ``path`` atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(_tensors(state), str(tmp))
    os.replace(tmp, path)


def load_tensors(path: Path) -> dict:
    """Read a safetensors file; a missing or corrupt file is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint ({e})") from None


def load_into(module: torch.nn.Module, path: Path) -> None:
    """Load weights from ``path`` into ``module``; keys and shapes must match exactly."""
    state = load_tensors(path)
    own = module.state_dict()
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    bad = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or extra or bad:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected keys (e.g. {extra[0]})")
        if bad:
            k = bad[0]
            parts.append(
                f"shape of {k} is {tuple(state[k].shape)}, model wants {tuple(own[k].shape)}"
            )
        raise CheckpointError(
            f"{path}: does not match the model in config.yaml: {'; '.join(parts)}"
        )
    module.load_state_dict(state)


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first, as ``(step, directory)``."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP.match(p.name))]
    return sorted(found)


def save_checkpoint(
    run_dir: Path, step: int, weights: dict[str, dict], optim: dict, trainer: dict, keep_last: int
) -> Path:
    """Write checkpoint ``step`` atomically, point the run's top level at it, prune old ones.

    Args:
        weights: ``{"model": state_dict, "ema": state_dict, ...}``, one safetensors each.
        optim: ``{"optimizer": state_dict, ...}`` (tensors and plain values only).
        trainer: JSON-able loop state (``step``, samples seen, ...).
    """
    run_dir = Path(run_dir)
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp_step_{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "state").mkdir(parents=True)
    for name, state in weights.items():
        save_file(_tensors(state), str(tmp / f"{name}.safetensors"))
    for name, state in optim.items():
        torch.save(state, tmp / "state" / f"{name}.pt")
    (tmp / "state" / "trainer.json").write_text(json.dumps(trainer, indent=1))
    if final.exists():  # re-saving a step (e.g. after a resume): replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    _point_top_level(run_dir, final, list(weights))
    for _, old in checkpoints(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _point_top_level(run_dir: Path, ckpt: Path, names: list[str]) -> None:
    """Atomically replace RUN/<name>.safetensors (hard links) and RUN/state (symlink)."""
    for name in names:
        link = run_dir / f".{name}.safetensors.tmp"
        link.unlink(missing_ok=True)
        os.link(ckpt / f"{name}.safetensors", link)
        os.replace(link, run_dir / f"{name}.safetensors")
    tmp = run_dir / ".state.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(ckpt / "state", run_dir), tmp)
    os.replace(tmp, run_dir / "state")


def load_checkpoint(run_dir: Path) -> tuple[Path, dict]:
    """The newest complete checkpoint directory of a run and its trainer state."""
    found = checkpoints(run_dir)
    if not found:
        raise CheckpointError(f"{run_dir}: has no checkpoint to resume from")
    _, ckpt = found[-1]
    path = ckpt / "state" / "trainer.json"
    try:
        trainer = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable trainer state ({e})") from None
    return ckpt, trainer


def load_optimizer_state(path: Path) -> dict:
    """Optimizer state saved by :func:`save_checkpoint`, loaded without unpickling code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure here means a bad file
        raise CheckpointError(f"{path}: corrupt optimizer state ({type(e).__name__})") from None
