"""Classifier-based scores against their extreme cases, and extractor fingerprints."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.checkpoint import weights_digest as tensor_digest
from genlab.metrics.scores import class_accuracy, inception_score, intra_class_fid


def test_inception_score_extremes():
    k = 10
    # Uninformative predictions: p(y|x) = p(y), IS = 1.
    assert inception_score(torch.zeros(1000, k))[0] == pytest.approx(1.0)
    # Confident and balanced: IS = K.
    sharp = 50.0 * torch.nn.functional.one_hot(torch.arange(1000) % k, k)
    assert inception_score(sharp)[0] == pytest.approx(k, rel=1e-6)
    # Confident but collapsed onto one class: IS = 1.
    assert inception_score(50.0 * torch.eye(k)[[3] * 1000])[0] == pytest.approx(1.0)
    # Two balanced classes of ten: IS = 2.
    two = 50.0 * torch.nn.functional.one_hot(torch.arange(1000) % 2, k)
    assert inception_score(two, splits=1)[0] == pytest.approx(2.0, rel=1e-6)
    assert math.isfinite(inception_score(torch.randn(100, k))[1])


def test_class_accuracy_and_intra_class_fid():
    logits = torch.eye(3)[[0, 1, 2, 2]]
    assert class_accuracy(logits, torch.tensor([0, 1, 2, 0])) == 0.75
    rng = np.random.default_rng(0)
    f = rng.normal(size=(600, 4))
    y = np.arange(600) % 3
    mean, per = intra_class_fid(f, y, f, y)
    assert abs(mean) < 1e-9 and sorted(per) == [0, 1, 2]
    shifted = f + (y == 1)[:, None] * 3.0  # only class 1 moves, by 3 in each of 4 dims
    mean, per = intra_class_fid(f, y, shifted, y)
    assert per[1] == pytest.approx(36.0) and per[0] == pytest.approx(0, abs=1e-9)
    assert mean == pytest.approx(12.0)


def test_weights_digest_tracks_every_tensor():
    net = torch.nn.Linear(3, 2)
    d = tensor_digest(net.state_dict())
    assert d == tensor_digest({k: v.clone() for k, v in reversed(net.state_dict().items())})
    with torch.no_grad():
        net.bias[0] += 1e-6
    assert tensor_digest(net.state_dict()) != d
