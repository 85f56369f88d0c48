"""The two-player loop: alternating discriminator and generator steps.

Per step: ``n_critic`` D steps (each on its own real batch and fresh z) -> one G step ->
EMA of G -> log / preview / checkpoint. Separate Adam optimizers and learning rates
(TTUR) that follow ``train``'s warm-up + cosine schedule (``min_lr_ratio=1`` keeps them
constant); lazy R1 (every ``r1_every`` steps, scaled by it), gradient penalty, WGAN
weight clipping, PacGAN packing and annealed instance noise, as the ``objective``
section says.

Randomness is keyed like ``train/loop.py``: D sub-step ``k`` of step ``s`` draws from
``keyed(seed, s, k)`` and reads real batch ``s * n_critic + k`` of the stateless
shuffle; the G step draws from ``keyed(seed, s, n_critic)``. A checkpoint holds G, D,
the EMA of G, both optimizers and the step, so a resumed run reproduces the
uninterrupted one exactly. A NaN / Inf in either loss stops before that optimizer step
and keeps the last good checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import Tensor, nn

from genlab.data import build_dataset
from genlab.errors import GenlabError
from genlab.metrics.modes import PROTOCOLS, protocol_stats
from genlab.objectives import gan as L
from genlab.recipes import Experiment, get_task
from genlab.recipes.gan import build_discriminator, generate
from genlab.rng import keyed
from genlab.train.batches import ShardedBatches, to_device
from genlab.train.checkpoint import (
    load_checkpoint,
    load_into,
    load_optimizer_state,
    save_checkpoint,
)
from genlab.train.distributed import pick_device
from genlab.train.ema import EMA, ema_beta
from genlab.train.log import RunLog
from genlab.train.loop import check_compatible, preview, seed_init, write_preview
from genlab.train.schedule import lr_at

MODE_SAMPLES = 2500  # points drawn for the live mode count (VEEGAN / PacGAN protocol)


def _grad_norm(params, clip: float) -> float:
    return float(torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf")))


def _check(loss: Tensor, who: str, step: int, run_dir: Path) -> None:
    if not torch.isfinite(loss):
        raise GenlabError(
            f"{who} loss is {loss.item()} at step {step}; stopped. The last good "
            f"checkpoint is kept in {run_dir / 'checkpoints'}"
        )


def noise_std(exp, step: int) -> float:
    """Instance-noise std at ``step``: linear decay from ``objective.instance_noise`` to 0."""
    o = exp.objective
    span = o.instance_noise_steps or exp.train.steps
    return o.instance_noise * max(0.0, 1.0 - step / span)


def _noisy(x: Tensor, std: float, gen: torch.Generator) -> Tensor:
    """``x + std * eps`` with ``eps`` drawn from ``gen`` (``x`` itself when ``std == 0``)."""
    if std == 0:
        return x
    return x + std * torch.randn(x.shape, generator=gen).to(x)


def d_step(exp, g, d, opt_d, batch, gen, step, k, run_dir) -> dict:
    """One discriminator update; returns its logs."""
    o, t = exp.objective, exp.train
    d_fn = L.LOSSES[o.loss][0]
    real, cond = batch["x"], batch["cond"]
    z = torch.randn(len(real), exp.model.z_dim, generator=gen).to(real)
    with torch.no_grad():
        fake = generate(g, z, cond, gen, _mix_prob(exp))
    std = noise_std(exp, step)
    real, fake = _noisy(real, std, gen), _noisy(fake, std, gen)
    real_p, fake_p = L.pack(real, o.pack), L.pack(fake, o.pack)  # (B/m, m*C, ...)

    def critic(x):
        return d(x, cond)

    r, f = critic(real_p), critic(fake_p)  # (B/m,) logits
    loss = d_fn(r, f).mean()
    logs = {"d_real": r.mean().item(), "d_fake": f.mean().item()}
    if o.gp_weight > 0:
        gp = L.gradient_penalty(critic, real_p, fake_p, gen).mean()
        loss = loss + o.gp_weight * gp
        logs["gp"] = gp.item()
    if o.r1_gamma > 0 and k == 0 and step % o.r1_every == 0:
        r1 = L.r1_penalty(critic, real_p).mean()
        loss = loss + 0.5 * o.r1_gamma * o.r1_every * r1
        logs["r1"] = r1.item()
    _check(loss, "discriminator", step + 1, run_dir)
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    logs["grad_norm_d"] = _grad_norm(d.parameters(), t.grad_clip)
    opt_d.step()
    if o.loss == "wgan":
        L.clip_weights_(d, o.clip)
    logs["d_loss"] = loss.item()
    return logs


def g_step(exp, g, d, opt_g, cond, n, gen, step, run_dir, device) -> dict:
    """One generator update on ``n`` fresh samples; returns its logs."""
    o, t = exp.objective, exp.train
    z = torch.randn(n, exp.model.z_dim, generator=gen).to(device)
    d.requires_grad_(False)
    fake = _noisy(generate(g, z, cond, gen, _mix_prob(exp)), noise_std(exp, step), gen)
    f = d(L.pack(fake, o.pack), cond)
    loss = L.LOSSES[o.loss][1](f).mean()
    _check(loss, "generator", step + 1, run_dir)
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    d.requires_grad_(True)
    logs = {"g_loss": loss.item(), "grad_norm_g": _grad_norm(g.parameters(), t.grad_clip)}
    opt_g.step()
    return logs


def _mix_prob(exp) -> float:
    return getattr(exp.model.generator, "mixing_prob", 0.0)


def _adam(module: nn.Module, lr: float, betas) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=lr, betas=tuple(betas))


def fit_gan(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train the GAN ``exp`` in ``run_dir`` (which holds its config.yaml); return it."""
    run_dir, t, o = Path(run_dir), exp.train, exp.objective
    task = get_task(exp.objective.kind)
    device = pick_device(t.device)
    if t.threads:
        torch.set_num_threads(t.threads)
    data = build_dataset(exp.data)
    check_compatible(exp, data)
    seed_init(exp)
    g = task.build(exp).to(device)
    d = build_discriminator(exp).to(device)
    ema = EMA(g)
    opt_g, opt_d = _adam(g, o.g_lr, o.betas), _adam(d, o.d_lr, o.betas)
    cond_keys = task.keys(exp)
    if t.batch_size % o.pack:
        raise GenlabError(
            f"train.batch_size: {t.batch_size} is not a multiple of objective.pack={o.pack}"
        )

    start, elapsed = 0, 0.0
    if resume:
        ckpt, state = load_checkpoint(run_dir)
        load_into(g, ckpt / "model.safetensors")
        load_into(ema.module, ckpt / "ema.safetensors")
        load_into(d, ckpt / "disc.safetensors")
        opt_g.load_state_dict(load_optimizer_state(ckpt / "state" / "optimizer_g.pt"))
        opt_d.load_state_dict(load_optimizer_state(ckpt / "state" / "optimizer_d.pt"))
        start, elapsed = state["step"], state.get("elapsed_s", 0.0)
    end = t.steps if not t.stop_after else min(t.steps, start + t.stop_after)
    batches = ShardedBatches(len(data), t.batch_size, 1, exp.seed)
    log = RunLog(run_dir, True, start, t.steps, t.tensorboard)
    protocol = exp.data.name if exp.data.name in PROTOCOLS else None

    def save(step: int) -> None:
        save_checkpoint(
            run_dir,
            step,
            {"model": g.state_dict(), "ema": ema.module.state_dict(), "disc": d.state_dict()},
            {"optimizer_g": opt_g.state_dict(), "optimizer_d": opt_d.state_dict()},
            {
                "step": step,
                "seed": exp.seed,
                "samples_seen": step * t.batch_size,
                "elapsed_s": elapsed,
            },
            t.keep_last,
        )

    window: dict[str, tuple[float, int]] = {}  # name -> (sum, count) since the last row
    n_win, t_win = 0, 0.0
    g.train(), d.train()
    for step in range(start, end):
        tic = time.perf_counter()
        scale = lr_at(step, 1.0, t.steps, t.warmup_steps, t.min_lr_ratio)
        for opt, lr in ((opt_d, o.d_lr), (opt_g, o.g_lr)):
            for group in opt.param_groups:
                group["lr"] = lr * scale
        parts = []
        for k in range(o.n_critic):
            idx = batches.indices(step * o.n_critic + k, 0)
            batch = to_device(data.batch(idx, cond_keys), device)
            gen = keyed(exp.seed, step, k)
            parts.append(d_step(exp, g, d, opt_d, batch, gen, step, k, run_dir))
        # D logs: mean over the sub-steps that logged them (R1 runs on some only)
        logs = {n: sum(p[n] for p in parts if n in p) / sum(n in p for p in parts)
                for n in set().union(*parts)}  # fmt: skip
        gen = keyed(exp.seed, step, o.n_critic)
        cond = batch["cond"]
        logs.update(g_step(exp, g, d, opt_g, cond, t.batch_size, gen, step, run_dir, device))
        seen = (step + 1) * t.batch_size
        ema.update(g, ema_beta(t.batch_size, seen, t.ema_halflife, t.ema_rampup))
        dt = time.perf_counter() - tic
        elapsed, t_win, n_win = elapsed + dt, t_win + dt, n_win + 1
        for name, v in logs.items():
            total, count = window.get(name, (0.0, 0))
            window[name] = (total + v, count + 1)
        log.advance()

        done = step + 1
        if done % t.log_every == 0 or done == end:
            row = {"step": done, "loss": window["d_loss"][0] / window["d_loss"][1]}
            row.update({name: v / c for name, (v, c) in sorted(window.items())})
            row["lr_scale"] = scale
            row["samples_per_s"] = n_win * t.batch_size / t_win
            row["epoch"] = batches.epoch(step * o.n_critic)
            if protocol:
                x = task.sample(ema.module, exp, list(range(MODE_SAMPLES)), {}, exp.sampler)
                s = protocol_stats(x.cpu(), protocol)
                row.update(modes=s["modes"], high_quality=s["high_quality"], kl=s["reverse_kl"])
            log.scalars(row)
            window, n_win, t_win = {}, 0, 0.0
        if (t.sample_every and done % t.sample_every == 0) or done == t.steps:
            x, nrow = preview(task, ema.module, exp, data, device)
            write_preview(x, nrow, data, run_dir, log, done)
        if done % t.ckpt_every == 0 or done == end:
            save(done)
    log.close()
    return run_dir
