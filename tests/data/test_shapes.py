"""Procedural ``shapes``: determinism, labels, captions, geometry and colour."""

import math

import pytest
import torch

from genlab.data import DATASETS, build_dataset
from genlab.data import shapes as S
from genlab.data.shapes import ShapesConfig, make_shapes
from genlab.errors import ConfigError

# Independent expectations: the caption phrase of each grid cell, and the RGB of colours
# whose name fixes it.
PHRASES = [
    "at the top left", "at the top", "at the top right",
    "on the left", "in the center", "on the right",
    "at the bottom left", "at the bottom", "at the bottom right",
]  # fmt: skip
PRIMARY = {
    "red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "yellow": (1, 1, 0),
    "magenta": (1, 0, 1), "cyan": (0, 1, 1), "white": (1, 1, 1),
}  # fmt: skip
ALL = ShapesConfig(n=3000, shapes=S.SHAPES, colors=tuple(S.COLORS))


@pytest.fixture(scope="module")
def ds():
    return make_shapes(ALL)


def test_registered():
    cfg = DATASETS["shapes"].config(n=10)
    assert cfg.name == "shapes" and build_dataset(cfg).x.shape == (10, 3, 32, 32)


def test_shape_range_and_background(ds):
    assert ds.x.shape == (3000, 3, 32, 32) and ds.x.dtype == torch.float32
    assert ds.x.min() == -1 and ds.x.max() == 1
    # One small shape on black: most pixels are exactly black, and every image has a shape.
    black = (ds.x == -1).all(1)  # (N, S, S)
    assert black.float().mean() > 0.8
    assert (~black).flatten(1).any(1).all()


def test_deterministic_per_seed():
    a = make_shapes(ShapesConfig(n=200, seed=5))
    b = make_shapes(ShapesConfig(n=200, seed=5))
    c = make_shapes(ShapesConfig(n=200, seed=6))
    assert torch.equal(a.x, b.x) and a.captions == b.captions
    assert all(torch.equal(a.cond[k], b.cond[k]) for k in a.cond)
    assert not torch.equal(a.x, c.x)


def _box_sdf(p, half):
    """Exact SDF of the axis-aligned square of half-side ``half`` (textbook formula)."""
    q = p.abs() - half
    return q.clamp(min=0).norm(dim=-1) + q.amax(-1).clamp(max=0)


def test_polygon_sdf_is_exact():
    p = 3 * torch.rand(5000, 2, generator=torch.Generator().manual_seed(0)) - 1.5
    square = S.polygon_sdf(p, [(-1, -1), (1, -1), (1, 1), (-1, 1)])
    assert torch.allclose(square, _box_sdf(p, 1.0), atol=1e-5)
    # The cross is the union of two boxes: same sign everywhere, same distance outside.
    w = S.POLYGONS["cross"][1][0]
    arms = torch.minimum(_box_sdf(p, torch.tensor([w, 1.0])), _box_sdf(p, torch.tensor([1.0, w])))
    cross = S.polygon_sdf(p, S.POLYGONS["cross"])
    assert torch.equal(cross < 0, arms < 0)
    assert torch.allclose(cross[arms > 0], arms[arms > 0], atol=1e-5)


def test_render_matches_full_grid_oracle():
    """Patch reuse and pasting give the same pixels as evaluating every pixel directly."""
    g = torch.Generator().manual_seed(0)
    n, size = 40, 24
    shape = torch.randint(len(S.SHAPES), (n,), generator=g)
    radius = torch.tensor([2.0, 3.5, 4.25])[torch.randint(3, (n,), generator=g)]
    centre = ((1 + 22 * torch.rand(n, 2, generator=g)) * S.SUBPIXEL).round() / S.SUBPIXEL
    # Four copies of one patch (same shape, radius and sub-pixel offset) in other places.
    shape[:4], radius[:4] = 0, 3.5
    centre[:4] = torch.tensor([[4.375, 5.125], [12.375, 5.125], [4.375, 19.125], [20.375, 12.125]])
    got = S.render(shape, centre, radius, size, S.SHAPES)
    grid = torch.arange(size) + 0.5
    for i in range(n):
        dx = (grid - centre[i, 0])[None, :].expand(size, size)  # (S, S), x to the right
        dy = (centre[i, 1] - grid)[:, None].expand(size, size)  # y up
        p = torch.stack([dx, dy], -1)
        sdf = S.shape_sdf(S.SHAPES[shape[i]], p / radius[i]) * radius[i]
        assert torch.allclose(got[i], (0.5 - sdf).clamp(0, 1), atol=1e-5), i


