"""The VAE family: every autoencoder and codec.

- ``elbo``: VAE / beta-VAE / conditional VAE, the negative (beta-)ELBO;
- ``klae``: the KL autoencoder (latent-diffusion first stage): the ELBO with a small KL
  weight and a spatial latent, optionally against a patch discriminator in the
  two-player loop (Esser et al. 2021; Rombach et al. 2022); after training its latent
  ``scale``/``shift`` are measured and stored in ``config.yaml``;
- ``vq``: the VQ-VAE tokenizers (reconstruction + commitment, EMA codebooks).

The causal video autoencoder (``model.arch=video_vae``, ``genlab.models.video_vae``)
trains under ``klae`` (``model.quantizer=kl``) or ``vq`` (``model.quantizer=vq``); its patch
discriminator is the 3-D :class:`~genlab.models.video_vae.VideoPatchDiscriminator`, chosen
by the data's rank (clips ``(N, C, T, H, W)``). An objective with ``disc_weight > 0``
(``klae``; ``vq`` once its config has the ``disc_*`` fields) trains in the two-player loop.
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
from genlab.errors import ConfigError
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
from genlab.models.configs import VideoVAEConfig, VQConfig
from genlab.models.vae import PatchDiscriminator
from genlab.models.video_vae import VideoPatchDiscriminator
from genlab.objectives import gan as G
from genlab.objectives.vae import (
    elbo_loss,
    elbo_terms,
    kl_weight,
    unwrap,
    vq_loss,
    vq_terms,
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
    books, depth = model.books, len(model.books)
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
    """Rows of 8 held-in images (at most 8 clips of video) and, below each row, their
    reconstructions."""

    @torch.no_grad()
    def preview(model: nn.Module) -> tuple[Tensor, int]:
        device = next(model.parameters()).device
        n = min(8 if data.x.ndim == 5 else 32, exp.train.num_samples)
        x = data.x[:n].to(device)
        if isinstance(exp.model, VideoVAEConfig):
            rec = model.reconstruct(x)
        elif isinstance(exp.model, VQConfig):
            rec = model.decode(model.encode(x))
        else:
            rec = model.mean_image(model.decoder(model.posterior(x)[0]))
        rows = [t for i in range(0, len(x), 8) for t in (x[i : i + 8], rec[i : i + 8])]
        return torch.cat(rows).clamp(-1, 1).cpu(), 8

    return preview


# Video: the scale and shift are measured on the first this many clips (a 4x5x16x16
# latent each: 1.3M values), not on every clip of a large set.
VIDEO_SCALE_CLIPS = 256


@torch.no_grad()
def measure_scale_shift(model: nn.Module, x: Tensor, batch: int = 0) -> tuple[float, float]:
    """``shift`` = mean and ``scale`` = 1 / std of the posterior means over ``x``, so
    ``encode`` gives latents of zero mean and unit variance (Rombach et al. 2022, sec. 4.3
    rescale by 1/std). Images: all of ``x``, ``batch`` (default 500) at a time; clips
    ``(N, C, T, H, W)``: the first :data:`VIDEO_SCALE_CLIPS`, 2**21 values at a time."""
    if x.ndim == 5:
        x = x[:VIDEO_SCALE_CLIPS]
    batch = batch or (500 if x.ndim < 5 else max(1, 2**21 // x[0].numel()))
    mus = [model.posterior(x[i : i + batch])[0] for i in range(0, len(x), batch)]
    mu = torch.cat(mus).double()
    return float(1.0 / mu.std()), float(mu.mean())


def disc_settings(exp: Experiment) -> tuple[float, int, int]:
    """``(disc_weight, disc_start, disc_channels)`` of the objective; an objective without
    them (``elbo``) has no discriminator."""
    o = exp.objective
    return (
        getattr(o, "disc_weight", 0.0),
        getattr(o, "disc_start", 0),
        getattr(o, "disc_channels", 32),
    )


def autoencoder_loss(exp: Experiment):
    """The autoencoder player's loss: ``recon + w_kl * KL`` (KL-AE) or the VQ-VAE loss
    (``objectives.vae.vq_terms``), ``+ disc_weight * hinge_G(D(x_hat))`` from step
    ``disc_start``."""
    o = exp.objective
    weight, start, _ = disc_settings(exp)

    def loss(ae, disc, batch, gen, step, k):
        adv = weight if step >= start else 0.0
        if o.kind == "vq":
            per, logs, x_hat = vq_terms(ae, batch["x"], commitment=o.commitment, recon=o.recon)
            g_adv = G.g_loss("hinge", disc(x_hat))
            return (per + adv * g_adv).mean(), {**logs, "g_adv": g_adv.mean().detach()}
        rec, kl, out = elbo_terms(ae, batch, gen, o.binarize)
        x_hat = unwrap(ae).mean_image(out)
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
    ``x_hat`` of the same batch: one posterior sample each, drawn from ``gen`` (KL-AE), or
    the quantized reconstruction (VQ; no codebook update)."""
    o = exp.objective

    def loss(ae, disc, batch, gen, step, k):
        with torch.no_grad():
            if o.kind == "vq":
                x_hat = unwrap(ae).reconstruct(batch["x"])
            else:
                _, _, out = elbo_terms(ae, batch, gen, o.binarize)
                x_hat = unwrap(ae).mean_image(out)
        return G.d_loss("hinge", disc(batch["x"]), disc(x_hat)).mean(), {}

    return loss


def fit_adversarial(exp: Experiment, run_dir: Path, resume: bool) -> None:
    """The autoencoder against a patch discriminator, in the two-player loop (D step
    first, then the autoencoder step on the same batch); both AdamW at ``train.lr``. The
    discriminator follows the data's rank: 2-D :class:`PatchDiscriminator` for images
    ``(N, C, H, W)``, 3-D :class:`VideoPatchDiscriminator` for clips ``(N, C, T, H, W)``."""
    train = exp.train
    data, ae = prepare(exp, build, resume)
    patch = VideoPatchDiscriminator if data.x.ndim == 5 else PatchDiscriminator
    disc = patch(exp.model.in_channels, disc_settings(exp)[2])

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


def check_objective(exp: Experiment) -> None:
    """A video autoencoder's objective must match its latent (``vq`` for
    ``model.quantizer=vq``, ``elbo`` / ``klae`` for ``kl``), and a VQ discriminator needs a
    network with ``reconstruct`` (the video autoencoder); clear errors otherwise."""
    m, kind = exp.model, exp.objective.kind
    if isinstance(m, VideoVAEConfig) and (m.quantizer == "vq") != (kind == "vq"):
        want = "vq" if m.quantizer == "vq" else "klae (or elbo)"
        raise ConfigError(
            f"objective.kind: {kind} does not train a video autoencoder with "
            f"model.quantizer={m.quantizer}; use objective.kind={want}"
        )
    if kind == "vq" and disc_settings(exp)[0] > 0 and not isinstance(m, VideoVAEConfig):
        raise ConfigError(
            "objective.disc_weight: a VQ patch discriminator trains the video autoencoder "
            f"(model.arch=video_vae), not {m.arch}"
        )


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    """Train; a KL-AE then measures its latent ``scale``/``shift`` (EMA weights, training
    data) into ``config.yaml`` (main process, finished runs only)."""
    kind = exp.objective.kind
    check_objective(exp)
    if kind in ("klae", "vq") and disc_settings(exp)[0] > 0:
        fit_adversarial(exp, run_dir, resume)
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
