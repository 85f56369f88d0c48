"""The in-memory dataset every loader returns, and the batch format.

A batch is a dict ``{"x": Tensor (B, *shape), "cond": {"class": (B,) int64, ...}}``.
Shapes follow DESIGN.md: points ``(B, D)``, images ``(B, C, H, W)`` in [-1, 1],
video ``(B, C, T, H, W)``, waveforms ``(B, C, L)``, tokens ``(B, N)`` int64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from genlab.data.configs import Modality


@dataclass
class Dataset:
    """All samples of a dataset, held in memory.

    Attributes:
        x: ``(N, *shape)`` samples (float32, or int64 for tokens).
        cond: per-sample conditioning, each ``(N, ...)``; ``"class"`` is ``(N,)`` int64.
        modality: how samples are shown and saved (grid PNG, scatter, WAV, ...).
        num_classes: number of values of ``cond["class"]`` (0 when unlabelled).
        class_names: a name per class, for legends and captions.
        captions: an English caption per sample, where the dataset has them.
        attributes: for each extra label in ``cond`` (e.g. ``"color"``), its value names.
        sample_rate: samples per second for audio (and frames per second for video).
    """

    x: Tensor
    cond: dict[str, Tensor] = field(default_factory=dict)
    modality: Modality = "image"
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    captions: list[str] | None = None
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sample_rate: int = 0

    def __post_init__(self) -> None:
        n = len(self.x)
        for k, v in self.cond.items():
            if len(v) != n:
                raise ValueError(f"cond[{k!r}] has {len(v)} rows but x has {n}")
        if self.captions is not None and len(self.captions) != n:
            raise ValueError(f"{len(self.captions)} captions for {n} samples")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample, e.g. ``(1, 8, 8)``."""
        return tuple(self.x.shape[1:])

    def batch(self, index: Tensor, keys: tuple[str, ...] | None = None) -> dict:
        """The batch dict for the rows ``index`` (a ``(B,)`` int64 tensor), with only the
        conditioning ``keys`` (all of them when None)."""
        keys = self.cond.keys() if keys is None else keys
        missing = [k for k in keys if k not in self.cond]
        if missing:
            raise KeyError(f"dataset has no conditioning {missing}; it has {sorted(self.cond)}")
        return {"x": self.x[index], "cond": {k: self.cond[k][index] for k in keys}}

    def subset(self, index: Tensor) -> Dataset:
        """A new dataset holding only rows ``index``."""
        caps = None if self.captions is None else [self.captions[i] for i in index.tolist()]
        return Dataset(
            self.x[index],
            {k: v[index] for k, v in self.cond.items()},
            self.modality,
            self.num_classes,
            self.class_names,
            caps,
            self.attributes,
            self.sample_rate,
        )


def split_index(n: int, split: str, test_fraction: float, seed: int = 0) -> Tensor:
    """Indices of a fixed, seeded train/test split of ``n`` rows.

    ``split`` is ``"all"``, ``"train"`` or ``"test"``; the same ``seed`` always gives
    the same partition, so held-out data stays held out across runs.
    """
    if split == "all":
        return torch.arange(n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = int(round(n * test_fraction))
    return perm[:n_test].sort().values if split == "test" else perm[n_test:].sort().values