def test_draw_patches_chunking_is_invisible():
    shape = torch.arange(len(S.SHAPES)).repeat(3)
    centre = torch.full((len(shape), 2), 6.3)
    radius = torch.linspace(2, 4, len(shape))
    whole = S.draw_patches(shape, centre, radius, 13, S.SHAPES)
    assert torch.equal(whole, S.draw_patches(shape, centre, radius, 13, S.SHAPES, 2 * 13**2))


def test_labels_attributes_and_every_value(ds):
    assert ds.attributes == {
        "shape": S.SHAPES,
        "color": tuple(S.COLORS),
        "size": ("small", "medium", "large"),
        "position": tuple(S.POSITIONS),
    }
    assert set(ds.cond) == {"shape", "color", "size", "position", "class", "caption"}
    every = S.all_captions(ALL)  # each image's caption by its index
    assert len(every) == len(S.SHAPES) * len(S.COLORS) * 3 * 9
    assert [every[i] for i in ds.cond["caption"].tolist()] == ds.captions
    for attr, names in ds.attributes.items():
        y = ds.cond[attr]
        assert y.dtype == torch.int64
        assert torch.equal(y.unique(), torch.arange(len(names)))  # every value appears
    assert torch.equal(ds.cond["class"], ds.cond["shape"])
    assert ds.class_names == S.SHAPES and ds.num_classes == len(S.SHAPES)


def test_label_selects_class():
    ds = make_shapes(ShapesConfig(n=100, label="color", colors=("red", "blue")))
    assert torch.equal(ds.cond["class"], ds.cond["color"])
    assert ds.class_names == ("red", "blue") and ds.num_classes == 2


def test_captions_match_labels(ds):
    a = ds.attributes
    for i in range(len(ds)):
        shape, color, size, pos = (ds.cond[k][i] for k in ("shape", "color", "size", "position"))
        expected = f"a {a['size'][size]} {a['color'][color]} {a['shape'][shape]} {PHRASES[pos]}"
        assert ds.captions[i] == expected


def test_caption_example():
    assert S.position_phrase("top left") == "at the top left"
    assert S.position_phrase("center") == "in the center"
    ds = make_shapes(ShapesConfig(n=500, shapes=("circle",), colors=("red",)))
    small_tl = (ds.cond["size"] == 0) & (ds.cond["position"] == 0)
    assert ds.captions[int(small_tl.nonzero()[0])] == "a small red circle at the top left"


def test_position_is_the_named_cell(ds):
    cov = (ds.x + 1).sum(1)  # (N, S, S), zero on the background
    s = ds.x.shape[-1]
    grid = torch.arange(s) + 0.5
    total = cov.sum((1, 2))
    cx = (cov.sum(1) * grid).sum(1) / total
    cy = (cov.sum(2) * grid).sum(1) / total
    row, col = ds.cond["position"] // 3, ds.cond["position"] % 3
    assert torch.equal((cx / (s / 3)).floor().long(), col)
    assert torch.equal((cy / (s / 3)).floor().long(), row)


def _areas(size, shapes):
    ds = make_shapes(ShapesConfig(n=600, image_size=size, shapes=shapes, colors=("white",)))
    area = ((ds.x[:, 0] + 1) / 2).sum((1, 2))  # white: channel value = coverage
    radius = torch.tensor(list(S.SIZES.values()))[ds.cond["size"]] * size
    return ds, area, radius


def test_circle_area_is_pi_r_squared():
    _, area, r = _areas(32, ("circle",))
    assert (area / (math.pi * r**2) - 1).abs().max() < 0.03  # antialiased edge, 32 px
    assert len(r.unique()) == 3
    _, area, r = _areas(64, ("circle",))
    assert (area / (math.pi * r**2) - 1).abs().max() < 0.01


def _shoelace(v):
    return 0.5 * abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(v, v[1:] + v[:1])))


def test_polygon_and_ring_areas():
    ds, area, r = _areas(64, S.SHAPES)
    for k, name in enumerate(S.SHAPES):
        sel = ds.cond["shape"] == k
        if name == "circle":
            unit = math.pi
        elif name == "ring":
            unit = math.pi * (1 - S.RING_INNER**2)
        else:
            unit = _shoelace(S.POLYGONS[name])
        # Corner pixels are slightly over-covered by the distance ramp: a few percent.
        assert (area[sel] / (unit * r[sel] ** 2) - 1).abs().max() < 0.05, name


