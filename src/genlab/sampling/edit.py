"""Training-free editing with any diffusion or flow run: SDEdit, inpainting by replacement
(with RePaint resampling as an option) and outpainting, as pure functions over the model
callable and the samplers of :mod:`genlab.sampling.ode` / :mod:`genlab.sampling.sde`.

Conventions (shapes are rank-agnostic: ``(B, *S)``, e.g. ``(B, C, H, W)``):

- ``mask`` is 1 where pixels are *regenerated* and 0 where they are *known* (kept), the
  white-means-repaint convention of Stable Diffusion's inpainting and of diffusers; it
  broadcasts against ``x`` (``(B or 1, 1 or C, H, W)``).
- ``eps`` ``(B, *S)`` is each sample's initial noise, drawn first from its generator as in
  plain sampling; it also noises the known region, so the known pixels the network sees
  lie on the same noise as the start state, and no extra draws shift the per-step noise of
  stochastic samplers (``generators``) against plain sampling.
- ``strength`` follows diffusers' image-to-image convention: of a ``K``-step grid, the last
  ``floor(K * strength)`` intervals run, starting from the input noised to the first time
  kept (:func:`img2img_grid`). At ``strength = 1`` the whole grid runs.

Sources: SDEdit, Meng et al. 2022 (Sec. 3, Alg. 1); replacement inpainting, Song et al.
2021 ("score-based generative modelling through SDEs", App. I.2); RePaint, Lugmayr et al.
2022 (Alg. 1 and the jump schedule of Sec. 4.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from genlab.paths import AffinePath, LinearPath
from genlab.sampling.ode import euler, noise_like

Model = Callable[[Tensor, Tensor, dict], Tensor]
Sampler = Callable[..., Tensor]


def img2img_grid(grid: Tensor, strength: float) -> Tensor:
    """The tail of ``grid`` ``(K + 1,)`` that image-to-image runs at ``strength`` in (0, 1]:
    its last ``floor(K * strength)`` intervals (diffusers' ``init_timestep``), so strength 1
    is the whole grid and the first time kept is the noise level the input is raised to.

    Raises:
        ValueError: strength outside (0, 1], or so small that no interval runs.
    """
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    k = len(grid) - 1
    run = min(math.floor(k * strength + 1e-9), k)
    if run < 1:
        raise ValueError(
            f"strength {strength} runs no step of a {k}-step grid (floor({k} x {strength}) = 0);"
            " raise the strength or the steps"
        )
    return grid[k - run :]


def known_replacement(model: Model, path: AffinePath, x_known: Tensor, mask: Tensor, eps: Tensor):
    """``model`` with the known region of its input replaced by ``x_known`` noised to the
    evaluation time, ``alpha(t) x_known + sigma(t) eps`` (Song et al. 2021, App. I.2).

    The samplers' updates are elementwise in ``x`` and the prediction, so the regenerated
    region evolves exactly as if the state itself were replaced after every step (with any
    sampler, multistep ones included); the sampler's own values in the known region are
    never read by the network and are overwritten by :func:`paste_known` at the end.
    """
    keep = 1 - mask

    def f(x: Tensor, t: Tensor, cond: dict) -> Tensor:
        noised = path.sample(x_known.to(x), eps.to(x), t).to(x.dtype)
        return model(keep * noised + mask * x, t, cond)

    return f


def paste_known(x: Tensor, x_known: Tensor, mask: Tensor) -> Tensor:
    """``x`` with the known pixels set to ``x_known`` exactly (a select, not arithmetic)."""
    return torch.where(mask.bool().expand_as(x), x, x_known.to(x))


def renoise(path: AffinePath, x: Tensor, t: float, t_up: float, noise: Tensor) -> Tensor:
    """One forward transition ``q(x_{t_up} | x_t)`` for ``t_up > t``:
    ``(a'/a) x + sqrt(s'^2 - (a'/a)^2 s^2) z`` with ``a, s`` at ``t`` and ``a', s'`` at
    ``t_up`` (RePaint's jump back, Lugmayr et al. 2022, Alg. 1 line 11, on any affine path).
    """
    tt = torch.tensor([t, t_up], dtype=torch.float64)
    (a, a_up), (s, s_up) = path.alpha(tt).tolist(), path.sigma(tt).tolist()
    r = a_up / a
    return r * x + math.sqrt(max(s_up**2 - (r * s) ** 2, 0.0)) * noise


def repaint_schedule(k: int, jump_length: int, resample: int) -> list[int]:
    """The grid indices RePaint visits on a ``k``-step grid (0 = the start, ``k`` = t = 0):
    it walks down one index at a time, and on reaching each index ``i`` with ``k - i`` a
    multiple of ``jump_length`` (and room to jump, ``k - i <= k - jump_length``) it walks
    back up ``jump_length`` indices and down again, ``resample - 1`` times (Lugmayr et al.
    2022, Sec. 4.2). ``resample = 1`` is plain replacement, ``[0, 1, ..., k]``. Down moves
    cost the sampler's evaluations; up moves cost none.

    Raises:
        ValueError: ``jump_length`` or ``resample`` below 1.
    """
    if jump_length < 1 or resample < 1:
        raise ValueError(f"jump_length and resample must be >= 1, got {jump_length}, {resample}")
    jumps = {i: resample - 1 for i in range(k, jump_length - 1, -jump_length)}
    seq, i = [0], 0
    while True:
        if jumps.get(i, 0) > 0:  # back up jump_length indices, then down again to i
            jumps[i] -= 1
            seq.extend(range(i - 1, i - jump_length - 1, -1))
            seq.extend(range(i - jump_length + 1, i + 1))
        elif i == k:
            break
        else:
            i += 1
            seq.append(i)
    return seq


@torch.no_grad()
def inpaint(
    model: Model,
    x_known: Tensor,
    mask: Tensor,
    grid: Tensor,
    eps: Tensor,
    *,
    sampler: Sampler = euler,
    strength: float = 1.0,
    jump_length: int = 10,
    resample: int = 1,
    replace: bool = True,
    path: AffinePath | None = None,
    kind: str = "velocity",
    cond: dict | None = None,
    generators: list[torch.Generator] | None = None,
    **options,
) -> Tensor:
    """Regenerate the pixels where ``mask = 1`` consistently with the known ones of
    ``x_known`` ``(B, *S)``; returns ``(B, *S)`` whose known pixels equal ``x_known``
    exactly.

    The regenerated region starts from the prior at ``grid[0]`` (``strength = 1``) or, for
    ``strength < 1``, from ``x_known`` itself noised to the first time of
    :func:`img2img_grid` (SDEdit inside the mask). ``resample > 1`` adds RePaint's
    resampling (:func:`repaint_schedule`; each jump back draws fresh noise from
    ``generators``, one per sample). ``sampler`` is any sampler of the shared signature,
    called one interval at a time when resampling (multistep solvers then run first order)
    and over the whole grid otherwise; ``options`` go to it. ``replace=False`` leaves the
    network's input alone (for a model that reads the mask and known pixels itself, as
    ``UNetConfig.inpaint``); the known pixels are still pasted at the end.

    Raises:
        ValueError: a bad ``strength``, ``jump_length`` or ``resample`` (also a jump longer
            than the steps run); a single step from ``alpha = 0`` with replacement (it
            would never see the known pixels); RePaint without ``generators``.
    """
    path, cond = path or LinearPath(), cond or {}
    tail = img2img_grid(grid, strength)
    whole, grid = len(tail) == len(grid), tail
    mask, eps = mask.to(x_known), eps.to(x_known)
    a0 = float(path.alpha(grid[:1]))
    if replace and len(grid) == 2 and a0 == 0 and not bool(mask.bool().all()):
        raise ValueError(
            "steps: 1 step from t = 1 cannot inpaint by replacement: its only evaluation "
            "sees the known pixels noised to alpha = 0, i.e. not at all; use 2 or more steps"
        )
    if resample > 1 and jump_length > len(grid) - 1:
        raise ValueError(
            f"jump_length {jump_length} is longer than the {len(grid) - 1} steps run, so no "
            "resampling would happen; shorten the jump or raise the steps"
        )
    f = known_replacement(model, path, x_known, mask, eps) if replace else model
    if whole:  # the prior, exactly as plain sampling (and diffusers at strength 1) starts
        x = eps * float(path.sigma(grid[:1]))
    else:  # SDEdit: the input raised to the first time kept
        x = path.sample(x_known, eps, grid[:1].expand(len(x_known))).to(x_known.dtype)
    kw = dict(path=path, kind=kind, cond=cond, generators=generators, **options)
    if resample == 1:
        return paste_known(sampler(f, x, grid, **kw), x_known, mask)
    seq = repaint_schedule(len(grid) - 1, jump_length, resample)
    for i, j in zip(seq, seq[1:]):
        t, t_next = float(grid[i]), float(grid[j])
        if j > i:  # down: one sampler interval
            x = sampler(f, x, grid[i : j + 1], **kw)
        else:  # up: forward noise back to grid[j]
            x = renoise(path, x, t, t_next, noise_like(x, generators))
    return paste_known(x, x_known, mask)


def sdedit(model: Model, x_in: Tensor, grid: Tensor, eps: Tensor, *, strength: float, **kw):
    """SDEdit (Meng et al. 2022, Alg. 1): noise ``x_in`` ``(B, *S)`` to the first time of
    ``img2img_grid(grid, strength)`` and sample from there (keywords as :func:`inpaint`).
    When the whole grid runs (``strength = 1``) the start is the prior, as in plain
    sampling and in diffusers' inpainting at strength 1, so the result is plain sampling
    from the same noise, exactly, on every path."""
    ones = torch.ones_like(x_in[:1])
    return inpaint(model, x_in, ones, grid, eps, strength=strength, **kw)


# ----------------------------------------------------------------------------- outpainting

SIDES = ("left", "right", "top", "bottom")


def extend_canvas(x: Tensor, extend: dict[str, int], fill: float = 0.0) -> tuple[Tensor, Tensor]:
    """``x`` ``(B, C, H, W)`` padded by ``extend`` pixels per side (``left, right, top,
    bottom``) with ``fill``, and the mask ``(1, 1, H', W')`` of the new pixels (1 = new)."""
    bad = sorted(set(extend) - set(SIDES))
    if bad:
        raise ValueError(f"unknown side(s) {', '.join(bad)}; use {', '.join(SIDES)}")
    if any(int(v) < 0 for v in extend.values()):
        raise ValueError(f"extensions must be >= 0 pixels, got {extend}")
    left, right, top, bottom = (int(extend.get(s, 0)) for s in SIDES)
    pad = (left, right, top, bottom)
    canvas = torch.nn.functional.pad(x, pad, value=fill)
    mask = torch.nn.functional.pad(torch.zeros_like(x[:1, :1]), pad, value=1.0)
    return canvas, mask


def window_starts(total: int, size: int) -> list[int]:
    """Offsets of windows of ``size`` covering ``total`` pixels, each overlapping the last
    by at least half a window (so every new strip sees at least half a window of context)."""
    if total <= size:
        return [0]
    starts = list(range(0, total - size, max(size // 2, 1)))
    return sorted(set(starts + [total - size]))


@torch.no_grad()
def outpaint(
    fill_window: Callable[[Tensor, Tensor, int], Tensor],
    x: Tensor,
    extend: dict[str, int],
    size: tuple[int, int],
) -> Tensor:
    """Extend ``x`` ``(B, C, H, W)`` by ``extend`` pixels per side: the canvas is covered by
    windows of the model's ``size`` ``(h, w)``, and each window holding new pixels is
    inpainted in turn (nearest to the original first) by ``fill_window(window, mask, k)``
    (``window (B, C, h, w)``, ``mask (1, 1, h, w)`` 1 = to generate, ``k`` the window's
    index for its noise), with everything generated so far as known context. Returns the
    canvas ``(B, C, H + top + bottom, W + left + right)``; the original pixels are exact."""
    canvas, new = extend_canvas(x, extend)
    h, w = size
    _, _, hh, ww = canvas.shape
    if hh < h or ww < w:
        raise ValueError(f"the canvas {hh}x{ww} is smaller than the model's {h}x{w}")
    top, left = int(extend.get("top", 0)), int(extend.get("left", 0))
    cy, cx = top + x.shape[2] / 2, left + x.shape[3] / 2
    wins = [(y, xx) for y in window_starts(hh, h) for xx in window_starts(ww, w)]
    wins.sort(key=lambda p: (p[0] + h / 2 - cy) ** 2 + (p[1] + w / 2 - cx) ** 2)
    for k, (y, xx) in enumerate(wins):
        m = new[..., y : y + h, xx : xx + w]
        if not bool(m.any()):
            continue
        out = fill_window(canvas[..., y : y + h, xx : xx + w], m, k)
        canvas[..., y : y + h, xx : xx + w] = out
        new[..., y : y + h, xx : xx + w] = 0
    return canvas


__all__ = [
    "SIDES",
    "extend_canvas",
    "img2img_grid",
    "inpaint",
    "known_replacement",
    "outpaint",
    "paste_known",
    "renoise",
    "repaint_schedule",
    "sdedit",
    "window_starts",
]
