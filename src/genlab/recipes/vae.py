"""The VAE family: VAE / beta-VAE / conditional VAE (``elbo``), the KL autoencoder
(``klae``: the ELBO with a small KL weight and a spatial latent whose ``scale``/``shift``
are measured after training), and the VQ-VAE tokenizers (``vq``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from genlab import config as C
from genlab.data import DATASETS, build_dataset
from genlab.errors import ConfigError
from genlab.models import build_model
from genlab.models.vae import VAEConfig
from genlab.models.vq import VQConfig
from genlab.objectives.vae import ELBOConfig, VQLossConfig, elbo_loss, vq_loss
from genlab.recipes.experiment import Experiment, TrainConfig
from genlab.recipes.tasks import Recipe, Task
from genlab.rng import keyed, randn_per_seed

MNIST = {"name": "mnist", "root": "../shared/data/mnist", "split": "test", "start": 0, "stop": 8000}


@dataclass
class VAESamplerConfig:
    temperature: float = 1.0  # std of the prior draw z ~ N(0, temperature^2 I)

    def __post_init__(self):
        if self.temperature < 0:
            raise ConfigError(f"sampler.temperature: must be >= 0, got {self.temperature}")


@dataclass
class VQSamplerConfig:
    """A tokenizer has no prior of its own: ``sample`` decodes tokens drawn i.i.d. from
    the codebook's usage frequencies (a unigram prior), a baseline for the token models."""

    temperature: float = 1.0


def null_cond(exp: Experiment) -> dict:
    k = getattr(exp.model, "num_classes", 0)
    return {"class": torch.tensor(k, dtype=torch.int64)} if k else {}


def elbo_task_loss(exp: Experiment):
    o = exp.objective
    return partial(elbo_loss, beta=o.beta, warmup_samples=o.warmup_samples, binarize=o.binarize)


@torch.no_grad()
def sample_vae(model: nn.Module, exp, seeds: list[int], cond: dict, scfg) -> Tensor:
    """Decode prior draws: ``z_i ~ N(0, T^2 I)`` from seed i -> mean images ``(n, C, H, W)``."""
    device = next(model.parameters()).device
    z = randn_per_seed(seeds, model.cfg.latent_shape(), device) * scfg.temperature
    return model.mean_image(model.decoder(z, cond)).clamp(-1, 1)


def preview_recon(model: nn.Module, exp, data) -> tuple[Tensor, int]:
    """Rows of 8 held-in images and, below each row, their reconstructions."""
    device = next(model.parameters()).device
    x = data.x[: min(32, exp.train.num_samples)].to(device)
    with torch.no_grad():
        if isinstance(exp.model, VQConfig):
            rec = model.decode(model.encode(x))
        else:
            rec = model.mean_image(model.decoder(model.posterior(x)[0]))
    rows = [t for i in range(0, len(x), 8) for t in (x[i : i + 8], rec[i : i + 8])]
    return torch.cat(rows).clamp(-1, 1).cpu(), 8


@torch.no_grad()
def measure_scale_shift(model: nn.Module, x: Tensor, batch: int = 500) -> tuple[float, float]:
    """``shift`` = mean and ``scale`` = 1 / std of the posterior means over ``x``, so
    ``encode`` gives latents of zero mean and unit variance (Rombach et al. 2022, sec. 4.3
    rescale by 1/std)."""
    mus = [model.posterior(x[i : i + batch])[0] for i in range(0, len(x), batch)]
    mu = torch.cat(mus).double()
    return float(1.0 / mu.std()), float(mu.mean())


