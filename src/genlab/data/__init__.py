"""Datasets by name. ``DATASETS`` maps a name to its :class:`DatasetSpec`.

>>> from genlab.data import build_dataset, DATASETS
>>> ds = build_dataset(DATASETS["digits"].config())
>>> ds.x.shape
torch.Size([1797, 1, 8, 8])
"""

from __future__ import annotations

from typing import Any

from genlab.data import digits, folder, mnist, shapes, stacked, toys
from genlab.data.base import Dataset, DatasetSpec
from genlab.errors import ConfigError

DATASETS: dict[str, DatasetSpec] = {
    **toys.SPECS,
    **digits.SPECS,
    **shapes.SPECS,
    **mnist.SPECS,
    **folder.SPECS,
    **stacked.SPECS,
}


def dataset_config(name: str) -> type:
    """The config dataclass for dataset ``name``; a clear error names the valid ones."""
    if name not in DATASETS:
        raise ConfigError(
            f"data.name: unknown dataset {name!r}; choose from {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[name].config


def build_dataset(cfg: Any) -> Dataset:
    """Build the dataset that config ``cfg`` (any registered data config) describes."""
    return DATASETS[cfg.name].build(cfg)


__all__ = ["DATASETS", "Dataset", "DatasetSpec", "build_dataset", "dataset_config"]
