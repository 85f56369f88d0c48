"""Self-conditioning's pseudo-labels (genlab.data.clusters, data.label=cluster) and the
class draws of a self-conditioned run (genlab.runs.class_cond with a prior): closed
forms, alignment, determinism, agreement with known groups, errors."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.data import DATASETS, build_dataset
from genlab.data.clusters import kmeans_labels, mfcc, speech_features
from genlab.errors import ConfigError
from genlab.runs import class_cond
from tests.data.test_audio import fake_fsdd


def test_mfcc_of_a_flat_spectrum_is_zero_and_of_a_cosine_is_one_coefficient():
    flat = torch.full((1, 64, 5), -3.0)
    assert torch.allclose(mfcc(flat), torch.zeros(1, 12, 5), atol=1e-5)
    m = torch.arange(64.0)
    wave = torch.cos(math.pi / 64 * (m + 0.5) * 3)[None, :, None].expand(1, 64, 5)
    c = mfcc(wave)[0, :, 0]  # orthonormal DCT-II: all of it in coefficient 3
    assert c[2] == pytest.approx(math.sqrt(64 / 2), rel=1e-4)
    assert torch.allclose(torch.cat([c[:2], c[3:]]), torch.zeros(11), atol=1e-4)


def test_speech_features_align_a_delayed_clip():
    t = torch.arange(2000) / 8000
    word = torch.sin(2 * math.pi * (300 + 400 * t) * t) * torch.hann_window(2000)
    early, late = torch.zeros(2, 1, 8192)
    early[0, 500:2500], late[0, 2548:4548] = word, word  # 32 hops (of 64 samples) later
    f = speech_features(torch.stack([early, late]), 8000)
    assert f.shape == (2, 12 * 16)
    assert torch.allclose(f[0], f[1], atol=1e-3)


def test_kmeans_finds_separated_groups_deterministically():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = torch.arange(3).repeat_interleave(20)
    x = centres[truth] + 0.3 * torch.randn(60, 2, generator=g)
    a, b = kmeans_labels(x, x, 3), kmeans_labels(x, x, 3)
    assert torch.equal(a, b) and a.dtype == torch.int64
    for k in range(3):  # each true group is one cluster, and the clusters differ
        assert a[truth == k].unique().numel() == 1
    assert a.unique().numel() == 3
    assert torch.equal(kmeans_labels(x, centres, 3), a[[0, 20, 40]])  # new rows: nearest
    with pytest.raises(ValueError, match="5 clips cannot make 6 clusters"):
        kmeans_labels(x[:5], x, 6)


def test_fsdd_clusters_are_shared_by_the_splits_and_follow_the_sound(tmp_path):
    root = str(fake_fsdd(tmp_path / "fsdd", takes=6))  # one pitch per digit x speaker
    cfg = DATASETS["fsdd"].config(root=root, length=1024, label="cluster", clusters=20)
    train = build_dataset(cfg)
    test = build_dataset(DATASETS["fsdd"].config(
        root=root, length=1024, label="cluster", clusters=20, split="test"))  # fmt: skip
    assert train.num_classes == 20 and train.class_names[3] == "cluster 3"
    pitch = train.cond["digit"] * 2 + train.cond["speaker"]  # 20 distinct sines
    # each (noise-free) sine is its own cluster, and a held-out take of it joins the same
    key = {int(p): int(c) for p, c in zip(pitch, train.cond["class"])}
    assert len(set(key.values())) == 20
    held = test.cond["digit"] * 2 + test.cond["speaker"]
    assert [key[int(p)] for p in held] == test.cond["class"].tolist()
    with pytest.raises(ConfigError, match="data.clusters"):
        DATASETS["fsdd"].config(root=root, label="cluster", clusters=1)
    with pytest.raises(ConfigError, match="data.clusters: 25 clusters, but .* has 20 training"):
        build_dataset(DATASETS["fsdd"].config(root=root, length=1024, label="cluster",
                                              clusters=25))  # fmt: skip


def test_class_draws_from_a_prior_depend_on_the_seed_alone():
    prior = torch.tensor([0.5, 0.0, 0.3, 0.2], dtype=torch.float64)
    many, nrow = class_cond(4, 4000, None, 0, prior)
    assert nrow is None
    freq = torch.bincount(many["class"], minlength=4).double() / 4000
    assert freq[1] == 0 and torch.allclose(freq, prior, atol=0.03)  # 4 standard errors
    part = class_cond(4, 10, None, 7, prior)[0]["class"]
    assert torch.equal(part, many["class"][7:17])  # seed s gets the same class in any batch
    assert class_cond(4, 3, 2, 0, prior)[0]["class"].tolist() == [2, 2, 2]  # asked: kept
