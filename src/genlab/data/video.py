"""Video datasets: ``moving-mnist``, ``moving-shapes`` and ``video-folder``.

Every clip is ``(C, T, H, W)`` float32 in [-1, 1] with background -1, so a dataset's ``x``
is ``(N, C, T, H, W)``; ``Dataset.sample_rate`` is the frame rate shown (GIF/MP4).

**moving-mnist** (Srivastava, Mansimov and Salakhutdinov 2015, "Unsupervised Learning of
Video Representations using LSTMs"): ``digits`` MNIST digits (28x28, or resized to
``digit_size``) move in an ``S x S`` canvas (64 by default) for ``frames`` frames (20).
Each digit gets a uniform random start (its top-left corner in ``[0, L]^2``, ``L = S -
digit_size``), a uniform random direction ``theta`` in [0, 2 pi) and a constant speed of
``speed * L`` pixels per frame (0.1: 3.6 px, the original step length). It bounces off the
edges: when its box would leave the canvas, the velocity component across that edge is
reflected (an elastic bounce, computed in closed form by folding the straight path
``p0 + v t`` into ``[0, L]``); positions are then rounded to whole pixels, so every digit
lies fully inside the canvas in every frame. Digits are combined by pixel-wise max.
Digits come from genlab's MNIST convention (:mod:`genlab.data.mnist`): ``split="train"``
draws from the official MNIST *test* images ``[0, 8000)``, ``split="test"`` from ``[8000,
10000)``, so held-out clips never show a training digit image. Labels in ``cond``:

- ``"digits"`` ``(N, D)`` int64: the class 0-9 of each digit;
- ``"directions"`` ``(N, D)`` int64: the octant 0-7 of each digit's initial velocity, the
  nearest of 8 compass directions counter-clockwise on screen: 0 right, 1 up-right, 2 up,
  3 up-left, 4 left, 5 down-left, 6 down, 7 down-right (octant ``k`` covers angles
  ``[45k - 22.5, 45k + 22.5)`` degrees, y pointing up);
- ``"class"`` only with ``label="digits"``: the digits read as a number (``10 d0 + d1``).

10,000 clips at the defaults build in about 3 s on one CPU core (3.3 GB of float32).

**moving-shapes**: one shape of :mod:`genlab.data.shapes` (drawn by its renderer, the same
shapes, colours and sizes) crosses the frame at constant speed in one of four directions
(left to right, right to left, top to bottom, bottom to top). Along its motion the centre
travels a uniform 60-100 % of the free range ``[r + 1.5, S - r - 1.5]`` (``r`` the
shape's half-extent), from a uniform start, linearly over the clip; across it the centre is
uniform in that range. The shape stays fully inside every frame. Captions read "a small
red circle moves left to right"; ``cond`` holds ``shape``, ``color``, ``size``,
``direction`` (indices into ``Dataset.attributes``), ``class`` (the attribute named by
``label``) and ``caption`` (the caption's index in
:func:`genlab.data.configs.all_moving_captions`).

**video-folder**: video files (MP4, GIF; :func:`genlab.data.video_io.read_video`) in one
subfolder per class, listed as :mod:`genlab.data.folder` lists images. Each clip is the
file's first ``frames`` frames (a shorter file is a :class:`DataError` naming it and both
lengths); every frame's shorter side is resized to ``image_size`` (bicubic, antialiased)
and centre-cropped to a square. The frame rate is the first file's (frames are not
resampled in time).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.data.base import Dataset
from genlab.data.configs import (
    COLORS,
    MNIST_SPLIT,
    MOVING_ATTRIBUTES,
    SIZES,
    TRAIN_STOP,
    MNISTConfig,
    MovingMNISTConfig,
    MovingShapesConfig,
    VideoFolderConfig,
    moving_attribute_values,
    moving_caption,
)
from genlab.data.folder import list_images
from genlab.data.mnist import make_mnist
from genlab.data.shapes import render
from genlab.data.video_io import read_video
from genlab.errors import DataError

MNIST_TOTAL = 10_000  # images in the MNIST split genlab uses (MNIST_SPLIT)
EDGE = 1.5  # px between a moving shape's box and the frame edge (antialiasing, 1/8 px snap)
CHUNK_CLIPS = 128  # clips drawn at once (bounds the uint8 canvas and index tensors)


# ---------------------------------------- moving-mnist


def bounce(start: Tensor, velocity: Tensor, frames: int, limit: float) -> Tensor:
    """Positions ``(..., frames, 2)`` of points moving from ``start`` ``(..., 2)`` at
    ``velocity`` ``(..., 2)`` per frame inside ``[0, limit]``, reflected at both ends.

    The straight path ``p = start + velocity * t`` is folded into ``[0, limit]`` (a
    triangle wave of period ``2 limit``): exactly an elastic bounce. ``limit = 0`` pins
    every point at 0.
    """
    t = torch.arange(frames, dtype=torch.float64)[:, None]
    p = start[..., None, :].double() + velocity[..., None, :].double() * t
    if limit <= 0:
        return torch.zeros_like(p)
    return limit - (limit - p.remainder(2 * limit)).abs()


def octant(velocity: Tensor) -> Tensor:
    """The octant 0-7 of screen velocities ``(..., 2)`` ``(dx, dy)`` (y pointing down): 0
    right, 2 up, 4 left, 6 down, counter-clockwise on screen."""
    angle = torch.atan2(-velocity[..., 1].double(), velocity[..., 0].double())
    return (torch.floor(angle / (math.pi / 4) + 0.5).long()) % 8


def trajectories(
    n: int, frames: int, digits: int, limit: int, speed: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Random bouncing paths of ``digits`` boxes per clip.

    Returns ``(corners, velocity)``: ``corners`` ``(n, frames, digits, 2)`` int64 top-left
    ``(x, y)`` pixel of each box, in ``[0, limit]``; ``velocity`` ``(n, digits, 2)`` the
    initial ``(dx, dy)`` per frame in pixels, y pointing down. Draws the starts, then the
    angles, from ``generator``.
    """
    start = torch.rand(n, digits, 2, generator=generator, dtype=torch.float64) * limit
    theta = torch.rand(n, digits, generator=generator, dtype=torch.float64) * (2 * math.pi)
    velocity = speed * limit * torch.stack([theta.cos(), -theta.sin()], -1)  # y down
    path = bounce(start, velocity, frames, limit)  # (n, digits, frames, 2)
    corners = path.round().long().clamp(0, limit).transpose(1, 2)  # (n, frames, digits, 2)
    return corners.contiguous(), velocity


def render_moving_digits(images: Tensor, corners: Tensor, size: int) -> Tensor:
    """Clips ``(N, T, S, S)`` uint8 (background 0): digit ``images`` ``(N, D, d, d)`` uint8
    pasted with their top-left corners at ``corners`` ``(N, T, D, 2)`` ``(x, y)`` (inside
    the canvas) and combined by pixel-wise max.

    Each frame's ``d x d`` windows are a strided view of the canvas (``unfold``), so a
    paste is one gather and one scatter over all frames at once.
    """
    n, t, digits, _ = corners.shape
    d = images.shape[-1]
    out = torch.zeros(n * t, size, size, dtype=torch.uint8)
    windows = out.unfold(1, d, 1).unfold(2, d, 1)  # (N T, S-d+1, S-d+1, d, d), a view
    frame = torch.arange(n * t)
    for k in range(digits):
        x, y = corners[:, :, k].reshape(-1, 2).T
        digit = images[:, k, None].expand(-1, t, -1, -1).reshape(-1, d, d)
        if k > 0:  # the first digit lands on an empty canvas
            digit = torch.maximum(windows[frame, y, x], digit)
        windows[frame, y, x] = digit
    return out.view(n, t, size, size)


def digit_pool(cfg: MovingMNISTConfig) -> tuple[Tensor, Tensor, int]:
    """``(images (P, d, d) in [-1, 1], labels (P,), first)``: the MNIST images of
    ``cfg.split`` (train ``[0, TRAIN_STOP)``, test ``[TRAIN_STOP, 10000)``), resized to
    ``cfg.digit_size``; ``first`` is the MNIST index of pool image 0."""
    start, stop = (0, TRAIN_STOP) if cfg.split == "train" else (TRAIN_STOP, MNIST_TOTAL)
    mnist = MNISTConfig(
        root=cfg.root,
        split=MNIST_SPLIT,
        start=start,
        stop=stop,
        image_size=cfg.digit_size,
        download=cfg.download,
    )
    ds = make_mnist(mnist)
    return ds.x[:, 0], ds.cond["class"], start


def moving_mnist(
    cfg: MovingMNISTConfig, images: Tensor, labels: Tensor
) -> tuple[Tensor, dict[str, Tensor], Tensor, Tensor]:
    """Build ``cfg.n`` clips from a pool of digit ``images`` ``(P, d, d)`` in [-1, 1].

    Returns ``(x, cond, source, corners)``: ``x`` ``(n, 1, T, S, S)``; ``cond`` with
    ``"digits"`` and ``"directions"`` ``(n, D)``; ``source`` ``(n, D)`` the pool index of
    each digit; ``corners`` ``(n, T, D, 2)`` each digit's top-left ``(x, y)`` per frame.
    The generator (seed ``cfg.seed``) draws the pool indices first, then the paths.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    size, d = cfg.image_size, images.shape[-1]
    source = torch.randint(len(images), (cfg.n, cfg.digits), generator=g)
    corners, velocity = trajectories(cfg.n, cfg.frames, cfg.digits, size - d, cfg.speed, g)
    u8 = ((images + 1) * 127.5).round().to(torch.uint8)  # exact for unresized MNIST
    x = torch.empty(cfg.n, cfg.frames, size, size)
    for lo in range(0, cfg.n, CHUNK_CLIPS):  # a cache-sized chunk at once, to [-1, 1] in place
        hi = lo + CHUNK_CLIPS
        clips = render_moving_digits(u8[source[lo:hi]], corners[lo:hi], size)
        x[lo:hi].copy_(clips).div_(127.5).sub_(1)
    cond = {"digits": labels[source].long(), "directions": octant(velocity)}
    return x[:, None], cond, source, corners


def make_moving_mnist(cfg: MovingMNISTConfig) -> Dataset:
    """Moving MNIST clips ``(n, 1, frames, S, S)`` in [-1, 1] (module docstring).

    Raises:
        DataError: the MNIST files under ``cfg.root`` are missing or corrupt.
    """
    images, labels, _ = digit_pool(cfg)
    x, cond, _, _ = moving_mnist(cfg, images, labels)
    names: tuple[str, ...] = ()
    if cfg.label == "digits":
        powers = 10 ** torch.arange(cfg.digits - 1, -1, -1)
        cond["class"] = (cond["digits"] * powers).sum(1)
        names = tuple(f"{k:0{cfg.digits}d}" for k in range(10**cfg.digits))
    return Dataset(x, cond, "video", len(names), names, sample_rate=cfg.fps)


# ---------------------------------------- moving-shapes


def shape_paths(
    direction: Tensor, radius: Tensor, size: int, frames: int, generator: torch.Generator
) -> Tensor:
    """Centres ``(n, frames, 2)`` ``(x, y)`` in pixels (y down) of shapes of half-extent
    ``radius`` ``(n,)`` moving in ``direction`` ``(n,)`` (an index into
    :data:`~genlab.data.configs.MOTIONS`), as the module docstring describes."""
    n = len(direction)
    lo = radius + EDGE
    span = size - 2 * lo  # free range of the centre
    travel = span * (0.6 + 0.4 * torch.rand(n, generator=generator))
    first = lo + (span - travel) * torch.rand(n, generator=generator)
    across = lo + span * torch.rand(n, generator=generator)
    t = torch.arange(frames) / max(frames - 1, 1)
    along = first[:, None] + travel[:, None] * t  # (n, T), increasing
    backwards = (direction == 1) | (direction == 3)  # right to left, bottom to top
    along = torch.where(backwards[:, None], size - along, along)  # mirror: [lo, hi] -> itself
    across = across[:, None].expand(-1, frames)
    vertical = (direction >= 2)[:, None]
    return torch.stack(
        [torch.where(vertical, across, along), torch.where(vertical, along, across)], -1
    )


def make_moving_shapes(cfg: MovingShapesConfig) -> Dataset:
    """``cfg.n`` clips ``(n, 3, frames, S, S)`` in [-1, 1] with labels and captions."""
    g = torch.Generator().manual_seed(cfg.seed)
    n, s = cfg.n, cfg.image_size
    names = moving_attribute_values(cfg)
    labels = {a: torch.randint(len(names[a]), (n,), generator=g) for a in MOVING_ATTRIBUTES}
    radius = torch.tensor([SIZES[v] for v in names["size"]])[labels["size"]] * s
    centre = shape_paths(labels["direction"], radius, s, cfg.frames, g)  # (n, T, 2)
    rgb = 2 * torch.tensor([COLORS[c] for c in names["color"]])[labels["color"]]  # (n, 3)
    x = torch.empty(n, 3, cfg.frames, s, s)
    for t in range(cfg.frames):
        cov = render(labels["shape"], centre[:, t], radius, s, names["shape"])  # (n, S, S)
        x[:, :, t] = torch.addcmul(torch.tensor(-1.0), cov[:, None], rgb[:, :, None, None])
    ids = zip(*(labels[a].tolist() for a in MOVING_ATTRIBUTES))
    captions = [moving_caption(names, *i) for i in ids]
    index = torch.zeros(n, dtype=torch.int64)
    for a in MOVING_ATTRIBUTES:  # mixed radix, the last attribute fastest
        index = index * len(names[a]) + labels[a]
    cond = {**labels, "class": labels[cfg.label], "caption": index}
    classes = names[cfg.label]
    return Dataset(x, cond, "video", len(classes), classes, captions, names, cfg.fps)


# ---------------------------------------- video-folder


def fit_frames(x: Tensor, size: int) -> Tensor:
    """Frames ``(C, T, H, W)`` with the shorter side resized to ``size`` (bicubic,
    antialiased when shrinking, clamped to [-1, 1]) and centre-cropped to ``size x size``."""
    c, t, h, w = x.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    frames = x.transpose(0, 1)  # (T, C, H, W)
    if (nh, nw) != (h, w):
        shrink = nh < h
        frames = F.interpolate(frames, (nh, nw), mode="bicubic", antialias=shrink).clamp(-1, 1)
    top, left = (nh - size) // 2, (nw - size) // 2
    return frames[:, :, top : top + size, left : left + size].transpose(0, 1).contiguous()


def make_video_folder(cfg: VideoFolderConfig) -> Dataset:
    """Every video under ``cfg.root`` as ``(N, C, frames, S, S)`` in [-1, 1], labelled by
    subfolder.

    Raises:
        ConfigError: ``data.root`` is not set.
        DataError: no class subfolders or no videos in one, an unreadable file, or a file
            with fewer than ``cfg.frames`` frames (names it).
    """
    classes, items = list_images(cfg, "videos")
    clips, fps = [], 0.0
    for path, _ in items:
        x, rate = read_video(path, cfg.channels, max_frames=cfg.frames)
        if x.shape[1] < cfg.frames:
            raise DataError(f"{path}: has {x.shape[1]} frames, fewer than data.frames={cfg.frames}")
        clips.append(fit_frames(x, cfg.image_size))
        fps = fps or rate
    y = torch.tensor([k for _, k in items], dtype=torch.int64)
    fps_int = max(1, round(fps))
    x = torch.stack(clips)
    return Dataset(x, {"class": y}, "video", len(classes), tuple(classes), sample_rate=fps_int)
