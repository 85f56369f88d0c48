"""The training loop: one objective, one optimizer (AdamW). It knows no family: the
caller hands it the network, the loss function, the data and a preview function.

Read top to bottom: set up (processes, threads, optimizer, maybe resume), then for each
step: micro-batches -> per-sample loss -> backward -> NaN guard -> clip -> AdamW -> EMA
-> log / preview / checkpoint. All randomness is keyed on (seed, step, shard) (see
``genlab.rng``) and the data order on the global sample index (``train/batches.py``), so
a resumed run reproduces the uninterrupted one exactly, and the same global batch gives
the same losses on one process or several (``train.strategy=ddp`` or ``fsdp``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genlab.checkpoint import (
    check_state,
    checkpoints,
    load_checkpoint,
    load_optimizer_state,
    load_tensors,
    save_checkpoint,
)
from genlab.cpu import cpu_has_bf16, pick_threads
from genlab.data.base import Dataset
from genlab.errors import ConfigError, GenlabError
from genlab.experiment import TrainConfig
from genlab.rng import keyed, mix
from genlab.train import distributed, sharding
from genlab.train.batches import SampleStream, shard_size, to_device
from genlab.train.ema import ema_beta
from genlab.train.flops import StepFlops
from genlab.train.log import RunLog
from genlab.train.schedule import lr_at
from genlab.viz import image_grid, save_audio, save_samples, scatter, spectrogram_images

# loss(model, batch, generator) -> (per-sample loss (B,), logs {name: float or 0-d tensor})
LossFn = Callable[[nn.Module, dict, torch.Generator], tuple[Tensor, dict]]
# preview(ema network) -> (samples (n, *shape) on the CPU, grid row width)
PreviewFn = Callable[[nn.Module], tuple[Tensor, int]]

_INIT_KEY, _DROPOUT_KEY = 0x1417, 0xD50


def seed_init(seed: int) -> None:
    """Seed the global RNG so network initialisation depends only on ``seed``; call it
    right before building the network."""
    torch.manual_seed(mix(seed, _INIT_KEY))


def seed_global(seed: int, device: torch.device) -> None:
    """Seed the global generators ops like dropout draw from: the CPU one, and the
    device's when it is CUDA (cheaper per step than ``torch.manual_seed``)."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)


def make_optimizer(
    params, train: TrainConfig, lr: float | None = None, betas=None
) -> torch.optim.AdamW:
    """AdamW over the trainable ``params`` with ``train.weight_decay`` on matrices and
    kernels only (not biases, norms or gains); ``lr``/``betas`` default to ``train``'s."""
    params = [p for p in params if p.requires_grad]
    wd = train.weight_decay
    groups = [{"params": params, "weight_decay": 0.0}]  # one group: one fused kernel call
    if wd:
        groups = [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": wd},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ]
    # The fused kernel (CPU and CUDA) is several times faster than the per-tensor loop
    # for small models, with the same update rule (also on FSDP's DTensor shards, where
    # it keeps fsdp bit-identical to ddp on CPU).
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(
        groups, lr=lr or train.lr, betas=tuple(betas or train.betas), fused=fused or None
    )


def clip_grads(params: list[nn.Parameter], max_norm: float) -> Tensor:
    """The global gradient norm; gradients are scaled to ``max_norm`` only when it is
    exceeded (``max_norm <= 0``: never), as ``clip_grad_norm_`` does. Sharded (FSDP)
    parameters go through ``clip_grad_norm_``, which reduces the norm over processes."""
    if any(type(p) is not nn.Parameter for p in params):
        return torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else math.inf)
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if max_norm > 0 and norm > max_norm:
        torch._foreach_mul_(grads, max_norm / (float(norm) + 1e-6))
    return norm


def write_preview(
    x: Tensor, nrow: int, modality: str, run_dir: Path, log: RunLog, step: int, sample_rate=0
):
    """Save the periodic picture ``samples/step_N.png`` (and to TensorBoard); audio: its
    spectrograms, and the first 4 clips as ``samples/step_N/00i.wav`` and TensorBoard
    audio."""
    path = run_dir / "samples" / f"step_{step:08d}.png"
    save_samples(x, modality, path, nrow)
    if modality == "image":
        log.image("samples", image_grid(x, nrow), step)
    elif modality == "points":
        log.image("samples", scatter(x), step)
    elif modality == "audio":
        log.image("spectrograms", image_grid(spectrogram_images(x), nrow), step)
        if sample_rate:
            save_audio(x[:4], path.with_suffix(".wav"), sample_rate)
            for i, clip in enumerate(x[:4]):
                log.audio(f"samples/{i}", clip, step, sample_rate)
    return path


