"""The VAE family: every autoencoder and codec.

- ``elbo``: VAE / beta-VAE / conditional VAE, the negative (beta-)ELBO;
- ``klae``: the KL autoencoder (latent-diffusion first stage): the ELBO with a small KL
  weight and a spatial latent, optionally against a patch discriminator in the
  two-player loop (Esser et al. 2021; Rombach et al. 2022); after training its latent
  ``scale``/``shift`` are measured and stored in ``config.yaml``;
- ``vq``: the VQ-VAE tokenizers (reconstruction + commitment, EMA codebooks).
"""

from __future__ import annotations

import copy
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

import genlab.config as C
from genlab.checkpoint import load_network
from genlab.data import build_dataset
from genlab.data.base import Dataset
from genlab.experiment import Experiment
from genlab.families.base import (
    Family,
    class_cond_keys,
    class_null_cond,
    class_preview,
    fit_one_objective,
    no_dependencies,
    prepare,
)
from genlab.models import build_model
from genlab.models.configs import VQConfig
from genlab.models.vae import PatchDiscriminator
from genlab.objectives import gan as G
from genlab.objectives.vae import (
    elbo_loss,
    elbo_terms,
    kl_weight,
    unwrap,
    vq_loss,
)
from genlab.rng import keyed, randn_per_seed
from genlab.train import distributed, gan_loop
from genlab.train.loop import make_optimizer


def build(exp: Experiment) -> nn.Module:
    return build_model(exp.model)


null_cond = class_null_cond


def cond_keys(exp: Experiment) -> tuple[str, ...]:
    """A conditional VAE takes the class; the codecs (klae, vq) take nothing."""
    if exp.objective.kind != "elbo":
        return ()
    return class_cond_keys(exp)


def loss(exp: Experiment):
    o = exp.objective
    if o.kind == "vq":
        return partial(vq_loss, commitment=o.commitment, recon=o.recon)
    return partial(elbo_loss, beta=o.beta, warmup_samples=o.warmup_samples, binarize=o.binarize)


@torch.no_grad()
def sample_vae(model: nn.Module, exp, seeds: list[int], cond: dict, scfg, noise=None) -> Tensor:
    """Decode prior draws: ``z_i ~ N(0, T^2 I)`` from seed i -> mean images ``(n, C, H, W)``;
    ``noise`` (unit variance, the latent's shape) replaces the seeds' draws."""
    device = next(model.parameters()).device
    z = randn_per_seed(seeds, model.cfg.latent_shape(), device)
    if noise is not None:
        z = noise.to(z).reshape(z.shape)
    z = z * scfg.temperature
    return model.mean_image(model.decoder(z, cond)).clamp(-1, 1)


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


def sample(
    model: nn.Module, exp: Experiment, seeds: list[int], cond: dict, scfg, noise=None
) -> Tensor:
    """Prior samples: decoded latents (VAE, KL-AE; ``noise`` replaces the seeds' latents)
    or unigram tokens (VQ)."""
    if exp.objective.kind == "vq":
        return sample_vq(model, exp, seeds, cond, scfg)
    return sample_vae(model, exp, seeds, cond, scfg, noise)


def noise_shape(exp: Experiment) -> tuple[int, ...] | None:
    """The prior latent's shape (None for VQ tokenizers, whose prior is discrete)."""
    if exp.objective.kind == "vq":
        return None
    return tuple(exp.model.latent_shape())


def preview_recon(exp: Experiment, data: Dataset):
    """Rows of 8 held-in images and, below each row, their reconstructions."""

    @torch.no_grad()
    def preview(model: nn.Module) -> tuple[Tensor, int]:
        device = next(model.parameters()).device
        x = data.x[: min(32, exp.train.num_samples)].to(device)
        if isinstance(exp.model, VQConfig):
            rec = model.decode(model.encode(x))
        else:
            rec = model.mean_image(model.decoder(model.posterior(x)[0]))
        rows = [t for i in range(0, len(x), 8) for t in (x[i : i + 8], rec[i : i + 8])]
        return torch.cat(rows).clamp(-1, 1).cpu(), 8

    return preview


