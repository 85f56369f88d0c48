"""The batch schedule: which samples each process sees at each step.

Stateless by construction: epoch ``e`` shuffles with ``keyed(seed, e)``; optimizer step
``s`` takes the next ``B`` indices of that shuffle (dropping the last partial batch).
The global batch is split into ``world * grad_accum`` equal shards; process ``r`` runs
shards ``r * accum ... r * accum + accum - 1``. Shard ``j`` of step ``s`` always holds the
same samples and draws from the same generator, so one process with ``grad_accum = 2``
and two processes with ``grad_accum = 1`` compute the same thing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.errors import ConfigError
from genlab.rng import keyed

_DATA_KEY = 0xDA7A


class ShardedBatches:
    """Indices of shard ``j`` of step ``s`` for a dataset of ``n`` rows."""

    def __init__(self, n: int, batch: int, shards: int, seed: int):
        if batch % shards:
            raise ConfigError(
                f"train.batch_size: {batch} does not split into {shards} equal "
                "shards (processes x grad_accum)"
            )
        if n < batch:
            raise ConfigError(f"train.batch_size: {batch} is larger than the dataset ({n} samples)")
        self.n, self.batch, self.shard, self.seed = n, batch, batch // shards, seed
        self.per_epoch = n // batch
        self._epoch, self._perm = -1, None

    def epoch(self, step: int) -> int:
        return step // self.per_epoch

    def indices(self, step: int, shard: int) -> Tensor:
        e, i = divmod(step, self.per_epoch)
        if e != self._epoch:
            self._epoch, self._perm = (
                e,
                torch.randperm(self.n, generator=keyed(self.seed, _DATA_KEY, e)),
            )
        start = i * self.batch + shard * self.shard
        return self._perm[start : start + self.shard]


def to_device(batch, device):
    """Move every tensor of a (nested) batch dict to ``device``."""
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    return batch
