"""Several processes with ``torchrun``: rank, world size and device from its standard
environment (RANK, WORLD_SIZE, LOCAL_RANK); gloo on CPU, NCCL on CUDA."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` is CUDA (this process's local GPU) when present, else CPU."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif name == "cuda":
        name = f"cuda:{local_rank}"
    return torch.device(name)


def setup(device: str) -> Dist:
    """Join the process group when launched by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(device=pick_device(device))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local)
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


def all_mean_dict(values: dict[str, float], d: Dist) -> dict[str, float]:
    """The mean of each float of ``values`` over processes (the same keys on every one)."""
    if d.world == 1 or not values:
        return values
    keys = sorted(values)
    t = all_mean(torch.tensor([float(values[k]) for k in keys], dtype=torch.float64), d)
    return dict(zip(keys, t.tolist()))
