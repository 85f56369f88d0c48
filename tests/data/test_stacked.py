"""Stacked MNIST: channel c holds digit d_c, label 100 d0 + 10 d1 + d2, seeded."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from genlab.data import DATASETS, build_dataset
from genlab.errors import ConfigError


def _idx(path, array):
    code = {np.uint8: 0x08}[array.dtype.type]
    head = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(head + array.tobytes()))


@pytest.fixture
def fake_mnist(tmp_path):
    # image k is filled with the value 10 * k, so each channel tells its source image
    images = (np.arange(20, dtype=np.uint8) * 10)[:, None, None] * np.ones((1, 28, 28), np.uint8)
    labels = (np.arange(20) % 10).astype(np.uint8)
    _idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    return tmp_path


def test_stacked_channels_labels_and_seed(fake_mnist):
    cfg = DATASETS["stacked-mnist"].config(root=str(fake_mnist), start=0, stop=16, n=200)
    ds = build_dataset(cfg)
    assert ds.x.shape == (200, 3, 28, 28) and ds.num_classes == 1000
    src = ((ds.x[:, :, 0, 0] + 1) * 127.5).round().long() // 10  # (200, 3) source images
    assert int(src.max()) < 16  # only images [start, stop)
    digits = src % 10
    assert torch.equal(ds.cond["class"], 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2])
    again = build_dataset(cfg)
    assert torch.equal(again.x, ds.x)
    cfg.seed = 1
    assert not torch.equal(build_dataset(cfg).x, ds.x)
    with pytest.raises(ConfigError, match="data.n"):
        cfg.n = 0
        build_dataset(cfg)