@torch.no_grad()
def measure_scale_shift(model: nn.Module, x: Tensor, batch: int = 500) -> tuple[float, float]:
    """``shift`` = mean and ``scale`` = 1 / std of the posterior means over ``x``, so
    ``encode`` gives latents of zero mean and unit variance (Rombach et al. 2022, sec. 4.3
    rescale by 1/std)."""
    mus = [model.posterior(x[i : i + batch])[0] for i in range(0, len(x), batch)]
    mu = torch.cat(mus).double()
    return float(1.0 / mu.std()), float(mu.mean())


def autoencoder_loss(exp: Experiment):
    """The KL-AE player's loss: ``recon + w_kl * KL + disc_weight * hinge_G(D(x_hat))``
    (the adversarial term from step ``disc_start``)."""
    o = exp.objective

    def loss(ae, disc, batch, gen, step, k):
        rec, kl, out = elbo_terms(ae, batch, gen, o.binarize)
        x_hat = unwrap(ae).mean_image(out)
        adv = o.disc_weight if step >= o.disc_start else 0.0
        g_adv = G.g_loss("hinge", disc(x_hat))
        w = kl_weight(o.beta, o.warmup_samples, int(batch["samples_seen"]))
        total = (rec + w * kl + adv * g_adv).mean()
        logs = {
            "recon": rec.mean().detach(),
            "kl": kl.mean().detach(),
            "g_adv": g_adv.mean().detach(),
        }
        return total, logs

    return loss


def patch_disc_loss(exp: Experiment):
    """The patch discriminator's loss ``hinge_D(D(x), D(x_hat))`` on reconstructions
    ``x_hat`` of the same batch (one posterior sample each, drawn from ``gen``)."""
    o = exp.objective

    def loss(ae, disc, batch, gen, step, k):
        with torch.no_grad():
            _, _, out = elbo_terms(ae, batch, gen, o.binarize)
            x_hat = unwrap(ae).mean_image(out)
        return G.d_loss("hinge", disc(batch["x"]), disc(x_hat)).mean(), {}

    return loss


def fit_klae(exp: Experiment, run_dir: Path, resume: bool) -> None:
    """The KL-AE against a patch discriminator, in the two-player loop (D step first,
    then the autoencoder step on the same batch); both AdamW at ``train.lr``."""
    train, o = exp.train, exp.objective
    data, ae = prepare(exp, build, resume)
    disc = PatchDiscriminator(exp.model.in_channels, o.disc_channels)

    def adamw_ae(m):
        return make_optimizer(m.parameters(), train)

    def adamw_d(m):  # the discriminator: AdamW with the same settings as the autoencoder
        return make_optimizer(m.parameters(), train)

    gan_loop.fit(
        run_dir,
        train,
        exp.seed,
        gan_loop.Player(ae, adamw_ae, train.lr, autoencoder_loss(exp), train.grad_clip),
        gan_loop.Player(disc, adamw_d, train.lr, patch_disc_loss(exp)),
        data,
        n_critic=1,
        cond_keys=(),
        preview=preview_recon(exp, data),
        resume=resume,
    )


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train; a KL-AE then measures its latent ``scale``/``shift`` (EMA weights, training
    data) into ``config.yaml`` (main process, finished runs only)."""
    kind = exp.objective.kind
    if kind == "klae" and exp.objective.disc_weight > 0:
        fit_klae(exp, run_dir, resume)
    else:
        preview = preview_recon if kind != "elbo" else (lambda e, d: class_preview(sample, e))
        fit_one_objective(
            exp,
            run_dir,
            resume,
            build=build,
            loss=loss(exp),
            cond_keys=cond_keys(exp),
            preview=preview,
        )
    if kind != "klae" or exp.train.stop_after or not distributed.is_main():
        return run_dir
    model = load_network(run_dir, "ema").module
    scale, shift = measure_scale_shift(model, build_dataset(exp.data).x)
    stored = copy.deepcopy(exp)
    stored.model.scale, stored.model.shift = scale, shift
    C.save_yaml(stored, Path(run_dir) / "config.yaml")
    print(f"klae: measured latent scale={scale:.4f} shift={shift:.4f} -> config.yaml")
    return run_dir


FAMILY = Family(
    name="vae",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=cond_keys,
    null_cond=null_cond,
    dependencies=no_dependencies,
    doc="VAE / beta-VAE / conditional VAE, KL autoencoder, VQ-VAE tokenizers",
    noise_shape=noise_shape,
)
