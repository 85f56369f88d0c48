"""CLIP score: how well images match their prompts, read by a CLIP-style dual encoder
(genlab trains its own on ``shapes``: ``genlab train clip-shapes``; ``models/clip.py``).

Two scalings of the same cosine ``cos(E_image, E_text)`` (unit-norm embeddings) are in use,
and both are reported:

- ``clip_score``: torchmetrics' ``CLIPScore``, ``max(100 cos, 0)`` averaged over the
  samples (its code clamps the mean);
- ``clip_score_hessel``: Hessel et al. 2021 ("CLIPScore"), ``2.5 max(cos, 0)`` per
  image, averaged (the paper's w = 2.5);

with ``clip_cos``, the plain mean cosine. Scores from different dual encoders are not
comparable: genlab's is small and trained on ``shapes`` alone, so compare models under
one encoder (its fingerprint is recorded).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

HESSEL_W = 2.5


@torch.no_grad()
def clip_cosines(model: nn.Module, images: Tensor, texts: list[str], batch: int = 500) -> Tensor:
    """``(N,)`` cosine between each image ``(N, C, H, W)`` in [-1, 1] and its text.

    Raises:
        ValueError: as many texts as images are needed.
    """
    if len(texts) != len(images):
        raise ValueError(f"{len(images)} images but {len(texts)} texts")
    device = next(model.parameters()).device
    ids, mask = model.tokenize(list(texts))
    out = []
    for lo in range(0, len(images), batch):
        img = model.encode_image(images[lo : lo + batch].to(device))
        txt = model.encode_text(ids[lo : lo + batch].to(device), mask[lo : lo + batch].to(device))
        out.append((img * txt).sum(-1).cpu())
    return torch.cat(out)


def clip_scores(cos: Tensor) -> dict[str, float]:
    """Both scalings (see the module docstring) of per-sample cosines ``(N,)``."""
    return {
        "clip_score": max(100.0 * float(cos.double().mean()), 0.0),
        "clip_score_hessel": float((HESSEL_W * cos.double().clamp(min=0)).mean()),
        "clip_cos": float(cos.double().mean()),
    }
