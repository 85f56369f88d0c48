"""Class labels for the samples of a class-conditional run: spread over the classes by
seed, or, for a self-conditioned run (``data.label=cluster``: classes found in the data,
``genlab.data.clusters``), drawn from the training frequencies, which the run keeps in
``RUN/class_prior.json`` (:func:`pin_class_prior`). Sample ``i`` of seed ``S`` depends on
``S + i`` alone."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import genlab.config as C
from genlab.data import build_dataset
from genlab.errors import CheckpointError, ConfigError
from genlab.experiment import Experiment
from genlab.rng import keyed


def class_cond(
    k: int, n: int, cls: int | None, seed: int = 0, prior: torch.Tensor | None = None
) -> tuple[dict, int | None]:
    """Labels for the ``n`` samples of seeds ``seed .. seed + n - 1`` of a ``k``-class run:
    all ``cls``, or the sample of seed ``s`` gets class ``s % k`` (so a sample depends only
    on its seed, whatever ``--n``); also the row width that puts one class per row once
    sorted by class. With a ``prior`` ``(k,)`` (class frequencies, :func:`class_prior`)
    and no ``cls``, the sample of seed ``s`` draws its class from it instead, by ``s``
    alone (a self-conditioned run's unconditional samples)."""
    if cls is not None:
        if not k:
            raise ConfigError("--class: this run is not class-conditional")
        if not 0 <= cls < k:
            raise ConfigError(f"--class: {cls} is out of range; the run has classes 0..{k - 1}")
        return {"class": torch.full((n,), cls, dtype=torch.int64)}, None
    if not k:
        return {}, None
    if prior is not None:
        u = torch.cat([torch.rand(1, generator=keyed(_PRIOR_KEY, seed + i)) for i in range(n)])
        drawn = torch.searchsorted(prior.double().cumsum(0), u.double())
        return {"class": drawn.clamp(max=k - 1)}, None
    return {"class": (seed + torch.arange(n)) % k}, -(-n // k)


CLASS_PRIOR = "class_prior.json"  # RUN/class_prior.json: a self-conditioned run's clusters
_PRIOR_KEY = 0x5E1FC  # the class draws of a self-conditioned run's samples
_PRIORS: dict[str, torch.Tensor] = {}  # data config -> clips per class


def _class_counts(exp: Experiment) -> torch.Tensor:
    """``(num_classes,)`` training clips per class, from the data (cached per config)."""
    key = repr(exp.data)
    if key not in _PRIORS:
        labels = build_dataset(exp.data).cond["class"]
        _PRIORS[key] = torch.bincount(labels, minlength=exp.model.num_classes)
    return _PRIORS[key]


def pin_class_prior(exp: Experiment, run_dir: Path) -> None:
    """As a self-conditioned run (``data.label=cluster``) starts, store the training
    clips of each cluster in ``RUN/class_prior.json``, so that sampling it needs neither
    the data nor the same k-means; nothing for other runs."""
    if getattr(exp.data, "label", None) == "cluster":
        if exp.model.num_classes != exp.data.clusters:
            raise ConfigError(
                f"model.num_classes: {exp.model.num_classes}, but data.label=cluster "
                f"conditions on data.clusters={exp.data.clusters} clusters; make them equal"
            )
        counts = {"counts": _class_counts(exp).tolist()}
        C.atomic_write_text(Path(run_dir) / CLASS_PRIOR, json.dumps(counts) + "\n")


def _read_counts(path: Path, k: int) -> torch.Tensor:
    """``(k,)`` float64 counts from a ``class_prior.json``; CheckpointError (one line
    naming the file) when it is unreadable or not ``k`` finite counts >= 0, some > 0."""
    try:
        counts = torch.tensor(json.loads(path.read_text())["counts"], dtype=torch.float64)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: not a class_prior.json ({type(e).__name__})") from None
    ok = counts.shape == (k,) and bool(torch.isfinite(counts).all()) and counts.min() >= 0
    if not ok or counts.sum() <= 0:
        raise CheckpointError(
            f"{path}: expected {k} finite, non-negative cluster counts, some above 0"
        )
    return counts


def class_prior(exp: Experiment, run_dir: str | Path | None = None) -> torch.Tensor | None:
    """``(num_classes,)`` float64: how often each class occurs in the run's training data,
    for a run whose classes were found in the data rather than given by a person
    (``data.label=cluster``: self-conditioned, ``genlab.data.clusters``); else None.
    Read from ``run_dir``'s ``class_prior.json`` when it has one (:func:`pin_class_prior`),
    else from the data, clustered again (deterministic)."""
    if getattr(exp.data, "label", None) != "cluster":
        return None
    pinned = Path(run_dir) / CLASS_PRIOR if run_dir is not None else None
    if pinned is not None and pinned.is_file():
        counts = _read_counts(pinned, exp.model.num_classes)
    else:
        counts = _class_counts(exp).double()
    return counts / counts.sum()
