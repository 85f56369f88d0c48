"""Data parallelism for the training loops: ``train.strategy = "ddp" | "fsdp"``.

- ``ddp``: every process holds the whole model; ``DistributedDataParallel`` averages
  the gradients in backward.
- ``fsdp``: PyTorch FSDP2 (``fully_shard``) on a 1-D device mesh over all processes
  (``"cpu"`` with gloo, ``"cuda"`` with NCCL). Parameters, gradients and optimizer state
  are DTensors sharded on dim 0; each *unit* gathers its full weights just before its
  forward and backward. The units are :func:`fsdp_units` (transformer / U-Net blocks),
  then the root (everything left: embeddings, final layer).

In one process (``world == 1``) nothing is wrapped. Whatever the strategy, weights and
optimizer state leave and enter a run in the format of an unwrapped model in one
process (``model.state_dict()`` keys, ``opt.state_dict()`` with integer parameter ids),
so a run saved under one strategy resumes under any other, or in one process.

EMA under fsdp: copy the model *before* sharding it and shard the copy the same way
(:func:`make_ema`); ``EMA.update``'s ``_foreach_lerp_`` then runs on matching local
shards with no communication. Previews: :func:`unsharded_copy` (every process calls it)
gives the main process a plain module with the full EMA weights to sample from alone.

Every function that gathers (``full_state_dict``, ``optimizer_state``,
``unsharded_copy``) is a collective under fsdp: all processes call it, in the same order.
"""

from __future__ import annotations

import contextlib
import copy

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.distributed.tensor import DTensor, distribute_tensor
from torch.nn.parallel import DistributedDataParallel as DDP

from genlab.train.ema import EMA

STRATEGIES = ("ddp", "fsdp")
_LIKE = "_genlab_unsharded_like"  # plain attribute: a meta-device copy taken before sharding


def check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(
            f"train.strategy: unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}"
        )


def fsdp_units(model: nn.Module) -> list[nn.Module]:
    """The submodules sharded as their own FSDP units, innermost first.

    ``model.fsdp_units()`` when the model defines it; otherwise every direct child of
    every ``nn.ModuleList`` that has parameters and is not itself a container (DiT, GPT,
    VAR blocks; U-Net res/attention blocks). A unit must be run through its ``forward``
    (FSDP gathers its weights in a forward hook) and share no parameter with another.
    """
    if callable(getattr(model, "fsdp_units", None)):
        units = list(model.fsdp_units())
    else:
        units = [
            child
            for m in model.modules()
            if isinstance(m, nn.ModuleList)
            for child in m
            if not isinstance(child, (nn.ModuleList, nn.ModuleDict))
            and next(child.parameters(), None) is not None
        ]
    order = {id(m): i for i, m in enumerate(model.modules())}
    if any(id(u) not in order or u is model for u in units):
        raise ValueError("fsdp_units: every unit must be a proper submodule of the model")
    return sorted(units, key=lambda m: -order[id(m)])  # children before their parents


def wrap(model: nn.Module, strategy: str, world: int, device: torch.device) -> nn.Module:
    """The module to run forward/backward on (the process group must be initialised).

    ``world == 1``: ``model``. ``ddp``: a ``DistributedDataParallel`` around it. ``fsdp``:
    ``model`` itself, sharded in place, so build the optimizer from ``model.parameters()``
    *after* this call (they become DTensors).
    """
    check_strategy(strategy)
    if world == 1:
        return model
    if strategy == "ddp":
        return DDP(model, device_ids=[device] if device.type == "cuda" else None)
    like = _meta_copy(model)
    mesh = init_device_mesh(device.type, (world,))
    for unit in fsdp_units(model):
        fully_shard(unit, mesh=mesh)
    fully_shard(model, mesh=mesh)
    object.__setattr__(model, _LIKE, like)  # not a submodule: no state, no hooks
    return model


def make_ema(model: nn.Module, strategy: str, world: int, device: torch.device) -> EMA:
    """The EMA of ``model``, made *before* ``wrap(model, ...)``; under fsdp its copy is
    sharded like the model, so ``ema.update(model, beta)`` lerps local shards. Call the
    update after ``opt.step()``: after a forward without backward FSDP leaves the root's
    parameters whole (plain tensors) until ``net.reshard()`` or the next backward."""
    check_strategy(strategy)
    if isinstance(model, (FSDPModule, DDP)):
        raise ValueError("make_ema: call it before wrap(); a wrapped model cannot be copied")
    ema = EMA(model)
    if strategy == "fsdp":
        wrap(ema.module, strategy, world, device)
    return ema


def no_sync(net: nn.Module, strategy: str, enabled: bool):
    """A context in which backward only accumulates local gradients (``enabled``: a
    micro-batch before the last); the last micro-batch's backward then communicates."""
    check_strategy(strategy)
    net = getattr(net, "_orig_mod", net)  # torch.compile
    if enabled and isinstance(net, DDP):
        return net.no_sync()
    if enabled and isinstance(net, FSDPModule):
        return _fsdp_no_sync(net)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _fsdp_no_sync(net: FSDPModule):
    net.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        net.set_requires_gradient_sync(True)


