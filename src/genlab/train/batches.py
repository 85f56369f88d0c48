"""The data order: which samples each process sees, as a function of the global sample
index alone.

The training data is read as one endless stream: epoch ``e`` is the permutation
``randperm(n, keyed(seed, DATA_KEY, e))`` of the ``n`` rows, and the stream is the
epochs one after another. A global batch of ``B`` samples that starts at stream position
``g`` (the number of samples the run has consumed) takes positions ``[g, g + B)``; a
batch may straddle two epochs. The global batch is split into ``world * grad_accum``
equal shards; shard ``j`` takes positions ``[g + j*B/S, g + (j+1)*B/S)``.

So the order depends only on ``(seed, g)``: a run resumed with another
``train.batch_size`` continues the epoch exactly where it stopped (no sample is seen
twice in an epoch, none skipped), and one process with ``grad_accum = 2`` reads the same
samples as two processes with ``grad_accum = 1``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.errors import ConfigError
from genlab.rng import keyed

_DATA_KEY = 0xDA7A


class SampleStream:
    """The endless shuffled stream of row indices of a dataset of ``n`` rows."""

    def __init__(self, n: int, seed: int):
        if n < 1:
            raise ConfigError("data: the dataset is empty")
        self.n, self.seed = n, seed
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def epoch(self, position: int) -> int:
        """The epoch that stream ``position`` falls in."""
        return position // self.n

    def _permutation(self, e: int) -> Tensor:
        if e != self._epoch:  # one cached epoch: batches walk forward
            self._epoch = e
            self._perm = torch.randperm(self.n, generator=keyed(self.seed, _DATA_KEY, e))
        return self._perm

    def indices(self, start: int, count: int) -> Tensor:
        """``(count,)`` int64 row indices at stream positions ``[start, start + count)``."""
        parts, pos, end = [], start, start + count
        while pos < end:
            e, i = divmod(pos, self.n)
            take = min(end - pos, self.n - i)
            parts.append(self._permutation(e)[i : i + take])
            pos += take
        return torch.cat(parts) if len(parts) != 1 else parts[0]


def shard_size(batch: int, shards: int, n: int) -> int:
    """Samples per shard of a global batch; a clear error when it does not split evenly
    or exceeds the dataset."""
    if batch % shards:
        raise ConfigError(
            f"train.batch_size: {batch} does not split into {shards} equal "
            "shards (processes x grad_accum)"
        )
    if n < batch:
        raise ConfigError(f"train.batch_size: {batch} is larger than the dataset ({n} samples)")
    return batch // shards


def to_device(batch, device):
    """Move every tensor of a (nested) batch dict to ``device``."""
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    return batch
