"""Several processes with ``torchrun``: rank, world size and device from its standard
environment (RANK, WORLD_SIZE, LOCAL_RANK); gloo on CPU, NCCL on CUDA."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist

from genlab.errors import ConfigError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0, key: str = "--device") -> torch.device:
    """``auto`` is CUDA (this process's local GPU) when present, else CPU; ``cpu``,
    ``cuda`` or ``cuda:N`` otherwise. A clear :class:`ConfigError` for any other name or
    for CUDA on a machine without it."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif name == "cuda":
        name = f"cuda:{local_rank}"
    if not re.fullmatch(r"cpu|cuda:\d+", name):
        raise ConfigError(f"{key}: expected auto, cpu, cuda or cuda:N, got {name!r}")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"{key}: {name} requested, but this machine has no CUDA device")
        if int(name.split(":")[1]) >= torch.cuda.device_count():
            raise ConfigError(
                f"{key}: {name} requested, but only {torch.cuda.device_count()} GPU(s) exist"
            )
    return torch.device(name)


def setup(device: str) -> Dist:
    """Join the process group when launched by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(device=pick_device(device, key="train.device"))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local, key="train.device")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return Dist(rank, world, local, dev)


def is_main() -> bool:
    """Whether this process is the writing one (rank 0, or the only process)."""
    return int(os.environ.get("RANK", "0")) == 0


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_mean(values: torch.Tensor, d: Dist) -> torch.Tensor:
    """The mean of ``values`` over processes (identity in one process)."""
    if d.world > 1:
        values = values.clone()
        dist.all_reduce(values)
        values /= d.world
    return values


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def mean_over_processes(window: dict[str, tuple[float, int]], d: Dist) -> dict[str, float]:
    """``{name: sum / count}`` over every process's ``(sum, count)`` pairs. Processes may
    have logged different names (a loss bin empty on one shard): the union is reduced,
    each name over the processes and micro-batches that logged it."""
    if d.world == 1:
        return {k: v / c for k, (v, c) in sorted(window.items()) if c}
    names: list = [None] * d.world
    dist.all_gather_object(names, sorted(window))
    keys = sorted(set().union(*names))
    sums = torch.tensor([float(window.get(k, (0.0, 0))[0]) for k in keys], dtype=torch.float64)
    counts = torch.tensor([float(window.get(k, (0.0, 0))[1]) for k in keys], dtype=torch.float64)
    both = torch.stack([sums, counts])
    dist.all_reduce(both)
    return {k: float(s / c) for k, s, c in zip(keys, both[0], both[1]) if c > 0}
