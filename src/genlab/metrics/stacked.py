"""Stacked MNIST mode counting (Metz et al. 2017; Srivastava et al. 2017, VEEGAN).

A Stacked MNIST image ``(3, 28, 28)`` holds one MNIST digit per channel: channel c holds
digit ``d_c``. Its mode is ``100 d0 + 10 d1 + d2`` (1,000 modes). A generator is judged
on (by convention) 26,000 samples: each channel is classified by the MNIST classifier;
report the number of modes hit and ``KL(mode histogram || uniform)`` in nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

NUM_MODES = 1000


def stacked_modes(x: Tensor, classify: Callable[[Tensor], Tensor]) -> Tensor:
    """Modes ``(N,)`` in [0, 1000) of images ``(N, 3, 28, 28)`` in [-1, 1].

    ``classify`` maps ``(M, 1, 28, 28)`` images to ``(M, 10)`` logits (e.g. the MNIST
    extractor's ``logits``); the three channels are classified in one call.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"stacked MNIST images must be (N, 3, H, W), got {tuple(x.shape)}")
    n = len(x)
    digits = classify(x.reshape(n * 3, 1, *x.shape[2:])).argmax(1).reshape(n, 3)
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def mode_histogram_stats(modes: Tensor, num_modes: int = NUM_MODES) -> dict:
    """``{"modes": covered, "kl": KL(p || uniform) in nats, "counts": (K,) list}``."""
    counts = torch.bincount(modes.long().cpu(), minlength=num_modes).double()
    p = counts / counts.sum()
    nz = p > 0
    kl = float((p[nz] * (p[nz] * num_modes).log()).sum())
    return {"modes": int(nz.sum()), "kl": kl, "counts": counts.long().tolist()}


def stacked_mnist_stats(x: Tensor, classify: Callable[[Tensor], Tensor]) -> dict:
    """Modes covered (of 1,000) and KL to uniform for Stacked MNIST samples ``x``."""
    out = mode_histogram_stats(stacked_modes(x, classify))
    out["n"] = len(x)
    out["max_kl"] = math.log(NUM_MODES)
    return out
