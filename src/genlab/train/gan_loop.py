"""The two-player loop: ``n_critic`` discriminator steps, then one generator step. It
knows no family: the GAN family and the KL autoencoder with a patch discriminator both
hand it their two players (network, optimizer, peak learning rate, loss) and a preview.

Per step ``s``: for each D sub-step ``k`` a real batch (stream positions
``[g + k*B, g + (k+1)*B)``, ``g`` the samples consumed so far), split into
``world * grad_accum`` shards -> D loss -> backward (gradients averaged over shards and
processes) -> NaN guard -> clip -> D update; then the G step on the last D sub-step's
real shards -> G update -> EMA of G -> log / preview / checkpoint. Both players' rates
follow ``train``'s warm-up + cosine schedule scaled to their own peaks (TTUR;
``train.min_lr_ratio=1`` keeps them constant).

Randomness: shard ``j`` of D sub-step ``k`` of step ``s`` draws from
``keyed(seed, s, k, j)``, the G step's shard ``j`` from ``keyed(seed, s, n_critic, j)``;
with a single shard (one process, ``grad_accum=1``) the shard index is left out
(``keyed(seed, s, k)``), as genlab has always keyed it; dropout and other draws from the
global generators are seeded by ``(seed, s, k, j)`` before each shard's loss. A
checkpoint holds G, its EMA, D, both optimizers and the sample counts, so a resumed run
reproduces the uninterrupted one exactly, and two processes reproduce one process with
``grad_accum=2``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from genlab.checkpoint import load_checkpoint, load_optimizer_state, save_checkpoint
from genlab.data.base import Dataset
from genlab.errors import ConfigError
from genlab.experiment import TrainConfig
from genlab.rng import keyed, mix
from genlab.train import distributed, sharding
from genlab.train.batches import SampleStream, shard_size, to_device
from genlab.train.ema import ema_beta
from genlab.train.flops import StepFlops
from genlab.train.log import RunLog
from genlab.train.loop import (
    PreviewFn,
    check_schedule,
    clip_grads,
    load_weights,
    seed_global,
    setup_process,
    stop_if_not_finite,
    write_preview,
)
from genlab.train.schedule import lr_at

_DROPOUT_KEY = 0xD50  # the global generators (dropout) of each shard's loss

# loss(g, d, batch, generator, step, sub_step) -> (the shard's mean loss (), logs)
PlayerLoss = Callable[[nn.Module, nn.Module, dict, torch.Generator, int, int], tuple[Tensor, dict]]


@dataclass
class Player:
    """One side of the game.

    Attributes:
        module: the network this player's optimizer updates (unwrapped).
        make_optimizer: builds the optimizer over ``module``'s parameters (called
            after the module is placed on its device).
        lr: the peak learning rate; the schedule scales it each step.
        loss: ``loss(g, d, batch, generator, step, k) -> (mean loss (), logs)``; the D
            loss is called with a G that needs no gradient and the G loss with a D
            whose weights need none.
        grad_clip: max global gradient norm (0: no clipping).
        after_step: called with ``module`` after each update (WGAN weight clipping).
    """

    module: nn.Module
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
    lr: float
    loss: PlayerLoss
    grad_clip: float = 0.0
    after_step: Callable[[nn.Module], None] | None = None


def refuse_unsupported(train: TrainConfig) -> None:
    """The ``train.*`` keys this loop cannot honour: a clear error, never silence."""
    if train.compile:
        raise ConfigError(
            "train.compile: not supported by the two-player loop (its R1 / gradient "
            "penalties take double backward through the discriminator); set it to false"
        )
    if train.strategy == "fsdp":
        raise ConfigError(
            "train.strategy: fsdp shards transformer / U-Net blocks of one network; the "
            "two-player loop runs ddp (set train.strategy=ddp)"
        )


def _generator(seed: int, step: int, k: int, j: int, shards: int) -> torch.Generator:
    return keyed(seed, step, k) if shards == 1 else keyed(seed, step, k, j)


def fit(
    run_dir: Path,
    train: TrainConfig,
    seed: int,
    g: Player,
    d: Player,
    data: Dataset,
    *,
    n_critic: int,
    cond_keys: tuple[str, ...],
    preview: PreviewFn,
    monitor: Callable[[nn.Module], dict] | None = None,
    resume: bool = False,
) -> Path:
    """Train the game in ``run_dir`` (which holds config.yaml); return ``run_dir``.

    Args:
        g, d: the generator (its EMA is kept and saved as ``model``/``ema``) and the
            discriminator (saved as ``disc``).
        n_critic: D steps per G step.
        cond_keys: the batch's condition keys the networks take.
        preview: draws the periodic picture from the EMA generator (main process).
        monitor: extra figures for each logged row from the EMA generator (main process),
            e.g. the mode counts of the 2-D protocol.
    Raises:
        GenlabError: a player's loss is not finite (before its update).
        ConfigError: a ``train.*`` setting this loop cannot honour.
    """
    refuse_unsupported(train)
    dist = setup_process(train)
    try:
        return _fit(
            Path(run_dir), train, seed, g, d, data, n_critic, cond_keys, preview, monitor,
            resume, dist,
        )  # fmt: skip
    finally:
        distributed.teardown()


def _step_player(who, p, net, opt, losses, train, dist, step, run_dir) -> dict:
    """Backward over the shards' losses (already computed as closures), NaN guard, clip,
    update. ``losses`` yields ``(loss (), logs)`` per micro-batch, in order."""
    accum = train.grad_accum
    total = torch.zeros((), device=dist.device)
    logs: dict[str, float] = {}
    opt.zero_grad(set_to_none=True)
    for micro, compute in enumerate(losses):
        with sharding.no_sync(net, train.strategy, micro < accum - 1):
            loss, part = compute()
            (loss / accum).backward()
        total += loss.detach() / accum
        for k, v in part.items():
            logs[k] = logs.get(k, 0.0) + float(v) / accum
    total = distributed.all_mean(total, dist)
    stop_if_not_finite(total, f"the {who} loss", step + 1, run_dir)
    params = [q for q in p.module.parameters() if q.requires_grad]
    norm = clip_grads(params, p.grad_clip)
    opt.step()
    if p.after_step is not None:
        p.after_step(p.module)
    logs[f"{who[0]}_loss"] = float(total)
    logs[f"grad_norm_{who[0]}"] = float(norm)
    return logs


def _fit(run_dir, train, seed, g, d, data, n_critic, cond_keys, preview, monitor, resume, dist):
    warmup = check_schedule(train, dist.main)
    g.module.to(dist.device), d.module.to(dist.device)
    ema = sharding.make_ema(g.module, train.strategy, dist.world, dist.device)
    net_g = sharding.wrap(g.module, train.strategy, dist.world, dist.device)
    net_d = sharding.wrap(d.module, train.strategy, dist.world, dist.device)
    opt_g, opt_d = g.make_optimizer(g.module), d.make_optimizer(d.module)

    start, seen, g_seen, elapsed = 0, 0, 0, 0.0
    if resume:
        ckpt, state = load_checkpoint(run_dir)
        for module, name in ((g.module, "model"), (ema.module, "ema"), (d.module, "disc")):
            path = ckpt / f"{name}.safetensors"
            load_weights(module, path)
        for opt, module, name in ((opt_g, g.module, "g"), (opt_d, d.module, "d")):
            s = load_optimizer_state(ckpt / "state" / f"optimizer_{name}.pt")
            sharding.load_optimizer_state(opt, module, s)
        start, elapsed = state["step"], state.get("elapsed_s", 0.0)
        seen = state.get("samples_seen", start * n_critic * train.batch_size)
        g_seen = state.get("generator_samples", start * train.batch_size)
    end = train.steps if not train.stop_after else min(train.steps, start + train.stop_after)

    accum, shards = train.grad_accum, dist.world * train.grad_accum
    shard = shard_size(train.batch_size, shards, len(data))
    stream = SampleStream(len(data), seed)
    autocast = torch.autocast(dist.device.type, dtype=torch.bfloat16, enabled=train.bf16)
    log = RunLog(
        run_dir, dist.main, start, train.steps, train.tensorboard, show=("d_loss", "g_loss")
    )
    flops = StepFlops(dist.device, train.bf16)

    def save(step: int) -> None:
        weights = {
            "model": sharding.full_state_dict(g.module),
            "ema": sharding.full_state_dict(ema.module),
            "disc": sharding.full_state_dict(d.module),
        }
        optim = {
            "optimizer_g": sharding.optimizer_state(opt_g, g.module),
            "optimizer_d": sharding.optimizer_state(opt_d, d.module),
        }
        trainer = {
            "step": step,
            "seed": seed,
            "samples_seen": seen,
            "generator_samples": g_seen,
            "elapsed_s": elapsed,
        }
        if dist.main:
            save_checkpoint(run_dir, step, weights, optim, trainer, train.keep_last)
        distributed.barrier(dist)

    def shards_of(step: int, k: int) -> list[dict]:
        """This process's micro-batches of D sub-step ``k``."""
        out = []
        for micro in range(accum):
            j = dist.rank * accum + micro
            index = stream.indices(seen + k * train.batch_size + j * shard, shard)
            batch = to_device(data.batch(index, cond_keys), dist.device)
            batch["samples_seen"] = seen
            out.append((j, batch))
        return out

    def closure(loss_fn, gen_net, disc_net, batch, gen, step, k, j, sub=None):
        """The loss of shard ``j``; ``sub`` (default ``k``) keys its dropout draws."""

        def compute():
            key = mix(seed, step, k if sub is None else sub, j, _DROPOUT_KEY)
            seed_global(key, dist.device)  # dropout, if any
            with autocast:
                loss, logs = loss_fn(gen_net, disc_net, batch, gen, step, k)
            return loss.float(), logs

        return compute

    window: dict[str, tuple[float, int]] = {}  # name -> (sum, count) since the last row
    n_win, t_win = 0, 0.0
    g.module.train(), d.module.train()
    for step in range(start, end):
        tic = time.perf_counter()
        scale = lr_at(step, 1.0, train.steps, warmup, train.min_lr_ratio)
        for opt, peak in ((opt_d, d.lr), (opt_g, g.lr)):
            for group in opt.param_groups:
                group["lr"] = peak * scale
        with flops.count():  # the first step this process runs (D steps, then G)
            parts = []
            for k in range(n_critic):
                batches = shards_of(step, k)
                losses = [
                    closure(
                        d.loss, g.module, net_d, b, _generator(seed, step, k, j, shards), step, k, j
                    )
                    for j, b in batches
                ]
                parts.append(
                    _step_player(
                        "discriminator", d, net_d, opt_d, losses, train, dist, step, run_dir
                    )
                )
            # D logs: mean over the sub-steps that logged them (R1 runs on some only)
            logs = {n: sum(p[n] for p in parts if n in p) / sum(n in p for p in parts)
                    for n in set().union(*parts)}  # fmt: skip
            frozen = [q for q in d.module.parameters() if q.requires_grad]
            for q in frozen:  # D's weights need no gradient in the G step
                q.requires_grad_(False)
            losses = [
                closure(
                    g.loss,
                    net_g,
                    d.module,
                    b,
                    _generator(seed, step, n_critic, j, shards),
                    step,
                    0,
                    j,
                    n_critic,
                )
                for j, b in batches
            ]
            logs.update(
                _step_player("generator", g, net_g, opt_g, losses, train, dist, step, run_dir)
            )
            for q in frozen:
                q.requires_grad_(True)
        seen += n_critic * train.batch_size
        g_seen += train.batch_size
        ema.update(
            g.module, ema_beta(train.batch_size, g_seen, train.ema_halflife, train.ema_rampup)
        )
        dt = time.perf_counter() - tic
        elapsed, t_win, n_win = elapsed + dt, t_win + dt, n_win + 1
        for name, v in logs.items():
            total, count = window.get(name, (0.0, 0))
            window[name] = (total + v, count + 1)
        log.advance()

        done = step + 1
        if done % train.log_every == 0 or done == end:
            means = distributed.mean_over_processes(window, dist)
            row = {"step": done, "loss": means["d_loss"], **means}
            row["lr_scale"] = scale
            row["samples_per_s"] = n_win * train.batch_size / t_win
            mfu = flops.mfu(n_win / t_win)
            if mfu is not None:
                row["mfu"] = mfu
            row["epoch"] = stream.epoch(seen - 1)
            row["samples_seen"] = seen
            if monitor is not None and dist.main:
                row.update(monitor(ema.module))
            log.scalars(row)
            window, n_win, t_win = {}, 0, 0.0
        if dist.main and (
            (train.sample_every and done % train.sample_every == 0) or done == train.steps
        ):
            x, nrow = preview(ema.module)
            write_preview(x, nrow, data.modality, run_dir, log, done, data.sample_rate)
        if done % train.ckpt_every == 0 or done == end:
            save(done)
    log.close()
    return run_dir
