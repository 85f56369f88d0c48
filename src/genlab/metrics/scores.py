"""Metrics from a classifier's outputs: Inception-style score, accuracy of conditional
samples, and intra-class FID."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genlab.metrics.fid import fid_from_features


def inception_score(logits: Tensor, splits: int = 10) -> tuple[float, float]:
    """Salimans et al. 2016: ``exp(E_x KL(p(y|x) || p(y)))``, mean and std over
    ``splits`` equal chunks of the ``(N, K)`` logits (the original protocol: 10 splits).
    Ranges from 1 (uninformative or collapsed) to K (confident and class-balanced)."""
    logp = torch.log_softmax(logits.double(), 1)
    scores = []
    for chunk in logp.chunk(splits):
        p = chunk.exp()
        log_py = torch.log(p.mean(0, keepdim=True))  # (1, K) marginal
        scores.append(float(((p * (chunk - log_py)).sum(1).mean()).exp()))
    return float(np.mean(scores)), float(np.std(scores))


def class_accuracy(logits: Tensor, labels: Tensor) -> float:
    """Fraction of samples whose classifier prediction equals the requested class."""
    return float((logits.argmax(1).cpu() == labels.cpu()).double().mean())


def attribute_accuracy(logits: dict[str, Tensor], labels: dict[str, Tensor]) -> dict[str, float]:
    """Per-attribute accuracy and exact match of samples drawn for known attributes (a
    text-to-image prompt's shape, colour, size, position): ``acc_<attribute>`` is the
    fraction of samples whose classifier head ``logits[a]`` ``(N, K_a)`` reads
    ``labels[a]`` ``(N,)``; ``exact_match`` the fraction with every attribute right, as
    GenEval counts a correct image (Ghosh et al. 2023)."""
    right = {a: logits[a].argmax(1).cpu() == labels[a].cpu() for a in labels}
    out = {f"acc_{a}": float(r.double().mean()) for a, r in right.items()}
    out["exact_match"] = float(torch.stack(list(right.values())).all(0).double().mean())
    return out


def intra_class_fid(
    f_real, y_real, f_fake, y_fake, min_per_class: int = 2
) -> tuple[float, dict[int, float]]:
    """Mean over classes of the FID between the real and generated features of that
    class (Miyato & Koyama 2018, "cGANs with projection discriminator"); classes with
    fewer than ``min_per_class`` samples on either side are skipped.

    Returns ``(mean, {class: fid})``.
    """
    f_real, f_fake = np.asarray(f_real), np.asarray(f_fake)
    y_real, y_fake = np.asarray(y_real), np.asarray(y_fake)
    per = {}
    for c in np.unique(y_fake):
        a, b = f_real[y_real == c], f_fake[y_fake == c]
        if len(a) >= min_per_class and len(b) >= min_per_class:
            per[int(c)] = fid_from_features(a, b)
    if not per:
        raise ValueError("intra_class_fid: no class has enough real and generated samples")
    return float(np.mean(list(per.values()))), per
