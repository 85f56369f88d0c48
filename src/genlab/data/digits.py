"""``digits``: the 1,797 8x8 handwritten digits bundled with scikit-learn (UCI optdigits).

Pixels (0..16) are scaled to [-1, 1]; shape ``(N, 1, 8, 8)``, or ``(N, 1, S, S)`` when
``image_size`` asks for a bilinear resize. Labels 0-9 are ``cond["class"]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.data.base import Dataset, split_index
from genlab.data.configs import DigitsConfig


def make_digits(cfg: DigitsConfig) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images).float()[:, None] / 16.0 * 2 - 1  # (1797, 1, 8, 8)
    y = torch.from_numpy(d.target).long()
    if cfg.image_size != 8:
        x = F.interpolate(x, size=cfg.image_size, mode="bilinear", align_corners=False)
        x = x.clamp(-1, 1)
    idx = split_index(len(x), cfg.split, cfg.test_fraction)
    return Dataset(x[idx], {"class": y[idx]}, "image", 10, tuple(str(i) for i in range(10)))