def test_shape_pixels_have_the_named_colour(ds):
    rgb = (ds.x + 1) / 2  # (N, 3, S, S) = coverage * colour
    for k, name in enumerate(ds.attributes["color"]):
        img = rgb[ds.cond["color"] == k]
        cov = img.amax(1)  # every colour has a channel at 1, so this is the coverage
        # Fully covered pixels show the colour itself ...
        full = img.permute(0, 2, 3, 1)[cov == 1]
        assert len(full) > 0
        expected = torch.tensor(S.COLORS[name])
        assert torch.allclose(full, expected.expand_as(full))
        # ... and edge pixels are the same colour, dimmed by their coverage.
        edge = img.permute(0, 2, 3, 1)[(cov > 0) & (cov < 1)]
        c = cov[(cov > 0) & (cov < 1)]
        assert torch.allclose(edge, c[:, None] * expected, atol=1e-6)
        if name in PRIMARY:
            assert torch.equal(expected, torch.tensor(PRIMARY[name], dtype=torch.float32))
    orange = torch.tensor(S.COLORS["orange"])
    assert orange[0] > orange[1] > orange[2] == 0


def test_larger_image_size():
    ds = make_shapes(ShapesConfig(n=20, image_size=64))
    assert ds.x.shape == (20, 3, 64, 64)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"shapes": ("circle", "hexagon")}, r"data\.shapes: unknown shape 'hexagon'; choose from"),
        ({"colors": ("red", "mauve")}, r"data\.colors: unknown color 'mauve'; choose from"),
        ({"shapes": ()}, r"data\.shapes: needs at least one"),
        ({"colors": ("red", "red")}, r"data\.colors: lists a color twice"),
        ({"image_size": 7}, r"data\.image_size"),
        ({"n": 0}, r"data\.n"),
        ({"label": "texture"}, r"data\.label"),
        ({"exclude": ("purple",)}, r"data\.exclude: 'purple' in 'purple' is not a value"),
        ({"keep": ("red+blue",)}, r"data\.keep: 'red\+blue' names two values of color"),
        ({"keep": ("cyan",), "exclude": ("cyan",)}, r"leave no attribute combination"),
        ({"colors": ("red",), "exclude": ("cyan",)}, r"'cyan' in 'cyan' is not a value"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        make_shapes(ShapesConfig(**kwargs))


def test_bad_config_after_override():
    cfg = ShapesConfig()
    cfg.shapes = ("circle", "blob")  # e.g. set after construction: the builder checks again
    with pytest.raises(ConfigError, match="circle, square, triangle"):
        make_shapes(cfg)


def test_exclude_and_keep_leave_out_combinations():
    cfg = ShapesConfig(n=3000, exclude=("cyan", "red+circle", "blue+top left"))
    d = make_shapes(cfg)
    col, shp, pos = d.cond["color"], d.cond["shape"], d.cond["position"]
    assert not (col == 5).any()
    assert not ((col == 0) & (shp == 0)).any() and ((col == 0) & (shp == 1)).any()
    assert not ((col == 2) & (pos == 0)).any() and ((col == 2) & (pos == 1)).any()
    assert len(d.x) == 3000 and d.num_classes == 5  # every class is still a class
    assert all("cyan" not in c for c in d.captions)
    # the drawn pixels agree with the redrawn labels
    red = d.x[col == 0]
    assert bool((red[:, 0].amax((1, 2)) > 0.9).all()) and bool((red[:, 1:] == -1).all())
    kept = make_shapes(ShapesConfig(n=200, keep=("cyan+large",), label="color"))
    assert bool((kept.cond["color"] == 5).all()) and bool((kept.cond["size"] == 2).all())
    assert torch.equal(make_shapes(cfg).x, d.x)  # still deterministic per seed


def test_no_exclusion_keeps_the_original_draw():
    """Without exclude/keep the labels are the generator's first draws, as before the
    option existed: older runs' data do not change."""
    d = make_shapes(ShapesConfig(n=64, label="color"))
    g = torch.Generator().manual_seed(0)
    for attr, k in (("shape", 5), ("color", 6), ("size", 3), ("position", 9)):
        assert torch.equal(d.cond[attr], torch.randint(k, (64,), generator=g)), attr