def fit_klae(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train (the shared loop, or :func:`fit_klae_adversarial` when
    ``objective.disc_weight > 0``), then measure ``scale``/``shift`` on the training data
    (EMA weights) and store them in the run's config.yaml."""
    from genlab.runs import load_model
    from genlab.train import distributed
    from genlab.train.loop import _fit

    if exp.objective.disc_weight > 0:
        fit_klae_adversarial(exp, Path(run_dir), resume)
    else:
        d = distributed.setup(exp.train.device)
        try:
            _fit(exp, TASKS["klae"], Path(run_dir), resume, d)
            if not d.main:
                return run_dir
        finally:
            distributed.teardown()
    if exp.train.stop_after:
        return run_dir
    stored, model = load_model(run_dir, "ema")
    scale, shift = measure_scale_shift(model, build_dataset(stored.data).x)
    stored.model.scale, stored.model.shift = scale, shift
    C.save_yaml(stored, Path(run_dir) / "config.yaml")
    print(f"klae: measured latent scale={scale:.4f} shift={shift:.4f} -> config.yaml")
    return run_dir


def fit_klae_adversarial(exp: Experiment, run_dir: Path, resume: bool) -> None:
    """Single-process two-optimizer loop: per step one autoencoder step on
    ``recon + beta * KL + disc_weight * hinge_G(D(x_hat))`` and one patch-discriminator
    step on ``hinge_D(D(x), D(x_hat))`` (Esser et al. 2021; Rombach et al. 2022, with a
    fixed adversarial weight). Reuses the shared loop's helpers (optimizer, schedule,
    keyed randomness, EMA, checkpoints, RunLog, previews); checkpoints hold the
    discriminator and both optimizers, so a resume continues exactly."""
    from genlab.models.vae import PatchDiscriminator
    from genlab.objectives import gan as G
    from genlab.objectives.vae import elbo_terms
    from genlab.train.batches import ShardedBatches
    from genlab.train.checkpoint import (
        load_checkpoint,
        load_into,
        load_optimizer_state,
        save_checkpoint,
    )
    from genlab.train.ema import EMA, ema_beta
    from genlab.train.log import RunLog
    from genlab.train.loop import make_optimizer, seed_init, write_preview
    from genlab.train.schedule import lr_at

    t, o = exp.train, exp.objective
    if t.threads:
        torch.set_num_threads(t.threads)
    data = build_dataset(exp.data)
    seed_init(exp)
    ae = build_model(exp.model)
    disc = PatchDiscriminator(exp.model.in_channels, o.disc_channels)
    ema = EMA(ae)
    opt_g = make_optimizer(ae, exp)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=t.lr, betas=t.betas, weight_decay=0.0)
    start = 0
    if resume:
        ckpt, state = load_checkpoint(run_dir)
        for module, name in ((ae, "model"), (ema.module, "ema"), (disc, "disc")):
            load_into(module, ckpt / f"{name}.safetensors")
        opt_g.load_state_dict(load_optimizer_state(ckpt / "state" / "optimizer.pt"))
        opt_d.load_state_dict(load_optimizer_state(ckpt / "state" / "optimizer_d.pt"))
        start = state["step"]
    end = t.steps if not t.stop_after else min(t.steps, start + t.stop_after)
    batches = ShardedBatches(len(data), t.batch_size, 1, exp.seed)
    log = RunLog(run_dir, True, start, t.steps, t.tensorboard)
    clip = t.grad_clip if t.grad_clip > 0 else float("inf")
    tic, seen = time.perf_counter(), 0
    for step in range(start, end):
        lr = lr_at(step, t.lr, t.steps, t.warmup_steps, t.min_lr_ratio)
        for group in [*opt_g.param_groups, *opt_d.param_groups]:
            group["lr"] = lr
        batch = data.batch(batches.indices(step, 0), ())
        rec, kl, out = elbo_terms(ae, batch, keyed(exp.seed, step, 0), o.binarize)
        x_hat = ae.mean_image(out)
        adv = o.disc_weight if step >= o.disc_start else 0.0
        g_adv = G.g_loss("hinge", disc(x_hat))
        loss = (rec + o.beta * kl + adv * g_adv).mean()
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ae.parameters(), clip)
        opt_g.step()
        d_loss = G.d_loss("hinge", disc(batch["x"]), disc(x_hat.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        ema.update(
            ae, ema_beta(t.batch_size, (step + 1) * t.batch_size, t.ema_halflife, t.ema_rampup)
        )
        log.advance()
        done = step + 1
        if not torch.isfinite(loss + d_loss):
            raise ConfigError(f"klae: loss is not finite at step {done}; lower train.lr")
        seen += t.batch_size
        if done % t.log_every == 0 or done == end:
            speed = seen / (time.perf_counter() - tic)
            tic, seen = time.perf_counter(), 0
            log.scalars(
                {
                    "step": done,
                    "loss": loss.item(),
                    "lr": lr,
                    "recon": rec.mean().item(),
                    "kl": kl.mean().item(),
                    "g_adv": g_adv.mean().item(),
                    "d_loss": d_loss.item(),
                    "samples_per_s": speed,
                }
            )
        if (t.sample_every and done % t.sample_every == 0) or done == t.steps:
            x, nrow = preview_recon(ema.module, exp, data)
            write_preview(x, nrow, data, run_dir, log, done)
        if done % t.ckpt_every == 0 or done == end:
            save_checkpoint(
                run_dir,
                done,
                {
                    "model": ae.state_dict(),
                    "ema": ema.module.state_dict(),
                    "disc": disc.state_dict(),
                },
                {"optimizer": opt_g.state_dict(), "optimizer_d": opt_d.state_dict()},
                {"step": done, "seed": exp.seed, "samples_seen": done * t.batch_size},
                t.keep_last,
            )
    log.close()


def vq_task_loss(exp: Experiment):
    o = exp.objective
    return partial(vq_loss, commitment=o.commitment, recon=o.recon)


@torch.no_grad()
def sample_vq(model: nn.Module, exp, seeds: list[int], cond: dict, scfg) -> Tensor:
    """Decode tokens drawn i.i.d. from each codebook's usage ``p^(1/T)`` (unigram prior)."""
    books, depth = model.books, model.cfg.depth
    probs = [
        (b.ema_count.cpu().clamp_min(0) + 1e-8) ** (1 / max(scfg.temperature, 1e-3)) for b in books
    ]
    n = model.cfg.num_tokens() // depth
    rows = []
    for s in seeds:
        g = keyed(s)
        per = [torch.multinomial(p, n, True, generator=g) for p in probs]  # (n,) each
        rows.append(torch.stack(per, -1).reshape(-1))  # position-major, depth inner
    tokens = torch.stack(rows).to(books[0].codes.device)
    return model.decode(tokens).clamp(-1, 1)


TASKS = {
    "elbo": Task(
        "vae",
        ELBOConfig,
        VAESamplerConfig,
        build=lambda exp: build_model(exp.model),
        sample=sample_vae,
        loss=elbo_task_loss,
        null_cond=null_cond,
        doc="VAE / beta-VAE / conditional VAE: negative ELBO",
    ),
    "vq": Task(
        "vae",
        VQLossConfig,
        VQSamplerConfig,
        build=lambda exp: build_model(exp.model),
        sample=sample_vq,
        loss=vq_task_loss,
        preview=preview_recon,
        cond_keys=lambda exp: (),
        doc="VQ-VAE tokenizer: reconstruction + commitment (EMA codebook)",
    ),
}


@dataclass
class KLAEConfig(ELBOConfig):
    """The ELBO with a small KL weight (the reconstruction dominates)."""

    kind: Literal["klae"] = "klae"  # type: ignore[assignment]
    beta: float = 1e-3
    disc_weight: float = 0.0  # weight of the patch discriminator's hinge G loss (0: none)
    disc_start: int = 0  # optimizer step at which the adversarial term switches on
    disc_channels: int = 32


TASKS["klae"] = Task(
    "vae",
    KLAEConfig,
    VAESamplerConfig,
    build=lambda exp: build_model(exp.model),
    sample=sample_vae,
    loss=elbo_task_loss,
    fit=fit_klae,
    preview=preview_recon,
    cond_keys=lambda exp: (),
    doc="KL autoencoder (latent-diffusion first stage): Laplace reconstruction + small KL",
)


# ----------------------------------------------------------------------------- recipes


def _train(steps: int, batch: int = 128, lr: float = 1e-3, **kw) -> TrainConfig:
    base = dict(
        steps=steps,
        batch_size=batch,
        lr=lr,
        warmup_steps=100,
        ema_halflife=5_000.0,
        log_every=50,
        sample_every=1000,
        num_samples=64,
        ckpt_every=1000,
    )
    return TrainConfig(**{**base, **kw})


def _data(name: str, **kw):
    if name == "mnist":
        return C.from_dict(DATASETS["mnist"].config, {**MNIST, **kw})
    return DATASETS[name].config(**kw)


def vae(data: str = "mnist", **model) -> Experiment:
    """One-layer-latent VAE (MLP, Bernoulli, dynamic binarisation on MNIST)."""
    if data == "mnist":
        m = VAEConfig(**{"latent_dim": 50, "hidden": 500, "depth": 2, **model})
        obj = ELBOConfig(binarize=True, warmup_samples=100_000)
        return Experiment(
            data=_data("mnist"),
            model=m,
            objective=obj,
            sampler=VAESamplerConfig(),
            train=_train(10_000, 100),
        )
    base = dict(in_channels=3, image_size=32, encoder="conv", latent_dim=32, likelihood="laplace")
    m = VAEConfig(**{**base, **model})
    return Experiment(
        data=_data("shapes"),
        model=m,
        objective=ELBOConfig(warmup_samples=50_000),
        sampler=VAESamplerConfig(),
        train=_train(4000),
    )


def beta_vae_shapes() -> Experiment:
    """beta-VAE (beta = 4, KL warm-up) on shapes: a small latent for traversals."""
    exp = vae("shapes", latent_dim=10)
    exp.objective = ELBOConfig(beta=4.0, warmup_samples=100_000)
    return exp


def cvae(data: str = "digits") -> Experiment:
    """Conditional VAE: the label enters encoder and decoder."""
    if data == "digits":
        m = VAEConfig(
            image_size=8, hidden=256, depth=2, latent_dim=8, num_classes=10, likelihood="gaussian"
        )
        return Experiment(
            data=_data("digits"),
            model=m,
            objective=ELBOConfig(warmup_samples=20_000),
            sampler=VAESamplerConfig(),
            train=_train(3000),
        )
    exp = vae(data, num_classes=10 if data == "mnist" else 5)
    return exp


def klae(data: str = "mnist") -> Experiment:
    """KL autoencoder: spatial 4-channel latent, Laplace reconstruction, KL weight 1e-3,
    and a patch discriminator (hinge, weight 50) from step 300."""
    c, s = (1, 28) if data == "mnist" else (3, 32)
    m = VAEConfig(
        in_channels=c,
        image_size=s,
        encoder="conv",
        spatial=True,
        latent_dim=4,
        channels=16,
        likelihood="laplace",
    )
    return Experiment(
        data=_data(data),
        model=m,
        objective=KLAEConfig(disc_weight=50.0, disc_start=300),
        sampler=VAESamplerConfig(),
        train=_train(1500, 64, 2e-3, sample_every=500, ckpt_every=500),
    )


def vqvae(data: str = "mnist", scales: tuple[int, ...] = ()) -> Experiment:
    """VQ-VAE tokenizer: 256 EMA codes of size 32 on a 7x7 (MNIST) / 8x8 (shapes) grid;
    with ``scales`` the multi-scale residual tokenizer that VAR needs."""
    c, s = (1, 28) if data == "mnist" else (3, 32)
    m = VQConfig(in_channels=c, image_size=s, channels=16, scales=scales)
    return Experiment(
        data=_data(data),
        model=m,
        objective=VQLossConfig(),
        sampler=VQSamplerConfig(),
        train=_train(1500, 64, 2e-3, ema_halflife=500.0, sample_every=500, ckpt_every=500),
    )


RECIPES = {
    "vae-mnist": Recipe(vae, "VAE, MLP, Bernoulli, dynamically binarised MNIST [0,8000)"),
    "vae-shapes": Recipe(partial(vae, "shapes"), "conv VAE, Laplace likelihood, shapes"),
    "beta-vae-shapes": Recipe(beta_vae_shapes, "beta-VAE (beta=4, KL warm-up), shapes"),
    "cvae-digits": Recipe(cvae, "conditional VAE, Gaussian likelihood, 8x8 digits"),
    "cvae-mnist": Recipe(partial(cvae, "mnist"), "conditional VAE, Bernoulli, MNIST"),
    "cvae-shapes": Recipe(partial(cvae, "shapes"), "conditional VAE (shape label), shapes"),
    "klae-mnist": Recipe(
        klae, "KL autoencoder (4x7x7 latent) + patch discriminator, MNIST [0,8000)"
    ),
    "klae-shapes": Recipe(
        partial(klae, "shapes"), "KL autoencoder (4x8x8 latent) + patch discriminator, shapes"
    ),
    "vqvae-mnist": Recipe(vqvae, "VQ-VAE tokenizer, 256 codes, 7x7 tokens, MNIST"),
    "vqvae-shapes": Recipe(partial(vqvae, "shapes"), "VQ-VAE tokenizer, 8x8 tokens, shapes"),
    "msvq-mnist": Recipe(
        partial(vqvae, "mnist", (1, 2, 3, 4, 5, 7)), "multi-scale VQ tokenizer for VAR, MNIST"
    ),
    "msvq-shapes": Recipe(
        partial(vqvae, "shapes", (1, 2, 4, 6, 8)), "multi-scale VQ tokenizer for VAR, shapes"
    ),
}


# ------------------------------------------------------------- traversals, interpolations


@torch.no_grad()
def traverse(vae: nn.Module, z: Tensor, dims: list[int], values: Tensor, cond=None) -> Tensor:
    """Decode ``z (D,)`` with one coordinate at a time set to each of ``values (V,)``:
    ``(len(dims) * V, C, H, W)``, one row per dimension (Higgins et al. 2017, fig. 7)."""
    zs = z.expand(len(dims), len(values), -1).clone()
    for r, d in enumerate(dims):
        zs[r, :, d] = values.to(z)
    zs = zs.reshape(-1, z.shape[-1])
    c = {k: v.expand(len(zs)) for k, v in (cond or {}).items()}
    return vae.mean_image(vae.decoder(zs, c)).clamp(-1, 1)


@torch.no_grad()
def latent_figures(run_dir, out_dir, images=(0, 1), steps: int = 8, rows: int = 8) -> list:
    """Write ``traversal.png`` (the ``rows`` latent dimensions with the largest mean KL on
    the first 500 training images, each swept over [-3, 3] around the posterior mean of
    image ``images[0]``) and ``linear`` / ``spherical`` interpolations (PNG strip + GIF)
    between the posterior means of two training images, via ``genlab.sampling.latent``.
    Vector latents only. Returns the paths written."""
    from genlab.runs import load_model
    from genlab.sampling.latent import interpolate
    from genlab.viz import save_grid

    exp, vae = load_model(Path(run_dir))
    if vae.cfg.spatial:
        raise ConfigError(f"{run_dir}: traversals need a vector latent (model.spatial=false)")
    data = build_dataset(exp.data)
    x = data.x[:500]
    cond = {"class": data.cond["class"][:500]} if exp.model.num_classes else {}
    mu, logvar = vae.posterior(x, cond)
    kl_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(0)  # (D,)
    dims = kl_dim.argsort(descending=True)[: min(rows, len(kl_dim))].tolist()
    i, j = images
    c0 = {k: v[i] for k, v in cond.items()}
    out = Path(out_dir)
    paths = [out / "traversal.png"]
    grid = traverse(vae, mu[i], dims, torch.linspace(-3, 3, 9), c0)
    save_grid(grid, paths[0], nrow=9)

    def decode(z):
        c = {k: v.expand(len(z)) for k, v in c0.items()}
        return vae.mean_image(vae.decoder(z.float(), c)).clamp(-1, 1)

    for kind in ("linear", "spherical"):
        strip, gif = out / f"{kind}.png", out / f"{kind}.gif"
        interpolate(decode, mu[j], mu[i], steps, kind, strip, gif)
        paths += [strip, gif]
    return paths


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description="latent traversals and interpolations of a VAE run")
    p.add_argument("run")
    p.add_argument("out")
    a = p.parse_args()
    for path in latent_figures(a.run, a.out):
        print(path)