def load_weights(module: nn.Module, path: Path) -> None:
    """Load the full weights file ``path`` into ``module`` (plain, DDP or FSDP-sharded);
    keys and shapes must match (a :class:`CheckpointError` naming the file)."""
    state = load_tensors(path)
    check_state(module, state, path)
    sharding.load_full_state_dict(module, state)


def stop_if_not_finite(value: Tensor, what: str, step: int, run_dir: Path) -> None:
    """Raise before any optimizer step when ``value`` is NaN or infinite, saying truly
    whether a checkpoint is left to resume from."""
    if bool(torch.isfinite(value).all()):
        return
    found = checkpoints(run_dir)
    kept = (
        f"the last good checkpoint (step {found[-1][0]}) is kept in {run_dir / 'checkpoints'}"
        if found
        else "no checkpoint had been written yet"
    )
    raise GenlabError(
        f"{what} is {value.float().mean().item()} at step {step}; stopped before the "
        f"optimizer step; {kept}. Lower train.lr or raise train.warmup_steps."
    )


def check_schedule(train: TrainConfig, main: bool) -> int:
    """The effective warm-up: capped at ``train.steps`` with a warning when longer."""
    if train.warmup_steps > train.steps:
        if main:
            warnings.warn(
                f"train.warmup_steps={train.warmup_steps} is longer than train.steps="
                f"{train.steps}; capped at {train.steps}",
                stacklevel=2,
            )
        return train.steps
    return train.warmup_steps


def setup_process(train: TrainConfig) -> distributed.Dist:
    """Join the process group (under torchrun), set threads and check the precision."""
    d = distributed.setup(train.device)
    threads = pick_threads(train.threads)
    if threads:
        torch.set_num_threads(threads)
    if train.bf16 and d.device.type == "cpu" and not cpu_has_bf16():
        warnings.warn(
            "train.bf16=true on a CPU without bfloat16 instructions (AVX512-BF16 / AMX): "
            "torch emulates them and steps run many times slower; use it on CUDA or a "
            "CPU that has them",
            stacklevel=2,
        )
    if train.strategy == "fsdp" and d.world == 1 and d.main:
        warnings.warn("train.strategy=fsdp in a single process: nothing to shard", stacklevel=2)
    return d


def fit(
    run_dir: Path,
    train: TrainConfig,
    seed: int,
    model: nn.Module,
    loss_fn: LossFn,
    data: Dataset,
    *,
    cond_keys: tuple[str, ...],
    preview: PreviewFn,
    resume: bool = False,
) -> Path:
    """Train ``model`` on ``data`` with ``loss_fn`` in ``run_dir`` (which holds the run's
    config.yaml) for ``train.steps`` optimizer steps; return ``run_dir``.

    Args:
        cond_keys: the batch's condition keys the network takes (others are dropped).
        preview: draws the periodic picture from the EMA network (main process only).
        resume: continue from the newest checkpoint in ``run_dir``.
    Raises:
        GenlabError: the loss is not finite (before that step's update), or a bad
            ``train.*`` value (batch not divisible into shards, ...).
    """
    d = setup_process(train)
    try:
        return _fit(Path(run_dir), train, seed, model, loss_fn, data, cond_keys, preview, resume, d)
    finally:
        distributed.teardown()


