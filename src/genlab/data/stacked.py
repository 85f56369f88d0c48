"""Stacked MNIST (Metz et al. 2017; the mode-collapse benchmark of VEEGAN and PacGAN).

Each sample is a 3-channel 28x28 image whose channel ``c`` holds a random MNIST digit
``d_c``; its label (its *mode*) is ``100 d0 + 10 d1 + d2``, so there are 1,000 modes. The
digits are drawn from the MNIST images ``[start, stop)`` (genlab convention, see
:mod:`genlab.data.mnist`: train on test images ``[0, TRAIN_STOP)`` = ``[0, 8000)``, hold
out ``[8000, 10000)``), three indices per sample from
``torch.Generator().manual_seed(seed)``: the same config always gives the same set.
"""

from __future__ import annotations

import torch

from genlab.data.base import Dataset
from genlab.data.configs import MNISTConfig, StackedMNISTConfig
from genlab.data.mnist import make_mnist


def make_stacked_mnist(cfg: StackedMNISTConfig) -> Dataset:
    """``(n, 3, 28, 28)`` images in [-1, 1] and ``cond["class"] = 100 d0 + 10 d1 + d2``."""
    digits = make_mnist(MNISTConfig(root=cfg.root, split=cfg.split, start=cfg.start, stop=cfg.stop))
    g = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randint(len(digits), (cfg.n, 3), generator=g)  # (n, 3) source images
    x = digits.x[idx].squeeze(2)  # (n, 3, 28, 28): channel c = digit idx[:, c]
    d = digits.cond["class"][idx]  # (n, 3)
    label = 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]
    return Dataset(x, {"class": label}, "image", 1000, tuple(f"{i:03d}" for i in range(1000)))
