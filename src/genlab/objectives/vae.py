"""VAE and VQ objectives as functions: diagonal-Gaussian KL, likelihoods, the (beta-)ELBO
with KL warm-up, the importance-weighted bound, and the VQ-VAE loss.

All log-densities are in nats, summed over a sample's dimensions, shape ``(B,)``.

- ELBO (Kingma & Welling 2014): ``log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || N(0, I))``.
- beta-VAE (Higgins et al. 2017): the KL term weighted by beta; warm-up ramps the weight
  linearly from 0 over the first ``warmup_samples`` training samples (Bowman et al. 2016;
  Sonderby et al. 2016).
- IWAE (Burda et al. 2016, eq. 8): ``L_k = E[log 1/k sum_i p(x, z_i) / q(z_i | x)]``,
  ``L_1 = ELBO <= L_k <= L_{k+1} <= log p(x)``.
- VQ-VAE (van den Oord et al. 2017, eq. 3): reconstruction + codebook term
  ``||sg(z_e) - e||^2`` (absent when codes are EMA-updated) + beta * commitment
  ``||z_e - sg(e)||^2``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.errors import ConfigError

LOG_2PI = math.log(2 * math.pi)


def unwrap(net: nn.Module) -> nn.Module:
    """The bare module under DDP / torch.compile wrappers."""
    while True:
        inner = getattr(net, "module", None) or getattr(net, "_orig_mod", None)
        if inner is None:
            return net
        net = inner


def flat_sum(x: Tensor) -> Tensor:
    """Sum over all but the first dimension: ``(B, ...) -> (B,)``."""
    return x.flatten(1).sum(1)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) in nats, ``(B, ...) -> (B,)``:
    ``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)``."""
    return 0.5 * flat_sum(mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_log_prob(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag exp(logvar)), ``(B, ...) -> (B,)``."""
    return -0.5 * flat_sum(LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp())


def log_likelihood(kind: str, out: Tensor, x: Tensor, log_scale: Tensor) -> Tensor:
    """log p(x | z) in nats, ``(B,)``.

    Args:
        kind: ``bernoulli`` (``out`` are logits, ``x`` in [0, 1] targets), ``gaussian`` or
            ``laplace`` (``out`` is the location, ``x`` data in [-1, 1]).
        out: ``(B, C, *S)`` decoder output.
        log_scale: ``(C,)`` log std (Gaussian) or log scale b (Laplace).
    """
    if kind == "bernoulli":
        return -flat_sum(F.binary_cross_entropy_with_logits(out, x, reduction="none"))
    ls = log_scale.view(1, -1, *([1] * (x.ndim - 2)))
    if kind == "gaussian":
        return -flat_sum(0.5 * LOG_2PI + ls + 0.5 * ((x - out) / ls.exp()).pow(2))
    if kind == "laplace":
        return -flat_sum(math.log(2.0) + ls + (x - out).abs() / ls.exp())
    raise ConfigError(f"model.likelihood: unknown likelihood {kind!r}")


def likelihood_target(kind: str, x: Tensor, binarize: bool, generator=None) -> Tensor:
    """What the likelihood scores: pixels in {0, 1} or [0, 1] for Bernoulli (binarised
    with ``generator`` when asked), the data itself otherwise."""
    if kind != "bernoulli":
        return x
    x01 = ((x + 1) / 2).clamp(0, 1)
    if binarize:
        return torch.bernoulli(x01.cpu(), generator=generator).to(x)
    return x01


def kl_weight(beta: float, warmup_samples: int, samples_seen: int) -> float:
    """beta times the linear warm-up factor ``min(1, samples_seen / warmup_samples)``."""
    if warmup_samples <= 0:
        return beta
    return beta * min(1.0, samples_seen / warmup_samples)


def elbo_terms(model: nn.Module, batch: dict, generator, binarize: bool):
    """One reparameterised pass: ``(recon (B,), kl (B,), decoder output (B, C, *S))`` with
    ``recon = -log p(x | z)`` and ``kl = KL(q(z|x) || N(0, I))`` in nats."""
    vae = unwrap(model)
    x, cond = batch["x"], batch.get("cond", {})
    kind = vae.cfg.likelihood
    target = likelihood_target(kind, x, binarize, generator)
    eps = torch.randn((x.shape[0], *vae.cfg.latent_shape()), generator=generator).to(x)
    out, mu, logvar = model(x, cond, eps)
    return -log_likelihood(kind, out, target, vae.log_scale), gaussian_kl(mu, logvar), out


def elbo_loss(
    model: nn.Module, batch: dict, generator, *, beta: float, warmup_samples: int, binarize: bool
) -> tuple[Tensor, dict]:
    """Per-sample negative (beta-)ELBO ``(B,)`` in nats, and logs ``recon`` (-log p(x|z)),
    ``kl``, ``kl_weight`` and ``nelbo`` (the unweighted negative ELBO).

    The KL weight's warm-up counts ``batch["samples_seen"]``, the global number of
    training samples before this optimizer step (the loop's true count over every
    process and resume), so N processes warm up exactly as one. The model's
    ``samples_seen`` buffer records it (saved with the weights).
    """
    vae = unwrap(model)
    rec, kl, _ = elbo_terms(model, batch, generator, binarize)
    seen = int(batch["samples_seen"])
    w = kl_weight(beta, warmup_samples, seen)
    if vae.training:
        vae.samples_seen.fill_(seen)
    logs = {"recon": rec.mean().detach(), "kl": kl.mean().detach(), "kl_weight": w}
    logs["nelbo"] = logs["recon"] + logs["kl"]
    return rec + w * kl, logs


def _repeat(t: Tensor, m: int) -> Tensor:
    """``(B, ...) -> (m * B, ...)``: ``m`` copies, copy-major (matches ``(m, B)`` draws)."""
    return t.unsqueeze(0).expand(m, *t.shape).reshape(m * t.shape[0], *t.shape[1:])


@torch.no_grad()
def iwae_bound(
    vae: nn.Module, x: Tensor, target: Tensor, k: int, generator, chunk: int = 500, cond=None
) -> Tensor:
    """The importance-weighted bound ``L_k`` on ``log p(target)`` per sample, ``(B,)`` nats.

    ``log 1/k sum_i [log p(target | z_i) + log p(z_i) - log q(z_i | x)]`` with
    ``z_i ~ q(z | x)``, evaluated ``chunk`` samples at a time with a running logsumexp
    so memory is ``chunk * B`` decoder outputs. ``k = 1`` is a one-sample ELBO estimate.
    """
    mu, logvar = vae.posterior(x, cond)
    b, lat = x.shape[0], mu.shape[1:]
    run = torch.full((b,), -math.inf, dtype=torch.float64, device=x.device)
    done = 0
    while done < k:
        m = min(chunk, k - done)
        eps = torch.randn((m, b, *lat), generator=generator).to(mu)
        z = mu + (0.5 * logvar).exp() * eps  # (m, B, *lat)
        zf = z.reshape(m * b, *lat)
        c = {key: _repeat(v, m) for key, v in (cond or {}).items()}
        out = vae.decoder(zf, c)
        log_px = log_likelihood(vae.cfg.likelihood, out, _repeat(target, m), vae.log_scale)
        zeros = torch.zeros_like(zf)
        log_pz = gaussian_log_prob(zf, zeros, zeros)
        log_qz = gaussian_log_prob(zf, _repeat(mu, m), _repeat(logvar, m))
        log_w = (log_px + log_pz - log_qz).view(m, b).double()
        run = torch.logaddexp(run, torch.logsumexp(log_w, 0))
        done += m
    return (run - math.log(k)).float()


def vq_terms(
    model: nn.Module, x: Tensor, *, commitment: float, recon: str
) -> tuple[Tensor, dict, Tensor]:
    """One VQ-VAE pass: the per-sample loss ``(B,)`` (reconstruction, mean over pixels, +
    codebook term + commitment * commitment term), its logs (each term, codebook usage,
    perplexity, PSNR) and the reconstruction ``x_hat`` (the decoder's output, with the
    straight-through gradient).

    The model returns ``(x_hat, stats)`` where ``stats`` holds per-sample ``commit`` and
    ``codebook`` terms and the batch's ``usage`` / ``perplexity``.
    """
    x_hat, stats = model(x)
    err = (x_hat - x).abs() if recon == "l1" else (x_hat - x).pow(2)
    rec = err.flatten(1).mean(1)
    loss = rec + stats["codebook"] + commitment * stats["commit"]
    mse = (x_hat - x).detach().pow(2).flatten(1).mean(1)
    logs = {
        "recon": rec.mean().detach(),
        "commit": stats["commit"].mean().detach(),
        "usage": stats["usage"],
        "perplexity": stats["perplexity"],
        "psnr": (10 * torch.log10(4.0 / mse.clamp_min(1e-10))).mean(),  # peak-to-peak 2
    }
    return loss, logs, x_hat


def vq_loss(
    model: nn.Module, batch: dict, generator, *, commitment: float, recon: str
) -> tuple[Tensor, dict]:
    """Per-sample VQ-VAE loss ``(B,)`` and its logs (:func:`vq_terms`)."""
    loss, logs, _ = vq_terms(model, batch["x"], commitment=commitment, recon=recon)
    return loss, logs
