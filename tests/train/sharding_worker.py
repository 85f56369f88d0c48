"""Run by ``tests/train/test_sharding.py`` under ``torchrun --nproc_per_node=2`` (CPU,
gloo): trains a tiny DiT with an MSE loss on fixed random data under ddp, under fsdp and
(rank 0) in one process, and saves what the test compares to ``OUT/results.pt``.

Usage: ``python -m torch.distributed.run --standalone --nproc_per_node=2 sharding_worker.py OUT``
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor

from genlab.models import build_model, preset
from genlab.train import sharding

CFG = dataclasses.replace(preset("dit-digits"), hidden=32, depth=2, heads=2)  # (B, 1, 8, 8)
BATCH, SHARDS, STEPS, SAVE_AT, BETA, CLIP = 8, 4, 3, 2, 0.5, 1.0
CPU = torch.device("cpu")


def build(seed: int) -> torch.nn.Module:
    """The DiT with every parameter perturbed (the adaLN-Zero and output layers start at
    zero), so that every gradient is non-zero from the first step."""
    torch.manual_seed(seed)
    model = build_model(CFG)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape))
    return model


def fixed_data() -> tuple[torch.Tensor, ...]:
    """``x (B, 1, 8, 8)``, ``t (B,)``, target ``y (B, 1, 8, 8)``: the same on every process."""
    g = torch.Generator().manual_seed(1)
    return (
        torch.randn(BATCH, *CFG.input_shape(), generator=g),
        torch.rand(BATCH, generator=g),
        torch.randn(BATCH, *CFG.input_shape(), generator=g),
    )


DATA = fixed_data()


def optimizer(model: torch.nn.Module) -> torch.optim.AdamW:
    params = list(model.parameters())
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": 0.1},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    # eps 1e-5, not 1e-8: the attention key bias has no true gradient (softmax ignores it),
    # and Adam would blow its round-off up to steps of +-lr that differ between one process
    # and two, which add the same gradients in another order.
    return torch.optim.AdamW(groups, lr=1e-2, eps=1e-5)


def full(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if isinstance(t, DTensor) else t


class Run:
    """One model, its EMA and optimizer under ``strategy`` on ``world`` processes."""

    def __init__(self, strategy: str, world: int, rank: int, seed: int = 0):
        self.strategy, self.world, self.rank = strategy, world, rank
        self.model = build(seed)
        self.ema = sharding.make_ema(self.model, strategy, world, CPU)
        self.net = sharding.wrap(self.model, strategy, world, CPU)
        self.opt = optimizer(self.model)  # after wrap: fsdp's parameters are DTensors
        self.probe: dict = {}

    def step(self) -> tuple[float, float]:
        """One optimizer step over this process's micro-batches of the global batch:
        ``(global mean loss, gradient norm before clipping)``."""
        x, t, y = DATA
        accum, n = SHARDS // self.world, BATCH // SHARDS
        loss_sum = torch.zeros(())
        for micro in range(accum):
            j = self.rank * accum + micro  # this shard's global index
            s = slice(j * n, (j + 1) * n)
            with sharding.no_sync(self.net, self.strategy, micro < accum - 1):
                loss = (self.net(x[s], t[s], {}) - y[s]).square().mean()
                (loss / accum).backward()
            loss_sum += loss.detach() / accum
            if micro == 0 and not self.probe:
                self.probe = self._probe()
        if self.world > 1:
            dist.all_reduce(loss_sum)
            loss_sum /= self.world
        norm = torch.nn.utils.clip_grad_norm_(list(self.model.parameters()), CLIP)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.ema.update(self.model, BETA)
        return loss_sum.item(), float(full(norm))

    def _probe(self) -> dict:
        """After the first micro-batch (inside no_sync): ddp's local gradient of the first
        block's qkv weight on every process; whether fsdp has produced sharded grads."""
        mod = sharding._unwrap(self.net)
        grad = mod.blocks[0].attn.qkv.weight.grad
        if isinstance(mod, FSDPModule):
            return {"fsdp_grads_none": all(p.grad is None for p in mod.parameters())}
        local = grad.detach().clone()
        if self.world > 1:
            got = [torch.empty_like(local) for _ in range(self.world)]
            dist.all_gather(got, local)
            return {"ddp_local_grads": torch.stack(got)}
        return {}


def train(strategy: str, world: int, rank: int, out: Path) -> dict:
    run = Run(strategy, world, rank)
    losses, norms, saved = [], [], None
    for step in range(STEPS):
        loss, norm = run.step()
        losses.append(loss)
        norms.append(norm)
        if step + 1 == SAVE_AT:
            saved = {
                "model": sharding.full_state_dict(run.net),
                "ema": sharding.full_state_dict(run.ema.module),
                "optimizer": sharding.optimizer_state(run.opt, run.net),
            }
    rec = {
        "losses": torch.tensor(losses, dtype=torch.float64),
        "grad_norms": torch.tensor(norms, dtype=torch.float64),
        "model": sharding.full_state_dict(run.net),
        "ema": sharding.full_state_dict(run.ema.module),
        "optimizer": sharding.optimizer_state(run.opt, run.net),
        "optimizer_at_save": saved["optimizer"],
        **run.probe,
    }
    if world > 1:
        rec.update(resume(strategy, world, rank, saved, out))
    x, t, _ = DATA
    plain = sharding.unsharded_copy(run.ema.module)  # a collective under fsdp
    if rank == 0:
        rec["preview_is_plain"] = not isinstance(plain, FSDPModule)
        rec["preview_training"] = plain.training
        with torch.no_grad():
            rec["preview_out"] = plain(x, t, {})
    with torch.no_grad():  # every process: under fsdp the forward gathers the weights
        rec["net_out"] = run.net(x, t, {})
    # fsdp keeps the root's weights whole after a forward without backward
    rec["optimizer_after_eval"] = sharding.optimizer_state(run.opt, run.net)
    return rec


def resume(strategy: str, world: int, rank: int, saved: dict, out: Path) -> dict:
    """Rebuild from a different initialisation, load the step-``SAVE_AT`` checkpoint (the
    optimizer state through a file read with ``weights_only=True``), train to the end."""
    path = out / f"{strategy}_optimizer.pt"
    if rank == 0:
        torch.save(saved["optimizer"], path)
    dist.barrier()
    run = Run(strategy, world, rank, seed=7)
    sharding.load_full_state_dict(run.net, saved["model"])
    sharding.load_full_state_dict(run.ema.module, saved["ema"])
    sharding.load_optimizer_state(run.opt, run.net, torch.load(path, weights_only=True))
    losses = [run.step()[0] for _ in range(SAVE_AT, STEPS)]
    return {
        "resumed_losses": torch.tensor(losses, dtype=torch.float64),
        "resumed_model": sharding.full_state_dict(run.net),
        "resumed_ema": sharding.full_state_dict(run.ema.module),
        "resumed_optimizer": sharding.optimizer_state(run.opt, run.net),
    }


def main(out: Path) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    results = {s: train(s, world, rank, out) for s in ("ddp", "fsdp")}
    if rank == 0:
        results["single"] = train("fsdp", 1, 0, out)  # world 1: fsdp wraps nothing
        torch.save(results, out / "results.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
