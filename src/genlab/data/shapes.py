"""``shapes``: procedural RGB images of one coloured shape on a black background.

Every image ``(3, S, S)`` in [-1, 1] shows one shape with four attributes, each drawn
uniformly and independently from a seeded generator:

- ``shape``: circle, square, triangle, diamond, cross, star, ring (``ShapesConfig.shapes``);
- ``color``: a named RGB colour (``ShapesConfig.colors``);
- ``size``: small, medium or large; the shape's half-extent ``r`` is ``SIZES[size] * S``
  (the circle has radius ``r``, every shape fits in a ``2r x 2r`` box);
- ``position``: a cell of a 3x3 grid ("top left" ... "bottom right"), plus a small
  uniform jitter of the centre (at most ``JITTER * S`` on each axis).

``cond`` holds an ``(N,)`` int64 label per attribute and ``"class"`` (the attribute named
by ``ShapesConfig.label``); ``captions`` read like "a small red circle at the top left".

Rendering is antialiased and vectorised: each shape is a signed distance function (in
pixels, negative inside) evaluated on pixel-centre grids; a pixel's coverage is
``clamp(0.5 - sdf, 0, 1)`` and its value ``coverage * colour``. Centres are snapped to
1/``SUBPIXEL`` pixel, so a shape's patch depends only on (shape, size, sub-pixel
offset); each distinct patch is drawn once and pasted wherever it occurs. 10,000 images
of 32x32 build in about 0.2 s on one CPU core.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genlab.data.base import Dataset
from genlab.data.configs import (  # noqa: F401 (SHAPES, SIZES, POSITIONS: public here)
    ATTRIBUTES,
    COLORS,
    POSITIONS,
    SHAPES,
    SIZES,
    ShapesConfig,
    all_captions,
    attribute_values,
    caption,
    caption_words,
    check_config,
    parse_combination,
    position_phrase,
)

JITTER = 0.02  # largest shift of the centre, as a fraction of the image size
SUBPIXEL = 8  # centres are snapped to 1/8 pixel


def _star(points: int = 5, inner: float = 0.45) -> list[tuple[float, float]]:
    """A star pointing up, outer radius 1, as a polygon of ``2 * points`` vertices."""
    out = []
    for i in range(2 * points):
        a = math.pi / 2 + math.pi * i / points
        rad = 1.0 if i % 2 == 0 else inner
        out.append((rad * math.cos(a), rad * math.sin(a)))
    return out


_W = 0.34  # half-width of the cross's arms
# Polygons in units of r, y pointing up, vertices in order.
POLYGONS: dict[str, list[tuple[float, float]]] = {
    "square": [(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)],
    "triangle": [(0.0, math.sqrt(3) / 2), (-1.0, -math.sqrt(3) / 2), (1.0, -math.sqrt(3) / 2)],
    "diamond": [(0.0, 1.0), (-0.75, 0.0), (0.0, -1.0), (0.75, 0.0)],
    "cross": [
        (-_W, 1.0), (_W, 1.0), (_W, _W), (1.0, _W), (1.0, -_W), (_W, -_W),
        (_W, -1.0), (-_W, -1.0), (-_W, -_W), (-1.0, -_W), (-1.0, _W), (-_W, _W),
    ],
    "star": _star(),
}  # fmt: skip
RING_INNER = 0.55  # inner radius of the ring, in units of r


def polygon_sdf(p: Tensor, vertices: list[tuple[float, float]]) -> Tensor:
    """Exact signed distance from points ``p`` ``(..., 2)`` to a closed polygon.

    Negative inside. The distance is the nearest edge segment's; inside/outside is the
    even-odd crossing rule, so non-convex polygons (cross, star) work too. All ``E``
    edges are handled at once, broadcasting to ``(..., E)``.
    """
    a = torch.tensor(vertices, dtype=p.dtype)  # (E, 2) edge starts
    e = a.roll(-1, 0) - a  # (E, 2) edge vectors
    w = p[..., None, :] - a  # (..., E, 2) from each edge start to p
    t = ((w * e).sum(-1) / (e * e).sum(-1)).clamp(0, 1)  # nearest point on each edge
    dist = (w - t[..., None] * e).square().sum(-1).amin(-1).sqrt()
    # A ray from p towards +x crosses edge i if the edge spans p's height and the
    # crossing lies right of p (horizontal edges never span).
    y, ay, ey = p[..., 1, None], a[:, 1], e[:, 1]
    spans = (y < ay) != (y < ay + ey)
    right = w[..., 0] < w[..., 1] * e[:, 0] / torch.where(ey == 0, 1.0, ey)
    inside = (spans & right).sum(-1) % 2 == 1
    return torch.where(inside, -dist, dist)


def shape_sdf(shape: str, p: Tensor) -> Tensor:
    """Signed distance of ``shape`` (half-extent 1, centred) at points ``p`` ``(..., 2)``."""
    if shape == "circle":
        return p.norm(dim=-1) - 1
    if shape == "ring":
        half = (1 - RING_INNER) / 2
        return (p.norm(dim=-1) - (1 - half)).abs() - half
    return polygon_sdf(p, POLYGONS[shape])


def draw_patches(
    shape: Tensor,
    centre: Tensor,
    radius: Tensor,
    patch: int,
    names: tuple[str, ...],
    chunk_pixels: int = 1 << 20,
) -> Tensor:
    """Coverage ``(M, P, P)`` in [0, 1] of one shape per ``P x P`` patch.

    Args:
        shape: ``(M,)`` int64 index into ``names`` (from :data:`SHAPES`).
        centre: ``(M, 2)`` centres ``(x, y)`` in patch pixels (pixel ``j`` spans ``[j, j+1)``).
        radius: ``(M,)`` half-extents in pixels.
        chunk_pixels: patch pixels evaluated at once, to bound memory.
    """
    out = torch.empty(len(shape), patch, patch)
    grid = torch.arange(patch) + 0.5
    step = max(1, chunk_pixels // patch**2)
    for lo in range(0, len(shape), step):
        c, r, k = centre[lo : lo + step], radius[lo : lo + step], shape[lo : lo + step]
        # Pixel centres in units of r around the shape's centre, y up: (B, P, P, 2).
        px = (grid - c[:, 0, None]) / r[:, None]  # (B, P) along x
        py = (c[:, 1, None] - grid) / r[:, None]  # (B, P) along y, flipped
        p = torch.stack(torch.broadcast_tensors(px[:, None, :], py[:, :, None]), -1)
        sdf = torch.empty(p.shape[:-1])
        for i, name in enumerate(names):
            sel = (k == i).nonzero().squeeze(1)
            if len(sel):
                sdf[sel] = shape_sdf(name, p[sel]) * r[sel, None, None]  # in pixels
        out[lo : lo + step] = (0.5 - sdf).clamp(0, 1)
    return out


def render(
    shape: Tensor, centre: Tensor, radius: Tensor, size: int, names: tuple[str, ...]
) -> Tensor:
    """Coverage images ``(N, S, S)`` in [0, 1], one shape each.

    Args:
        shape: ``(N,)`` int64 index into ``names`` (from :data:`SHAPES`).
        centre: ``(N, 2)`` centres ``(x, y)`` in pixels (pixel ``j`` spans ``[j, j+1)``);
            rounded here to the nearest 1/:data:`SUBPIXEL` pixel.
        radius: ``(N,)`` half-extents in pixels.
        size: the image side ``S``.

    Shapes are not rotated and come in few sizes, so a patch depends only on (shape,
    radius, sub-pixel offset of the centre): each distinct patch is drawn once, then
    pasted at its integer position, clipped to the image. This keeps the number of torch
    ops, and the cost, small and independent of ``N``.
    """
    n, patch = len(shape), math.ceil(2 * float(radius.max())) + 4  # 2r box + antialiased rim
    q = (centre * SUBPIXEL).round().long()
    whole = q.div(SUBPIXEL, rounding_mode="floor")  # (N, 2) pixel holding the centre
    fx, fy = (q - whole * SUBPIXEL).T  # sub-pixel offsets, 0 .. SUBPIXEL - 1
    radii, radius_id = torch.unique(radius, return_inverse=True)
    key = ((shape * len(radii) + radius_id) * SUBPIXEL + fx) * SUBPIXEL + fy
    keys, inverse = torch.unique(key, return_inverse=True)  # one patch per distinct key
    rest, ky = keys.div(SUBPIXEL, rounding_mode="floor"), keys % SUBPIXEL
    rest, kx = rest.div(SUBPIXEL, rounding_mode="floor"), rest % SUBPIXEL
    k_shape, k_radius = rest.div(len(radii), rounding_mode="floor"), rest % len(radii)
    offset = patch // 2 + torch.stack([kx, ky], 1).float() / SUBPIXEL  # centre in its patch
    patches = draw_patches(k_shape, offset, radii[k_radius], patch, names)
    # Paste: patch pixel (i, j) of sample b lands on image pixel (top + i, left + j).
    left, top = (whole - patch // 2).T
    rows = (top[:, None] + torch.arange(patch))[:, :, None]  # (N, P, 1)
    cols = (left[:, None] + torch.arange(patch))[:, None, :]  # (N, 1, P)
    keep = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)  # (N, P, P)
    flat = (torch.arange(n)[:, None, None] * size + rows) * size + cols
    out = torch.zeros(n, size, size)
    out.view(-1)[flat[keep]] = patches[inverse][keep]
    return out


def caption_index(cfg: ShapesConfig, labels: dict[str, Tensor]) -> Tensor:
    """``(N,)`` int64: each image's caption's index in :func:`all_captions`."""
    names = attribute_values(cfg)
    index = torch.zeros_like(labels[ATTRIBUTES[0]])
    for a in ATTRIBUTES:
        index = index * len(names[a]) + labels[a]
    return index


def allowed_mask(cfg: ShapesConfig, labels: dict[str, Tensor]) -> Tensor:
    """``(N,)`` bool: which images (labels per attribute) ``cfg.exclude``/``cfg.keep`` allow."""
    n = len(labels[ATTRIBUTES[0]])

    def hits(entry: str) -> Tensor:
        out = torch.ones(n, dtype=torch.bool)
        for a, i in parse_combination(cfg, entry, "data").items():
            out &= labels[a] == i
        return out

    ok = torch.ones(n, dtype=torch.bool)
    for e in cfg.exclude:
        ok &= ~hits(e)
    if cfg.keep:
        kept = torch.zeros(n, dtype=torch.bool)
        for e in cfg.keep:
            kept |= hits(e)
        ok &= kept
    return ok


def make_shapes(cfg: ShapesConfig) -> Dataset:
    """Build ``cfg.n`` images ``(N, 3, S, S)`` with labels, attribute names and captions."""
    check_config(cfg)
    g = torch.Generator().manual_seed(cfg.seed)
    n, s = cfg.n, cfg.image_size
    names = attribute_values(cfg)
    labels = {a: torch.randint(len(names[a]), (n,), generator=g) for a in ATTRIBUTES}
    # Redraw every image that cfg.exclude / cfg.keep rule out until none is left
    # (check_config made sure some combination is allowed).
    redraw = ~allowed_mask(cfg, labels)
    while redraw.any():
        k = int(redraw.sum())
        for a in ATTRIBUTES:
            labels[a][redraw] = torch.randint(len(names[a]), (k,), generator=g)
        redraw = ~allowed_mask(cfg, labels)
    jitter = (2 * torch.rand(n, 2, generator=g) - 1) * JITTER * s
    row, col = labels["position"] // 3, labels["position"] % 3
    centre = (torch.stack([col, row], 1).float() + 0.5) * (s / 3) + jitter
    radius = torch.tensor([SIZES[v] for v in names["size"]])[labels["size"]] * s
    cov = render(labels["shape"], centre, radius, s, names["shape"])
    rgb = torch.tensor([COLORS[c] for c in names["color"]])[labels["color"]]  # (N, 3)
    x = torch.addcmul(torch.tensor(-1.0), cov[:, None], 2 * rgb[:, :, None, None])
    captions = [
        caption(names, h, c, z, q) for h, c, z, q in zip(*(labels[a].tolist() for a in ATTRIBUTES))
    ]
    # each image's caption as its index among all_captions(cfg), for the text-encoder cache
    cond = {**labels, "class": labels[cfg.label], "caption": caption_index(cfg, labels)}
    classes = names[cfg.label]
    return Dataset(x, cond, "image", len(classes), classes, captions, names)