def _fit(run_dir, train, seed, model, loss_fn, data, cond_keys, preview, resume, d) -> Path:
    warmup = check_schedule(train, d.main)
    model = model.to(d.device)
    ema = sharding.make_ema(model, train.strategy, d.world, d.device)  # before wrapping
    net = sharding.wrap(model, train.strategy, d.world, d.device)  # forward/backward on this
    if train.compile:
        net = torch.compile(net)
    opt = make_optimizer(model.parameters(), train)
    trainable = [p for p in model.parameters() if p.requires_grad]

    start, seen, elapsed = 0, 0, 0.0
    if resume:
        ckpt, state = load_checkpoint(run_dir)
        for module, name in ((model, "model"), (ema.module, "ema")):
            path = ckpt / f"{name}.safetensors"
            load_weights(module, path)
        opt_state = load_optimizer_state(ckpt / "state" / "optimizer.pt")
        sharding.load_optimizer_state(opt, model, opt_state)
        start, elapsed = state["step"], state.get("elapsed_s", 0.0)
        seen = state.get("samples_seen", start * train.batch_size)
    end = train.steps if not train.stop_after else min(train.steps, start + train.stop_after)

    accum, shards = train.grad_accum, d.world * train.grad_accum
    shard = shard_size(train.batch_size, shards, len(data))
    stream = SampleStream(len(data), seed)
    autocast = torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=train.bf16)
    log = RunLog(run_dir, d.main, start, train.steps, train.tensorboard)
    flops = StepFlops(d.device, train.bf16)

    def save(step: int) -> None:
        weights = {
            "model": sharding.full_state_dict(model),
            "ema": sharding.full_state_dict(ema.module),
        }  # every process takes part in the gathers
        optim = {"optimizer": sharding.optimizer_state(opt, model)}
        trainer = {"step": step, "seed": seed, "samples_seen": seen, "elapsed_s": elapsed}
        if d.main:
            save_checkpoint(run_dir, step, weights, optim, trainer, train.keep_last)
        distributed.barrier(d)

    # the loss, and each logged figure as (sum, count) over the micro-batches that logged it
    window: dict[str, Any] = {"loss": 0.0, "n": 0, "time": 0.0, "extra": {}}
    model.train()
    for step in range(start, end):
        tic = time.perf_counter()
        lr = lr_at(step, train.lr, train.steps, warmup, train.min_lr_ratio)
        for group in opt.param_groups:
            group["lr"] = lr
        step_loss = torch.zeros((), device=d.device)
        extra: dict[str, tuple[float, int]] = {}
        with flops.count():  # the first step this process runs: its forward/backward FLOPs
            for micro in range(accum):
                j = d.rank * accum + micro  # this shard's global index
                index = stream.indices(seen + j * shard, shard)
                batch = to_device(data.batch(index, cond_keys), d.device)
                batch["samples_seen"] = seen  # global samples before this step
                seed_global(mix(seed, step, j, _DROPOUT_KEY), d.device)  # dropout, if any
                with sharding.no_sync(net, train.strategy, micro < accum - 1), autocast:
                    per_sample, logs = loss_fn(net, batch, keyed(seed, step, j))
                    loss = per_sample.mean()
                (loss / accum).backward()
                step_loss += loss.detach() / accum
                for k, v in logs.items():
                    total, count = extra.get(k, (0.0, 0))
                    extra[k] = (total + float(v), count + 1)
        step_loss = distributed.all_mean(step_loss, d)
        stop_if_not_finite(step_loss, "the loss", step + 1, run_dir)
        grad_norm = clip_grads(trainable, train.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        seen += train.batch_size
        ema.update(model, ema_beta(train.batch_size, seen, train.ema_halflife, train.ema_rampup))
        dt = time.perf_counter() - tic
        elapsed += dt
        window["loss"] += step_loss.item()
        window["n"] += 1
        window["time"] += dt
        for k, (v, c) in extra.items():  # this process's shards; over processes below
            total, count = window["extra"].get(k, (0.0, 0))
            window["extra"][k] = (total + v, count + c)
        log.advance()

        done = step + 1
        if done % train.log_every == 0 or done == end:
            n = window["n"]
            means = distributed.mean_over_processes(window["extra"], d)
            mfu = flops.mfu(n / window["time"])  # this process's FLOPs against its peak
            log.scalars(
                {
                    "step": done,
                    "loss": window["loss"] / n,
                    "lr": lr,
                    "samples_per_s": n * train.batch_size / window["time"],
                    **({"mfu": mfu} if mfu is not None else {}),
                    "grad_norm": float(grad_norm),
                    "epoch": stream.epoch(seen - 1),
                    "samples_seen": seen,
                    **means,
                }
            )
            window = {"loss": 0.0, "n": 0, "time": 0.0, "extra": {}}
        if (train.sample_every and done % train.sample_every == 0) or done == train.steps:
            local = sharding.unsharded_copy(ema.module)  # a collective under fsdp
            if d.main:
                x, nrow = preview(local)
                write_preview(x, nrow, data.modality, run_dir, log, done, data.sample_rate)
            distributed.barrier(d)
        if done % train.ckpt_every == 0 or done == end:
            save(done)
    log.close()
    return run_dir


def check_compatible(model_cfg: Any, data: Dataset, check_shape: bool = True) -> None:
    """The model's input shape (unless ``check_shape`` is False: a model of the data's
    latents) and classes must match the data's (clear error if not)."""
    shape_fn = getattr(model_cfg, "input_shape", None)
    if check_shape and shape_fn is not None and tuple(shape_fn()) != data.shape:
        hint = ""
        if len(data.shape) == 4:  # clips (C, T, H, W)
            c, t, h, w = data.shape
            hint = f"; set model.in_channels={c} model.frames={t} model.image_size={h}"
        elif len(data.shape) == 3 and data.shape[1] == data.shape[2]:  # square images
            hint = f"; set model.in_channels={data.shape[0]} model.image_size={data.shape[1]}"
        raise ConfigError(
            f"model: expects samples of shape {tuple(shape_fn())} but the data gives "
            f"{data.shape}{hint}"
        )
    k = getattr(model_cfg, "num_classes", 0)
    if k and k != data.num_classes:
        raise ConfigError(f"model.num_classes: {k}, but the data has {data.num_classes} classes")
