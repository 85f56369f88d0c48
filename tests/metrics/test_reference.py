"""Reference sets and the reference-statistics cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.data import DATASETS
from genlab.errors import ConfigError
from genlab.evaluate import heldout_config, parse_metrics
from genlab.metrics.features import Extractor, reference_features, reference_key


def test_heldout_sets_follow_the_conventions():
    mnist = DATASETS["mnist"].config(root="x", split="test", start=0, stop=8000)
    cfg, desc = heldout_config(mnist)
    assert (cfg.start, cfg.stop, cfg.split) == (8000, -1, "test") and "held out" in desc
    cfg, _ = heldout_config(DATASETS["digits"].config(split="train"))
    assert cfg.split == "test"
    cfg, _ = heldout_config(DATASETS["grid25"].config())
    assert cfg.seed == 1 and cfg.name == "grid25"
    other = DATASETS["mnist"].config(root="x", split="test", start=100, stop=900)
    assert heldout_config(other) == (other, "mnist training data (no held-out part defined)")


def test_parse_metrics_defaults_and_errors():
    assert parse_metrics(None, "image") == ["fid", "kid", "pr", "dc"]
    assert parse_metrics("modes,w", "points") == ["modes", "w"]
    with pytest.raises(ConfigError, match="did you mean 'kid'"):
        parse_metrics("fid,kdi", "image")


def _mean_extractor(tmp_path, fingerprint="toy:0"):
    f = lambda x: x.flatten(1)[:, :4]  # noqa: E731
    return Extractor("toy", fingerprint, (1, 8, 8), {"class": 4}, torch.nn.Identity(), f,
                     torch.nn.Identity(), cache_dir=tmp_path)  # fmt: skip


def test_reference_features_are_cached_per_data_and_fingerprint(tmp_path):
    cfg = DATASETS["digits"].config(split="test")
    ext = _mean_extractor(tmp_path)
    first = reference_features(cfg, ext)
    assert not first["cached"] and first["features"].shape == (359, 4)
    again = reference_features(cfg, ext)
    assert again["cached"] and np.array_equal(again["features"], first["features"])
    assert np.array_equal(again["labels"]["class"], first["labels"]["class"])
    assert again["mu"].dtype == np.float64
    other = DATASETS["digits"].config(split="train")
    assert reference_key(cfg, "toy:0") != reference_key(other, "toy:0")
    assert reference_key(cfg, "toy:0") != reference_key(cfg, "toy:1")
    assert not reference_features(cfg, _mean_extractor(tmp_path, "toy:1"))["cached"]
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind
