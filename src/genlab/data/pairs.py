"""Source images for paired image-to-image translation, made from a dataset's own images.

Pix2Pix (Isola et al. 2017) learns a map from a source image to a target image on
aligned pairs. genlab makes the pairs from its data: the target is a dataset image and
the source a deterministic or seeded corruption of it, so every dataset gives paired
tasks without a second download:

- ``edges``: the inner outline of every stroke or shape, in its own colour (the
  morphological gradient ``x - erode(x)``, one pixel wide); the task "outline -> filled
  shape" on ``shapes``, edges -> digit on MNIST;
- ``thicken``: every stroke dilated by one pixel (a 3x3 max filter);
- ``break``: ``BREAKS`` bands of ``BREAK_WIDTH`` pixels, horizontal or vertical at a
  random place, set to the background, which cuts strokes into pieces;
- ``position``: a white Gaussian blob at the ink's centre of mass, std
  ``POSITION_STD * H``: where the object is, not what it is (a ControlNet control).

All functions take and return images ``(B, C, H, W)`` in [-1, 1] with a black (-1)
background, as genlab's image datasets are.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

BREAKS = 2  # bands erased per image by ``break``
BREAK_WIDTH = 2  # their width in pixels
POSITION_STD = 1 / 16  # std of the ``position`` blob, as a fraction of the image height


def dilate(x: Tensor, k: int = 3) -> Tensor:
    """Grey-level dilation: each pixel becomes the maximum of its ``k x k`` neighbourhood
    (per channel); the border counts as background."""
    return F.max_pool2d(x, k, stride=1, padding=k // 2)


def erode(x: Tensor, k: int = 3) -> Tensor:
    """Grey-level erosion, the minimum over the ``k x k`` neighbourhood (per channel);
    pixels beyond the border count as background (-1), so shapes touching it erode too."""
    padded = F.pad(x, [k // 2] * 4, value=-1.0)
    return -F.max_pool2d(-padded, k, stride=1)


def edges(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The inner outline ``x - erode(x)`` in [0, 1] brightness, as an image in [-1, 1]:
    a pixel keeps its colour where it is lit and a neighbour is not."""
    return (x - erode(x)) - 1.0


def thicken(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Every stroke one pixel wider on each side (3x3 dilation)."""
    return dilate(x)


def break_strokes(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``BREAKS`` random horizontal or vertical bands of ``BREAK_WIDTH`` pixels per image
    set to the background, drawn from ``generator``. The bands fall in the middle half of
    the image, where the strokes are."""
    b, _, h, w = x.shape
    vertical = torch.rand(b, BREAKS, generator=generator) < 0.5  # (B, K)
    side = torch.where(vertical, w, h)
    # band start, uniform over the middle half of its axis
    start = (side // 4 + torch.rand(b, BREAKS, generator=generator) * (side // 2)).long()
    rows = torch.arange(h)[None, None, :, None]  # (1, 1, H, 1)
    cols = torch.arange(w)[None, None, None, :]  # (1, 1, 1, W)
    s = start[:, :, None, None]
    in_row = (rows >= s) & (rows < s + BREAK_WIDTH)  # (B, K, H, 1)
    in_col = (cols >= s) & (cols < s + BREAK_WIDTH)  # (B, K, 1, W)
    cut = torch.where(vertical[:, :, None, None], in_col, in_row).any(1, keepdim=True)
    return x.masked_fill(cut.to(x.device), -1.0)


def position_map(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A white Gaussian blob (peak 1) at each image's centre of ink (brightness above the
    background, the channels' maximum, as weights), std ``POSITION_STD * H`` pixels; an
    empty image gives an empty map."""
    b, c, h, w = x.shape
    weight = (x.amax(1) + 1).clamp(min=0)  # (B, H, W) brightness over the background
    total = weight.flatten(1).sum(1).clamp(min=1e-8)  # (B,)
    rows = torch.arange(h, dtype=x.dtype, device=x.device) + 0.5
    cols = torch.arange(w, dtype=x.dtype, device=x.device) + 0.5
    cy = (weight.sum(2) * rows).sum(1) / total  # (B,) centre of ink, in pixels
    cx = (weight.sum(1) * cols).sum(1) / total
    var = (POSITION_STD * h) ** 2
    dy = rows[None, :, None] - cy[:, None, None]  # (B, H, 1)
    dx = cols[None, None, :] - cx[:, None, None]  # (B, 1, W)
    d2 = dy**2 + dx**2  # (B, H, W) squared distance to the centre, in pixels
    blob = torch.exp(-d2 / (2 * var)) * (weight.flatten(1).sum(1) > 0)[:, None, None]
    return (2 * blob - 1)[:, None].expand(b, c, h, w).contiguous()


def to_channels(x: Tensor, channels: int) -> Tensor:
    """``x`` ``(B, C, H, W)`` with ``channels`` channels: itself, or its brightness (the
    channels' maximum, so a coloured outline becomes a white one) for 1.

    Raises:
        ValueError: ``channels`` is neither ``C`` nor 1.
    """
    if channels == x.shape[1]:
        return x
    if channels == 1:
        return x.amax(1, keepdim=True)
    raise ValueError(f"cannot make {channels} channels from {x.shape[1]}")


SOURCES: dict[str, Callable[[Tensor, torch.Generator | None], Tensor]] = {
    "edges": edges,
    "thicken": thicken,
    "break": break_strokes,
    "position": position_map,
}


def make_source(name: str, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The source images ``(B, C, H, W)`` of targets ``x`` for the pairing ``name``.

    Raises:
        ValueError: an unknown ``name`` (the message lists :data:`SOURCES`).
    """
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; choose from {', '.join(SOURCES)}")
    return SOURCES[name](x, generator)
