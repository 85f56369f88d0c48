"""2-D toy distributions and the scikit-learn digits."""

import itertools
import math

import pytest
import torch

from genlab.data import DATASETS, build_dataset
from genlab.data.base import split_index
from genlab.data.digits import DigitsConfig, make_digits
from genlab.data.toys import (
    CheckerboardConfig,
    CirclesConfig,
    Grid25Config,
    Ring8Config,
    SpiralConfig,
    make_checkerboard,
    make_circles,
    make_grid25,
    make_ring8,
    make_spiral,
)
from genlab.errors import ConfigError

TOYS = ["ring8", "grid25", "moons", "circles", "spiral", "checkerboard", "swissroll"]


@pytest.mark.parametrize("name", TOYS)
def test_toy_shape_determinism_and_labels(name):
    cfg = DATASETS[name].config(n=2000, seed=3)
    a, b = build_dataset(cfg), build_dataset(cfg)
    assert a.x.shape == (2000, 2) and a.x.dtype == torch.float32
    assert a.modality == "points" and torch.isfinite(a.x).all()
    assert torch.equal(a.x, b.x)
    other = build_dataset(DATASETS[name].config(n=2000, seed=4))
    assert not torch.equal(a.x, other.x)
    if a.num_classes:
        y = a.cond["class"]
        assert y.dtype == torch.int64 and len(a.class_names) == a.num_classes
        assert y.min() >= 0 and y.max() < a.num_classes
        assert len(y.unique()) == a.num_classes  # 2000 samples reach every component


@pytest.mark.parametrize("name", TOYS)
def test_toy_rejects_empty(name):
    with pytest.raises(ConfigError, match="data.n"):
        build_dataset(DATASETS[name].config(n=0))


def _pooled_std(x, y, centres):
    """Std of the residuals from each sample's own mode (pooled over modes and axes)."""
    return (x.double() - centres[y]).std().item()


def test_ring8_matches_pacgan_protocol():
    ds = make_ring8(Ring8Config())  # 50,000 points, ~6,250 per mode
    x, y = ds.x.double(), ds.cond["class"]
    ang = torch.tensor([2 * math.pi * i / 8 for i in range(8)], dtype=torch.float64)
    protocol = torch.stack([ang.cos(), ang.sin()], 1)  # radius 1
    for k in range(8):
        # The mean of ~6,250 samples of std 0.01 is within 0.01 / 79 * 8 of the centre.
        assert torch.allclose(x[y == k].mean(0), protocol[k], atol=1e-3)
    # 100,000 residuals: the std estimate is within ~0.3% (1 sigma) of 0.01.
    assert _pooled_std(x, y, protocol) == pytest.approx(0.01, rel=0.02)
    assert torch.equal(torch.cdist(x, protocol).argmin(1), y)


def test_grid25_matches_pacgan_protocol():
    ds = make_grid25(Grid25Config())  # 50,000 points, ~2,000 per mode
    x, y = ds.x.double(), ds.cond["class"]
    protocol = torch.tensor(list(itertools.product([-4, -2, 0, 2, 4], repeat=2)), dtype=x.dtype)
    means = torch.stack([x[y == k].mean(0) for k in range(25)])
    # Each class is one protocol mode (matched to the nearest), and all 25 are used.
    match = torch.cdist(means, protocol).argmin(1)
    assert sorted(match.tolist()) == list(range(25))
    assert torch.allclose(means, protocol[match], atol=0.01)  # 8 sigma of 0.05 / sqrt(2000)
    assert _pooled_std(x, y, protocol[match]) == pytest.approx(0.05, rel=0.02)
    assert torch.equal(torch.cdist(x, protocol).argmin(1), match[y])


def test_circles_radii():
    ds = make_circles(CirclesConfig(n=20_000, factor=0.4))
    r, y = ds.x.double().norm(dim=1), ds.cond["class"]
    assert r[y == 0].mean().item() == pytest.approx(1.0, abs=0.01)
    assert r[y == 1].mean().item() == pytest.approx(0.4, abs=0.01)
    with pytest.raises(ConfigError, match="data.factor"):
        make_circles(CirclesConfig(factor=1.5))


def test_spiral_radius_and_arms():
    ds = make_spiral(SpiralConfig(n=5000, arms=3, std=0.0))
    assert ds.num_classes == 3
    assert ds.x.norm(dim=1).max() <= 1 + 1e-5
    with pytest.raises(ConfigError, match="data.arms"):
        make_spiral(SpiralConfig(arms=0))


def test_checkerboard_points_on_dark_squares():
    cfg = CheckerboardConfig(n=20_000, squares=4, size=4.0)
    x = make_checkerboard(cfg).x.double()
    assert x.min() >= -2 and x.max() <= 2
    ij = ((x + cfg.size / 2) / cfg.size * cfg.squares).floor().long().clamp(0, 3)
    assert ((ij[:, 0] + ij[:, 1]) % 2 == 0).all()
    # Uniform over the 8 dark squares: each holds about 1/8 of the points.
    counts = torch.bincount(ij[:, 0] * 4 + ij[:, 1], minlength=16).double()
    dark = counts[counts > 0]
    assert len(dark) == 8 and (dark / 20_000 - 1 / 8).abs().max() < 0.015


# --- digits ---


def test_digits_all():
    ds = make_digits(DigitsConfig())
    assert ds.x.shape == (1797, 1, 8, 8) and ds.x.dtype == torch.float32
    assert ds.x.min() == -1 and ds.x.max() == 1  # pixel values 0 and 16 both occur
    assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    counts = torch.bincount(ds.cond["class"], minlength=10).tolist()
    assert counts == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_split_disjoint_and_covering():
    train_idx, test_idx = split_index(1797, "train", 0.2), split_index(1797, "test", 0.2)
    assert len(test_idx) == 359 and len(train_idx) == 1797 - 359
    assert torch.equal(torch.cat([train_idx, test_idx]).sort().values, torch.arange(1797))
    assert torch.equal(split_index(1797, "test", 0.2), test_idx)  # fixed across calls
    full = make_digits(DigitsConfig())
    for split, idx in (("train", train_idx), ("test", test_idx)):
        part = make_digits(DigitsConfig(split=split))
        assert torch.equal(part.x, full.x[idx])
        assert torch.equal(part.cond["class"], full.cond["class"][idx])


def test_digits_resize_and_errors():
    ds = make_digits(DigitsConfig(image_size=16))
    assert ds.x.shape == (1797, 1, 16, 16)
    assert ds.x.min() >= -1 and ds.x.max() <= 1
    with pytest.raises(ConfigError, match="data.image_size"):
        make_digits(DigitsConfig(image_size=0))
    with pytest.raises(ConfigError, match="data.test_fraction"):
        make_digits(DigitsConfig(test_fraction=1.0))
