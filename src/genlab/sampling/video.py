"""Video beyond one window: frame prediction and autoregressive rollout.

A video diffusion network generates a fixed window of ``T`` frames. Given a way to fill a
window in which some leading frames are known (``fill_window``: a trained video
inpainting network, or replacement sampling with any network; see
``genlab.families.diffusion.edit``), :func:`rollout` makes clips of any length chunk by
chunk: each new window keeps the last ``context`` frames made so far as its known past and
generates ``T - context`` new ones ("Autoregressive video: generate frame-by-frame,
conditioning each frame on the previous ones ... naturally handles arbitrarily long
sequences"; Ho et al. 2022, Video Diffusion Models, Sec. 3.1 and 4.3.2; Voleti et al.
2022, MCVD). :func:`predict_frames` is one such window: the frame-prediction protocol
(given 10 frames of Moving MNIST, predict the next 10).

``fill_window(window (B, C, T, H, W), mask (1, 1, T, H, W), k) -> (B, C, T, H, W)``:
``mask`` is 1 on the frames to generate, 0 on the known ones (genlab.sampling.edit's
convention), ``k`` the window's index (for its noise draws). Known frames must come back
unchanged; :func:`rollout` pastes them back in any case.

A diffusion forcing network (one noise level per frame; Chen et al. 2024) fills a window
through :func:`known_frames_at`: the known frames enter at a time of their own (0: clean)
while the others follow the sampler's times.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genlab.paths import AffinePath
from genlab.sampling.ode import Model

FillWindow = Callable[[Tensor, Tensor, int], Tensor]


def known_frames(mask: Tensor, frames: int, block: int = 1) -> Tensor:
    """``(T,)`` bool: which frames a frame mask (broadcastable to ``(B, 1, T, H, W)``, 0 =
    known, :func:`future_mask`) gives, for a network that takes whole frames, in whole
    blocks of ``block`` frames (a DiT's temporal patch, whose frames share one time).

    Raises:
        ValueError: a mask that gives part of a frame, differs between samples, or
            splits a block.
    """
    per_frame = (
        mask.expand(-1, -1, frames, -1, -1).transpose(0, 2).flatten(1)
    )  # (T, everything else)
    if not bool((per_frame == per_frame[:, :1]).all()):
        raise ValueError(
            "this network is given whole frames: the mask must keep or drop each frame"
        )
    known = per_frame[:, 0] == 0
    blocks = known.view(-1, block)  # (T / block, block)
    if not bool((blocks == blocks[:, :1]).all()):
        raise ValueError(
            f"{int(known.sum())} known frames split a temporal patch of {block}; give a "
            f"multiple of {block} (--context)"
        )
    return known


def known_frames_at(
    model: Model, path: AffinePath, x_known: Tensor, known: Tensor, t_known: float, eps: Tensor
) -> Model:
    """A diffusion forcing network as a plain model callable for any sampler: the frames
    ``known`` ``(T,)`` of ``x_known`` ``(B, C, T, H, W)`` enter every evaluation noised
    once to ``t_known`` (with ``eps``'s values there; ``t_known = 0``: clean) and at that
    time, the others at the sampler's ``t`` (the network gets ``t`` ``(B, T)``). The
    sampler's own values on the known frames are never read; paste the known frames back
    at the end. A batch that is a multiple of ``B`` (guidance's doubled batch) is served
    too. Source: Chen et al. 2024, "Diffusion Forcing", Sec. 3.3 (sampling with a clean
    or lightly noised past).

    Raises:
        ValueError: ``t_known`` outside ``[0, 1)``.
    """
    if not 0 <= t_known < 1:
        raise ValueError(f"the known frames' time must be in [0, 1), got {t_known}")
    b, frames = len(x_known), x_known.shape[2]
    tk = torch.full((b,), t_known, dtype=torch.float64)
    given = path.sample(x_known, eps, tk).to(x_known.dtype)  # (B, C, T, H, W)
    where = known.to(x_known.device).view(1, 1, frames, 1, 1)

    def forced(x: Tensor, t: Tensor, cond: dict) -> Tensor:
        reps = len(x) // b
        x = torch.where(where, given.repeat(reps, 1, 1, 1, 1), x)
        times = t[:, None].expand(len(x), frames).masked_fill(known.to(t.device), t_known)
        return model(x, times, cond)

    return forced


def future_mask(frames: int, context: int, h: int, w: int) -> Tensor:
    """``(1, 1, frames, h, w)`` float32: 0 on the first ``context`` frames (known), 1 after.

    Raises:
        ValueError: ``context`` outside ``[0, frames]``.
    """
    if not 0 <= context <= frames:
        raise ValueError(f"{context} context frames do not fit a {frames}-frame clip")
    m = torch.ones(1, 1, frames, h, w)
    m[:, :, :context] = 0
    return m


@torch.no_grad()
def predict_frames(fill_window: FillWindow, context: Tensor, window: int, k: int = 0) -> Tensor:
    """The ``window - T_c`` frames that follow ``context`` ``(B, C, T_c, H, W)``, from one
    window: ``(B, C, window - T_c, H, W)``.

    Raises:
        ValueError: ``context`` leaves no frame of the window to predict.
    """
    b, c, tc, h, w = context.shape
    if not 0 < tc < window:
        raise ValueError(f"{tc} context frames leave nothing to predict in a {window}-frame window")
    canvas = torch.cat([context, context.new_zeros(b, c, window - tc, h, w)], 2)
    out = fill_window(canvas, future_mask(window, tc, h, w).to(context), k)  # (B, C, window, H, W)
    return out[:, :, tc:]


@torch.no_grad()
def rollout(
    fill_window: FillWindow,
    first: Tensor,
    total: int,
    window: int,
    context: int,
) -> Tensor:
    """Extend ``first`` ``(B, C, T_0, H, W)`` (a generated or real opening, ``T_0 >=
    context``) to ``total`` frames: window ``k = 1, 2, ...`` takes the last ``context``
    frames so far and adds ``window - context`` new ones (fewer in the last window, which
    is then cut). Returns ``(B, C, total, H, W)``; the opening's frames are exact.

    Raises:
        ValueError: ``context`` not in ``[1, window - 1]``, an opening shorter than
            ``context``, or ``total`` shorter than the opening.
    """
    t0 = first.shape[2]
    if not 0 < context < window:
        raise ValueError(
            f"context {context} must be in [1, {window - 1}] for a {window}-frame window"
        )
    if t0 < context:
        raise ValueError(f"the opening has {t0} frames, fewer than the context {context}")
    if total < t0:
        raise ValueError(f"{total} frames asked, but the opening already has {t0}")
    clip, k = first, 1
    while clip.shape[2] < total:
        new = predict_frames(fill_window, clip[:, :, -context:], window, k)  # (B, C, n, H, W)
        clip = torch.cat([clip, new[:, :, : total - clip.shape[2]]], 2)
        k += 1
    return clip


def windows_needed(total: int, window: int, context: int) -> int:
    """How many windows :func:`rollout` fills for ``total`` frames from a generated first
    window (that one included)."""
    if total <= window:
        return 1
    return 1 + -(-(total - window) // (window - context))


__all__ = [
    "FillWindow",
    "future_mask",
    "known_frames",
    "known_frames_at",
    "predict_frames",
    "rollout",
    "windows_needed",
]