def full_state_dict(module: nn.Module) -> dict[str, Tensor]:
    """``{name: tensor}`` with the unwrapped model's keys, full and unsharded, as new CPU
    tensors, on every process (under fsdp each sharded tensor is all-gathered)."""
    return {k: _full_cpu(v) for k, v in _unwrap(module).state_dict().items()}


def load_full_state_dict(module: nn.Module, state: dict[str, Tensor]) -> None:
    """Load a full state dict (every process passes the same one) into a plain, DDP or
    sharded module; keys and shapes must match (``load_state_dict(strict=True)``).
    Under fsdp each process keeps its own slice; nothing is communicated."""
    module = _unwrap(module)
    own = module.state_dict()
    module.load_state_dict({k: _shard_like(v, own.get(k)) for k, v in state.items()})


def optimizer_state(opt: torch.optim.Optimizer, module: nn.Module) -> dict:
    """``opt.state_dict()`` with every sharded tensor gathered: full CPU tensors and plain
    values, integer parameter ids, on every process; the same as a DDP run saves
    (loadable with ``torch.load(weights_only=True)``)."""
    _check_holds(opt, module)
    sd = opt.state_dict()
    state = {}
    for i in sorted(sd["state"]):  # one order on every process: the gathers pair up
        state[i] = {
            k: _full_cpu(v) if isinstance(v, Tensor) else v for k, v in sd["state"][i].items()
        }
    return {"state": state, "param_groups": copy.deepcopy(sd["param_groups"])}


def load_optimizer_state(opt: torch.optim.Optimizer, module: nn.Module, state: dict) -> None:
    """The inverse of :func:`optimizer_state` (every process passes the same dict); under
    fsdp each state tensor shaped like its parameter is cut to the local shard."""
    _check_holds(opt, module)
    params = [p for g in opt.param_groups for p in g["params"]]
    sizes = [len(g["params"]) for g in state["param_groups"]]
    if sizes != [len(g["params"]) for g in opt.param_groups]:
        raise ValueError(f"optimizer state: parameter groups of sizes {sizes} do not fit")
    local = {
        i: {k: _shard_like(v, params[i]) for k, v in s.items()} for i, s in state["state"].items()
    }
    opt.load_state_dict({"state": local, "param_groups": state["param_groups"]})


def unsharded_copy(module: nn.Module) -> nn.Module:
    """A plain module with the full weights, for sampling on the main process alone
    (previews). Not sharded: ``module`` itself (unwrapped from DDP). Under fsdp a
    collective: rank 0 gets a new plain copy on the module's device, in the same
    train/eval mode; the other processes get ``module`` back."""
    module = _unwrap(module)
    if not isinstance(module, FSDPModule):
        return module
    like = module.__dict__.get(_LIKE)
    if like is None:
        raise ValueError("unsharded_copy: the module was not sharded by sharding.wrap()")
    full = full_state_dict(module)
    if dist.get_rank() != 0:
        return module
    plain = copy.deepcopy(like).to_empty(device=_local(next(module.parameters())).device)
    plain.load_state_dict(full)
    with torch.no_grad():  # all buffers, non-persistent ones too (FSDP leaves them whole)
        for b, src in zip(plain.buffers(), module.buffers(), strict=True):
            b.copy_(src)
    for m, src in zip(plain.modules(), module.modules(), strict=True):
        m.training = src.training
    return plain


def _unwrap(net: nn.Module) -> nn.Module:
    net = getattr(net, "_orig_mod", net)  # torch.compile
    return net.module if isinstance(net, DDP) else net


def _meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose parameters and buffers are storage-free meta tensors."""
    memo = {id(p): nn.Parameter(p.to("meta"), p.requires_grad) for p in model.parameters()}
    memo.update({id(b): b.to("meta") for b in model.buffers()})
    return copy.deepcopy(model, memo)


def _local(t: Tensor) -> Tensor:
    return t.to_local() if isinstance(t, DTensor) else t


def _full_cpu(t: Tensor) -> Tensor:
    """A new CPU tensor holding all of ``t`` (all-gathered when it is a DTensor)."""
    if isinstance(t, DTensor):
        t = t.full_tensor()
    return t.detach().to("cpu", copy=True)


def _shard_like(value, like):
    """``value`` (a full tensor) cut like the DTensor ``like`` (no communication: every
    process holds ``value``); anything else as it is (shape errors are reported later)."""
    if isinstance(like, DTensor) and isinstance(value, Tensor) and value.shape == like.shape:
        value = value.to(device=_local(like).device, dtype=like.dtype)
        return distribute_tensor(value, like.device_mesh, like.placements, src_data_rank=None)
    return value


def _check_holds(opt: torch.optim.Optimizer, module: nn.Module) -> None:
    """The classic FSDP mistake: an optimizer built before ``wrap`` holds stale tensors."""
    module = _unwrap(module)
    if isinstance(module, FSDPModule):  # a forward without backward leaves the root whole
        module.reshard()
    own = {id(p) for p in module.parameters()}
    if any(id(p) not in own for g in opt.param_groups for p in g["params"]):
        raise ValueError(
            "optimizer: holds tensors that are not the module's parameters "
            "(under fsdp, build it after sharding.wrap)"
        )
