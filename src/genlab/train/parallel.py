"""Several processes, one interface for both loops: wrap a network for the chosen
``train.strategy``, skip gradient sync on all but the last micro-batch, and read or
write full (unsharded) weights and optimizer state.

- ``ddp``: ``DistributedDataParallel`` replicas; gradients are averaged in backward.
- ``fsdp``: PyTorch FSDP2 (``fully_shard``) on each block of the network and its root
  (see ``genlab.train.sharding``): parameters, gradients and optimizer state sharded.

In one process every function is the identity (or a plain ``state_dict``). Checkpoints
are always full, unsharded state dicts with the network's own key names, so a run
trained under any strategy loads in one process.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from genlab.train.distributed import Dist
from genlab.train.ema import EMA


def wrap(model: nn.Module, strategy: str, d: Dist) -> nn.Module:
    """The module to run forward/backward on: ``model`` itself in one process, a DDP
    replica or the FSDP2-sharded ``model`` (sharded in place) under torchrun."""
    if d.world == 1:
        return model
    if strategy == "fsdp":
        from genlab.train import sharding

        return sharding.wrap(model, "fsdp", d.world, d.device)
    if d.device.type == "cuda":
        return DDP(model, device_ids=[d.device.index])
    return DDP(model)


def wrap_ema(ema: EMA, strategy: str, d: Dist) -> None:
    """Shard the EMA copy like the network under fsdp (its update then runs on matching
    local shards); a replica otherwise."""
    if d.world > 1 and strategy == "fsdp":
        from genlab.train import sharding

        sharding.wrap(ema.module, "fsdp", d.world, d.device)


def no_sync(net: nn.Module, strategy: str, skip: bool):
    """A context in which backward accumulates gradients locally without communicating
    (``skip=True``: a micro-batch before the last)."""
    if not skip:
        return contextlib.nullcontext()
    if isinstance(net, DDP) or hasattr(getattr(net, "_orig_mod", None), "no_sync"):
        return net.no_sync()
    if strategy == "fsdp" and hasattr(net, "set_requires_gradient_sync"):
        return _fsdp_no_sync(net)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _fsdp_no_sync(net: nn.Module):
    net.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        net.set_requires_gradient_sync(True)


def _sharded(module: nn.Module) -> bool:
    return any(
        type(p) is not nn.Parameter and hasattr(p, "full_tensor") for p in module.parameters()
    )


def full_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The full CPU state dict with the network's own key names (a collective when the
    module is sharded: every process must call it)."""
    if _sharded(module):
        from genlab.train import sharding

        return sharding.full_state_dict(module)
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def load_full_state_dict(module: nn.Module, state: dict, source="checkpoint") -> None:
    """Load a full state dict (as :func:`full_state_dict` returns) into ``module``; keys
    and shapes must match (a :class:`CheckpointError` naming ``source`` if not)."""
    if _sharded(module):
        from genlab.train import sharding

        sharding.load_full_state_dict(module, state)
        return
    from genlab.checkpoint import check_state

    check_state(module, state, source)
    module.load_state_dict(state)


def optimizer_state(opt: torch.optim.Optimizer, module: nn.Module) -> dict:
    """The full optimizer state (tensors and plain values only)."""
    if _sharded(module):
        from genlab.train import sharding

        return sharding.optimizer_state(opt, module)
    return opt.state_dict()


def load_optimizer_state(opt: torch.optim.Optimizer, module: nn.Module, state: dict) -> None:
    if _sharded(module):
        from genlab.train import sharding

        sharding.load_optimizer_state(opt, module, state)
        return
    opt.load_state_dict(state)


def unsharded(module: nn.Module, strategy: str, d: Dist) -> nn.Module:
    """``module`` itself, or under fsdp a plain unsharded copy on the main process
    (a collective; other processes get ``module`` back)."""
    if not _sharded(module):
        return module
    from genlab.train import sharding

    return sharding.unsharded_copy(module)
