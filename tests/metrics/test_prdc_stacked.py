"""Precision/recall, density/coverage and Stacked MNIST counting on constructed sets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.metrics.prdc import density_coverage, precision_recall
from genlab.metrics.stacked import mode_histogram_stats, stacked_mnist_stats, stacked_modes


def _blobs(n, centres, rng, std=0.05):
    idx = rng.integers(len(centres), size=n)
    return centres[idx] + std * rng.normal(size=(n, centres.shape[1]))


def test_prdc_perfect_and_collapsed_generators():
    rng = np.random.default_rng(0)
    centres = 3 * rng.normal(size=(10, 4))
    real = _blobs(2000, centres, rng)
    perfect = _blobs(2000, centres, rng)
    pr, dc = precision_recall(real, perfect), density_coverage(real, perfect)
    assert pr["precision"] > 0.9 and pr["recall"] > 0.9  # k=3 balls miss a few
    assert dc["coverage"] > 0.95 and 0.8 < dc["density"] < 1.2
    collapsed = _blobs(2000, centres[:1], rng)  # one mode of ten
    pr, dc = precision_recall(real, collapsed), density_coverage(real, collapsed)
    assert pr["precision"] > 0.85  # its samples are realistic ...
    assert 0.05 < pr["recall"] < 0.15 and 0.05 < dc["coverage"] < 0.15  # ... and cover 1/10
    far = real + 10.0
    assert precision_recall(real, far)["precision"] == 0.0
    assert density_coverage(real, far) == {"density": 0.0, "coverage": 0.0}


def test_precision_recall_of_identical_sets_is_one():
    x = np.random.default_rng(1).normal(size=(300, 3))
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0}
    assert density_coverage(x, x)["coverage"] == 1.0


@pytest.mark.parametrize("d", [3, 64])
@pytest.mark.parametrize("k", [3, 5])
def test_a_set_against_itself_is_exact_at_the_ball_edges(d, k):
    """Each real's ball holds itself and its k neighbours, the k-th exactly on its edge:
    density is exactly (k + 1) / k (the fast matmul distances gave 1.184-1.198 for k=5)."""
    x = np.random.default_rng(d).normal(size=(500, d)) * 3 + 1
    assert density_coverage(x, x, k=k) == {"density": (k + 1) / k, "coverage": 1.0}
    assert precision_recall(x, x, k=k) == {"precision": 1.0, "recall": 1.0}


def test_duplicated_points_have_zero_radii_and_count_exactly():
    """Four copies of each point: every k=3 radius is exactly 0 and each fake copy lies in
    the four balls of its point (the matmul form gave radii up to 1e-6, coverage 0.99)."""
    rng = np.random.default_rng(0)
    real = np.repeat(rng.normal(size=(100, 64)) * 3 + 1, 4, axis=0)
    fake = rng.permutation(real)
    assert precision_recall(real, fake, k=3) == {"precision": 1.0, "recall": 1.0}
    assert density_coverage(real, fake, k=3) == {"density": 4 / 3, "coverage": 1.0}


def test_knn_radii_are_the_exact_direct_distances(monkeypatch):
    import genlab.metrics.prdc as prdc

    rng = np.random.default_rng(5)
    x = torch.from_numpy(np.concatenate([rng.normal(size=(150, 7)), np.eye(7), -np.eye(7)]))
    x = torch.cat([x, torch.zeros(1, 7, dtype=torch.float64)])  # 14 neighbours at exactly 1
    d = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
    want = d.kthvalue(4, 1).values
    assert torch.equal(prdc.knn_radii(x, 3), want) and float(want[-1]) == 1.0
    monkeypatch.setattr(prdc, "SLACK", 0)  # every row with a tie is redone whole
    assert torch.equal(prdc.knn_radii(x, 3), want)


def test_chunked_distances_give_the_same_answers(monkeypatch):
    import genlab.metrics.prdc as prdc

    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(230, 3)), rng.normal(size=(170, 3)) + 0.3
    whole = {**precision_recall(real, fake), **density_coverage(real, fake)}
    monkeypatch.setattr(prdc, "CHUNK", 16)
    assert {**precision_recall(real, fake), **density_coverage(real, fake)} == whole


def _fake_digit_images(digits: torch.Tensor) -> torch.Tensor:
    """(N, 3) digits -> (N, 3, 28, 28) images whose channel c encodes d_c as its mean."""
    return (digits.float() / 9 * 2 - 1)[:, :, None, None].expand(-1, -1, 28, 28).clone()


def _mean_classifier(x: torch.Tensor) -> torch.Tensor:
    """A stand-in MNIST classifier reading the digit back from the image mean."""
    d = ((x.mean((1, 2, 3)) + 1) / 2 * 9).round().long()
    return torch.nn.functional.one_hot(d, 10).float()


def test_stacked_mnist_counts_modes_and_kl():
    g = torch.Generator().manual_seed(0)
    digits = torch.randint(10, (26000, 3), generator=g)
    x = _fake_digit_images(digits)
    modes = stacked_modes(x, _mean_classifier)
    assert torch.equal(modes, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
    s = stacked_mnist_stats(x, _mean_classifier)
    assert s["modes"] == 1000 and s["kl"] < 0.05
    one = stacked_mnist_stats(_fake_digit_images(torch.tensor([[3, 1, 4]] * 50)), _mean_classifier)
    assert one["modes"] == 1 and one["kl"] == pytest.approx(math.log(1000))
    assert one["counts"][314] == 50


def test_mode_histogram_of_two_equal_modes():
    s = mode_histogram_stats(torch.tensor([0, 7] * 10), 10)
    assert s["modes"] == 2 and s["kl"] == pytest.approx(math.log(5))


def test_stacked_mnist_with_real_digits_and_known_labels(mnist_dir):
    from genlab.data import DATASETS, build_dataset

    ds = build_dataset(DATASETS["mnist"].config(root=str(mnist_dir), split="test", stop=300))
    idx = torch.randint(300, (200, 3), generator=torch.Generator().manual_seed(1))
    x = ds.x[idx][:, :, 0]  # (200, 3, 28, 28): channel c holds digit idx[:, c]
    truth = ds.cond["class"][idx]  # (200, 3)
    lookup = {ds.x[i, 0].numpy().tobytes(): int(ds.cond["class"][i]) for i in range(300)}

    def oracle(imgs):  # identifies each real image exactly (a perfect classifier)
        labels = torch.tensor([lookup[im[0].numpy().tobytes()] for im in imgs])
        return torch.nn.functional.one_hot(labels, 10).float()

    want = truth[:, 0] * 100 + truth[:, 1] * 10 + truth[:, 2]
    assert torch.equal(stacked_modes(x, oracle), want)
    assert stacked_mnist_stats(x, oracle)["modes"] == len(want.unique())
