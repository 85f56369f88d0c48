"""The denoising / flow-matching loss: any affine path, any prediction kind.

For data ``x``, noise ``eps ~ N(0, I)`` and ``t`` from a training density,
``L = w(t) || f_theta(x_t, t, y) - target(x, eps, t) ||^2`` averaged over the sample's
elements. Configurations of this one loss:

- rectified flow (Liu et al. 2022): ``path=linear, target=velocity``:
  ``x_t = (1 - t) x + t eps``, target ``eps - x``;
- DDPM (Ho et al. 2020, Algorithm 1): ``path=ddpm, target=eps, t_steps=1000``:
  ``||eps - eps_theta(x_t, t)||^2`` at the 1,000 discrete steps;
- EDM (Karras et al. 2022): ``path=edm, target=x0, precond=edm, weighting=edm,
  t_density=lognormal, t_loc=-1.2, t_scale=1.2``.

Condition dropout (probability ``cond_drop``) replaces the class with the declared null
class so one network learns both terms of classifier-free guidance (Ho & Salimans 2022).
Diffusion forcing (Chen et al. 2024, Sec. 3.1): with ``frame_block = k > 0`` each clip
``(B, C, T, H, W)`` draws one time per block of ``k`` frames (``T / k`` independent draws
from the same density), so the network learns to denoise every frame given neighbours at
any noise level, clean ones included: a past held clean (or lightly noised) at sampling
time makes it a predictor, with no inpainting channels. The loss is then the mean over
frames of each frame's weighted error.

The logs hold the loss per quarter of ``t`` (``loss_t0`` for t in [0, .25), ...,
``loss_t3`` for [.75, 1]): how hard each noise level is.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.cond import drop
from genlab.errors import ConfigError
from genlab.objectives.configs import WEIGHTINGS
from genlab.paths import AffinePath, edm_weight, sample_t
from genlab.paths.convert import target as path_target


def loss_weight(
    path: AffinePath,
    t: Tensor,
    weighting: str,
    sigma_data: float,
    gamma: float,
    target: str = "eps",
) -> Tensor:
    """``(B,)`` float64 weights ``w(t)``, finite at every ``t`` in (0, 1] (the analytic
    limits where a formula is 0/0 or inf/inf).

    - ``edm``: ``lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2`` on the VE noise level
      ``sigma = sigma_t / alpha_t`` (Karras et al. 2022, eq. 8 / Table 1); ``1 / sd^2`` where
      ``sigma`` is infinite (``alpha = 0``, the linear path at ``t = 1``).
    - ``min_snr``: ``min(SNR, gamma)`` times ``1 / SNR`` (``eps``), ``1`` (``x0``) or
      ``1 / (SNR + 1)`` (``v``) (Hang et al. 2023, eq. 9-11); at ``SNR = 0`` the ``eps``
      weight is its limit 1 and the others 0.
    """
    if weighting == "none":
        return torch.ones_like(t)
    if weighting == "edm":
        sigma = path.ve_sigma(t)
        w = edm_weight(sigma, sigma_data)
        return torch.where(torch.isinf(sigma), torch.full_like(w, 1 / sigma_data**2), w)
    if weighting == "min_snr":
        snr = path.logsnr(t).exp()
        clipped = snr.clamp(max=gamma)
        if target == "x0":
            return clipped
        if target == "v":
            return clipped / (snr + 1)
        return torch.where(snr > 0, clipped / snr, torch.ones_like(snr))  # eps: limit 1
    raise ConfigError(f"objective.weighting: unknown {weighting!r}; choose from {WEIGHTINGS}")


def t_bins(loss: Tensor, t: Tensor, bins: int = 4) -> dict:
    """Mean loss per quarter of ``t``: ``{"loss_t0": ..., "loss_t3": ...}`` (empty bins left
    out)."""
    idx = (t * bins).long().clamp(max=bins - 1).to(loss.device)
    loss = loss.detach().float()
    total = torch.zeros(bins, device=loss.device).index_add_(0, idx, loss)
    count = torch.bincount(idx, minlength=bins).tolist()
    mean = (total / torch.tensor(count, device=loss.device).clamp(min=1)).tolist()
    return {f"loss_t{b}": mean[b] for b in range(bins) if count[b]}


def denoising_loss(
    model: nn.Module,
    batch: dict,
    generator: torch.Generator,
    *,
    path: AffinePath,
    target: str = "velocity",
    t_density: str = "uniform",
    t_loc: float = 0.0,
    t_scale: float = 1.0,
    t_shift: float = 1.0,
    t_steps: int = 0,
    weighting: str = "none",
    sigma_data: float = 0.5,
    min_snr_gamma: float = 5.0,
    cond_drop: float = 0.0,
    null_cond: dict | None = None,
    masked: bool = False,
    frame_block: int = 0,
) -> tuple[Tensor, dict]:
    """Per-sample denoising loss ``(B,)`` and logs.

    Args:
        model: ``f(x_t, t, cond) -> prediction`` of kind ``target``; ``t`` float32 ``(B,)``.
        batch: ``{"x": (B, *S), "cond": {...}}``.
        generator: the source of all randomness here (t, noise, dropout), on CPU.
        null_cond: per-key null values for condition dropout, e.g. ``{"class": tensor(10)}``.
        masked: average each sample's squared error over the values its
            ``cond["mask"]`` ``(B, 1, *S)`` marks 1 (to generate) only, not over the known
            ones (``objective.masked_loss``; a sample with nothing to generate scores 0).
        frame_block: > 0: diffusion forcing, one time per ``frame_block`` frames of clips
            ``x`` ``(B, C, T, H, W)``; the model gets ``t`` ``(B, T)``.

    Raises:
        KeyError: ``masked`` without ``cond["mask"]``.
        ValueError: ``frame_block`` with ``masked``, on data that is not clips, or not
            dividing ``T``.
    """
    x = batch["x"]
    blocks = 1
    if frame_block:
        if masked or x.ndim != 5 or x.shape[2] % frame_block:
            raise ValueError(
                f"diffusion forcing needs clips (B, C, T, H, W) with T divisible by "
                f"{frame_block} and no masked loss, got {tuple(x.shape)}"
            )
        blocks = x.shape[2] // frame_block
    t = sample_t(
        len(x) * blocks,
        t_density,
        generator,
        path=path,
        loc=t_loc,
        scale=t_scale,
        shift=t_shift,
        steps=t_steps,
    )  # (B,) float64, or (B T',) per block of frames
    if frame_block:  # (B, T): each frame its block's time
        t = t.view(len(x), blocks).repeat_interleave(frame_block, 1)
    eps = torch.randn(x.shape, generator=generator).to(x)
    cond = batch.get("cond", {})
    if cond_drop > 0 and null_cond:
        cond = drop(cond, cond_drop, null_cond, generator)
    x_t = path.sample(x, eps, t)
    pred = model(x_t, t.to(x.device, torch.float32), cond)
    sq = (pred.float() - path_target(path, target, x, eps, t).float()).pow(2)  # (B, *S)
    if masked:
        m = batch["cond"]["mask"].float().expand_as(sq)  # (B, *S), 1 = to generate
        err = (sq * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)
    elif frame_block:  # per frame (B, T), each weighted at its own time below
        err = sq.transpose(1, 2).flatten(2).mean(2)
    else:
        err = sq.flatten(1).mean(1)
    w = loss_weight(path, t.flatten(), weighting, sigma_data, min_snr_gamma, target)
    loss = w.view_as(err).to(err) * err  # (B,), or (B, T) per frame
    logs = t_bins(loss.flatten(), t.flatten())
    return (loss.mean(1) if frame_block else loss), logs
