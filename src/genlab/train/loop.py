"""The training loop: one loss, one optimizer (AdamW), any family that fits that shape.

Read top to bottom: set up, maybe resume, then for each step: micro-batches ->
per-sample loss -> backward -> clip -> AdamW -> EMA -> log / preview / checkpoint.
All randomness is keyed on (seed, step, shard) (see ``genlab.rng``), so a resumed run
reproduces the uninterrupted one exactly, and the same global batch gives the same
losses on one process or several.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel as DDP

from genlab.data import Dataset, build_dataset
from genlab.errors import ConfigError, GenlabError
from genlab.recipes import Experiment, Task, get_task
from genlab.rng import keyed, mix
from genlab.train import distributed
from genlab.train.batches import ShardedBatches, to_device
from genlab.train.checkpoint import (
    load_checkpoint,
    load_into,
    load_optimizer_state,
    save_checkpoint,
)
from genlab.train.ema import EMA, ema_beta
from genlab.train.log import RunLog
from genlab.train.schedule import lr_at
from genlab.viz import image_grid, save_samples, scatter

_INIT_KEY, _DROPOUT_KEY = 0x1417, 0xD50


def check_compatible(exp: Experiment, data: Dataset) -> None:
    """The model's input shape and classes must match the data's."""
    shape_fn = getattr(exp.model, "input_shape", None)
    if shape_fn is not None and tuple(shape_fn()) != data.shape:
        raise ConfigError(
            f"model: expects samples of shape {tuple(shape_fn())} but "
            f"data '{exp.data.name}' gives {data.shape}"
        )
    k = getattr(exp.model, "num_classes", 0)
    if k and k != data.num_classes:
        raise ConfigError(
            f"model.num_classes: {k}, but data '{exp.data.name}' has {data.num_classes} classes"
        )


def make_optimizer(model: nn.Module, exp: Experiment, params=None) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices and kernels only (not biases, norms, embeddings'
    null rows alike)."""
    t = exp.train
    params = [p for p in (params or model.parameters()) if p.requires_grad]
    groups = [{"params": params, "weight_decay": 0.0}]  # one group: one fused kernel call
    if t.weight_decay:
        groups = [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": t.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ]
    # The fused kernel (CPU and CUDA) is several times faster than the per-tensor loop
    # for small models, with the same update rule.
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(groups, lr=t.lr, betas=t.betas, fused=fused or None)


def clip_grads(params: list[nn.Parameter], max_norm: float) -> Tensor:
    """The global gradient norm; gradients are scaled to ``max_norm`` only when it is
    exceeded (``max_norm <= 0``: never), as ``clip_grad_norm_`` does."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if max_norm > 0 and norm > max_norm:
        torch._foreach_mul_(grads, max_norm / (float(norm) + 1e-6))
    return norm


def seed_global(seed: int, device: torch.device) -> None:
    """Seed the global generators ops like dropout draw from: the CPU one, and the
    device's when it is CUDA (cheaper per step than ``torch.manual_seed``)."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)


def seed_init(exp: Experiment) -> None:
    """Seed the global RNG so network initialisation depends only on ``exp.seed``."""
    torch.manual_seed(mix(exp.seed, _INIT_KEY))


def class_rows(num_classes: int, n: int) -> tuple[dict, int]:
    """Conditioning for a preview grid: one row per class (or none), and the row width."""
    if not num_classes:
        return {}, max(1, math.ceil(math.sqrt(n)))
    per = max(1, n // num_classes)
    label = torch.arange(num_classes).repeat_interleave(per)
    return {"class": label}, per


def preview(task: Task, model: nn.Module, exp: Experiment, data: Dataset, device) -> tuple:
    """Samples for the periodic picture: ``(tensor, nrow)``."""
    if task.preview is not None:
        return task.preview(model, exp, data)
    cond, nrow = class_rows(getattr(exp.model, "num_classes", 0), exp.train.num_samples)
    n = len(cond["class"]) if cond else exp.train.num_samples
    cond = to_device(cond, device)
    return task.sample(model, exp, list(range(n)), cond, exp.sampler).cpu(), nrow


def write_preview(x, nrow, data: Dataset, run_dir: Path, log: RunLog, step: int) -> Path:
    path = run_dir / "samples" / f"step_{step:08d}.png"
    save_samples(x, data.modality, path, nrow)
    if data.modality == "image":
        log.image("samples", image_grid(x, nrow), step)
    elif data.modality == "points":
        log.image("samples", scatter(x), step)
    return path


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train ``exp`` in ``run_dir`` (which holds its config.yaml); return ``run_dir``."""
    task = get_task(exp.objective.kind)
    if task.fit is not None:
        return task.fit(exp, run_dir, resume)
    t = exp.train
    d = distributed.setup(t.device)
    try:
        return _fit(exp, task, Path(run_dir), resume, d)
    finally:
        distributed.teardown()


def _fit(exp: Experiment, task: Task, run_dir: Path, resume: bool, d: distributed.Dist) -> Path:
    t = exp.train
    if t.threads:
        torch.set_num_threads(t.threads)
    data = build_dataset(exp.data)
    check_compatible(exp, data)
    seed_init(exp)
    model = task.build(exp).to(d.device)
    ema = EMA(model)
    opt = make_optimizer(model, exp)
    loss_fn = task.loss(exp)
    cond_keys = task.keys(exp)

    start, elapsed = 0, 0.0
    if resume:
        ckpt, state = load_checkpoint(run_dir)
        load_into(model, ckpt / "model.safetensors")
        load_into(ema.module, ckpt / "ema.safetensors")
        opt.load_state_dict(load_optimizer_state(ckpt / "state" / "optimizer.pt"))
        start, elapsed = state["step"], state.get("elapsed_s", 0.0)
    end = t.steps if not t.stop_after else min(t.steps, start + t.stop_after)

    trainable = [p for p in model.parameters() if p.requires_grad]
    net = DDP(model) if d.world > 1 else model
    if t.compile:
        net = torch.compile(net)
    accum, shards = t.grad_accum, d.world * t.grad_accum
    batches = ShardedBatches(len(data), t.batch_size, shards, exp.seed)
    autocast = torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=t.bf16)
    log = RunLog(run_dir, d.main, start, t.steps, t.tensorboard)

    def save(step: int) -> None:
        if d.main:
            save_checkpoint(
                run_dir,
                step,
                {"model": model.state_dict(), "ema": ema.module.state_dict()},
                {"optimizer": opt.state_dict()},
                {
                    "step": step,
                    "seed": exp.seed,
                    "samples_seen": step * t.batch_size,
                    "elapsed_s": elapsed,
                },
                t.keep_last,
            )
        distributed.barrier(d)

    window = {"loss": 0.0, "n": 0, "time": 0.0, "extra": {}}
    model.train()
    for step in range(start, end):
        tic = time.perf_counter()
        lr = lr_at(step, t.lr, t.steps, t.warmup_steps, t.min_lr_ratio)
        for group in opt.param_groups:
            group["lr"] = lr
        step_loss = torch.zeros((), device=d.device)
        extra: dict[str, float] = {}
        for micro in range(accum):
            j = d.rank * accum + micro  # this shard's global index
            batch = to_device(data.batch(batches.indices(step, j), cond_keys), d.device)
            seed_global(mix(exp.seed, step, j, _DROPOUT_KEY), d.device)  # dropout, if any
            sync = micro == accum - 1 or d.world == 1
            with contextlib.nullcontext() if sync else net.no_sync(), autocast:
                per_sample, logs = loss_fn(net, batch, keyed(exp.seed, step, j))
                loss = per_sample.mean()
            (loss / accum).backward()
            step_loss += loss.detach() / accum
            for k, v in logs.items():
                extra[k] = extra.get(k, 0.0) + float(v) / accum
        step_loss = distributed.all_mean(step_loss, d)
        if not torch.isfinite(step_loss):
            raise GenlabError(
                f"loss is {step_loss.item()} at step {step + 1}; stopped. The last "
                f"good checkpoint is kept in {run_dir / 'checkpoints'}"
            )
        grad_norm = clip_grads(trainable, t.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema.update(
            model, ema_beta(t.batch_size, (step + 1) * t.batch_size, t.ema_halflife, t.ema_rampup)
        )
        dt = time.perf_counter() - tic
        elapsed += dt
        window["loss"] += step_loss.item()
        window["n"] += 1
        window["time"] += dt
        for k, v in extra.items():
            window["extra"][k] = window["extra"].get(k, 0.0) + v
        log.advance()

        done = step + 1
        if done % t.log_every == 0 or done == end:
            n = window["n"]
            log.scalars(
                {
                    "step": done,
                    "loss": window["loss"] / n,
                    "lr": lr,
                    "samples_per_s": n * t.batch_size / window["time"],
                    "grad_norm": float(grad_norm),
                    "epoch": batches.epoch(step),
                    **{k: v / n for k, v in window["extra"].items()},
                }
            )
            window = {"loss": 0.0, "n": 0, "time": 0.0, "extra": {}}
        if d.main and ((t.sample_every and done % t.sample_every == 0) or done == t.steps):
            x, nrow = preview(task, ema.module, exp, data, d.device)
            write_preview(x, nrow, data, run_dir, log, done)
        if done % t.ckpt_every == 0 or done == end:
            save(done)
    log.close()
    return run_dir
