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

:func:`load_network` loads another run's network (a codec, a tokenizer, a teacher, a
metric's classifier) from its ``config.yaml`` model section and weights alone: no family,
no training code, once per process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from genlab.errors import CheckpointError, ConfigError

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


def check_state(module: torch.nn.Module, state: dict, source: str | Path) -> None:
    """Raise :class:`CheckpointError` naming ``source`` unless ``state`` has exactly the
    keys and shapes of ``module``'s state dict."""
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
            f"{source}: does not match the model in config.yaml: {'; '.join(parts)}"
        )


def load_into(module: torch.nn.Module, path: Path, state: dict | None = None) -> None:
    """Load weights from ``path`` (or ``state``, read from it already) into ``module``;
    keys and shapes must match exactly (else :class:`CheckpointError` naming the file)."""
    state = load_tensors(path) if state is None else state
    check_state(module, state, path)
    module.load_state_dict(state)


def warm_start(module: torch.nn.Module, path: Path) -> list[str]:
    """Load the weights at ``path`` into ``module`` for fine-tuning: every tensor in the
    file must exist in ``module`` with its shape, while parameters the file lacks (layers
    added to the base network, e.g. a zero-initialised inpainting input) keep their
    initialisation. Returns the names of those.

    Raises:
        CheckpointError: the file is missing or unreadable, or holds a key ``module``
            lacks or a tensor of another shape (the message names the file and key).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (train.init_from must be a trained run)")
    state = load_tensors(path)
    own = module.state_dict()
    extra = sorted(set(state) - set(own))
    bad = [k for k in state if k in own and own[k].shape != state[k].shape]
    if extra or bad:
        k = (extra or bad)[0]
        why = "is not in this network"
        if not extra:
            why = f"has shape {tuple(state[k].shape)}, this network wants {tuple(own[k].shape)}"
        elif any(o.removeprefix("net.") == k.removeprefix("net.") for o in own):
            why += " (one of the two is wrapped in EDM preconditioning: objective.precond differs)"
        raise CheckpointError(f"{path}: cannot initialise this network from it: {k} {why}")
    module.load_state_dict(state, strict=False)
    return sorted(set(own) - set(state))


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first, as ``(step, directory)``."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP.match(p.name))]
    return sorted(found)


def last_step(run_dir: Path) -> int:
    """The step of the newest complete checkpoint of a run (0 if it has none)."""
    found = checkpoints(run_dir)
    return found[-1][0] if found else 0


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
        raise CheckpointError(
            f"{run_dir}: has no checkpoint to resume from (it stopped before its first "
            "checkpoint); delete the directory and train it again"
        )
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


# ------------------------------------------------------------------ another run's network


def weights_digest(state: dict) -> str:
    """sha256 (64 hex) over a state dict's names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for k in sorted(state):
        v = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.numpy().tobytes() if v.dtype != torch.bfloat16 else v.float().numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Network:
    """A trained run's network, frozen, as another run or a metric uses it.

    Attributes:
        module: the network in eval mode with ``requires_grad=False``; shared by every
            caller in this process (do not modify it).
        config: the run's ``config.yaml`` as a plain dict.
        model: the typed ``model`` section (``model.arch``'s config dataclass).
        fingerprint: ``sha256[:16]`` of the loaded weights (:func:`weights_digest`).
        run_dir: the run directory; ``weights``: "ema" or "model".
    """

    module: torch.nn.Module
    config: dict
    model: Any
    fingerprint: str
    run_dir: Path
    weights: str


_NETWORKS: dict[tuple, Network] = {}


def _with_text_encoder(
    net: torch.nn.Module, text: dict, data: dict, cfg_path: Path
) -> torch.nn.Module:
    """``net`` wrapped with the trained text encoder its config's ``text`` and ``data``
    sections describe (``genlab.models.text``)."""
    import genlab.config as C
    from genlab.data import dataset_config
    from genlab.experiment import TextConfig
    from genlab.models.text import TextConditioned, trained_text_encoder

    try:
        tcfg = C.from_dict(TextConfig, text, "text")
        data_cfg = C.from_dict(dataset_config(data.get("name", "")), data, "data")
        return TextConditioned(net, trained_text_encoder(tcfg, data_cfg))
    except ConfigError as e:
        raise CheckpointError(f"{cfg_path}: {e}") from None


def load_network(
    run_dir: str | Path, weights: str = "ema", device="cpu", config_from: str | Path | None = None
) -> Network:
    """The network of run ``run_dir`` with its ``weights`` ("ema" or "model") loaded.
    ``config_from``: read the config of that run instead (for one of its kept
    checkpoints, ``RUN/checkpoints/step_N``, which hold weights only).

    Needs only ``config.yaml`` and the weights file: the model section picks the
    architecture (``genlab.models``), and ``objective.precond: edm`` wraps it in the EDM
    preconditioner its weights were trained under. Loaded once per process: a second call
    for the same file (same path, size and modification time) on the same device returns
    the same :class:`Network`.

    Raises:
        CheckpointError: the directory, its config or the weights file is missing or
            unreadable, or the weights do not match the model section.
    """
    import genlab.config as C
    from genlab.models import build_model, model_config

    if weights not in ("ema", "model"):
        raise ConfigError(f"weights: expected 'ema' or 'model', got {weights!r}")
    run_dir = Path(run_dir)
    cfg_path, path = run_dir / "config.yaml", run_dir / f"{weights}.safetensors"
    if config_from is not None:  # a kept checkpoint RUN/checkpoints/step_N: RUN's config
        cfg_path = Path(config_from) / "config.yaml"
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run directory")
    if not cfg_path.is_file():
        raise CheckpointError(f"{run_dir}: not a genlab run (no config.yaml)")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (has the run saved a checkpoint yet?)")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, str(torch.device(device)))
    if key in _NETWORKS:
        return _NETWORKS[key]
    raw = C.load_yaml(cfg_path)
    model_raw = raw.get("model") if isinstance(raw, dict) else None
    if not isinstance(model_raw, dict) or "arch" not in model_raw:
        raise CheckpointError(f"{cfg_path}: has no model section with an arch")
    try:
        model_cfg = C.from_dict(model_config(model_raw["arch"]), model_raw, "model")
    except ConfigError as e:
        raise CheckpointError(f"{cfg_path}: {e}") from None
    net = build_model(model_cfg)
    objective = raw.get("objective") or {}
    if objective.get("precond") == "edm":
        from genlab.paths import EDMPrecond, build_path

        net = EDMPrecond(net, build_path(objective["path"]), objective["sigma_data"])
    text = raw.get("text") or {}
    if text.get("encoder") in ("words", "attributes"):  # its text encoder trained with it
        net = _with_text_encoder(net, text, raw.get("data") or {}, cfg_path)
    lora = raw.get("lora") or {}
    if lora.get("rank"):  # a LoRA run's weights hold its base's and the adapters'
        from genlab.adapters.lora import add_lora
        from genlab.experiment import LoRAConfig

        try:
            add_lora(net, C.from_dict(LoRAConfig, lora, "lora"))
        except ConfigError as e:
            raise CheckpointError(f"{cfg_path}: {e}") from None
    state = load_tensors(path)
    load_into(net, path, state)
    net = net.to(device).eval().requires_grad_(False)
    found = Network(net, raw, model_cfg, weights_digest(state)[:16], run_dir, weights)
    _NETWORKS[key] = found
    return found
