"""Learning-rate schedule: linear warm-up, then cosine decay to ``lr * min_lr_ratio``."""

from __future__ import annotations

import math


def lr_at(step: int, lr: float, steps: int, warmup: int, min_ratio: float) -> float:
    """The learning rate for optimizer step ``step`` (0-based) of ``steps``."""
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    span = max(1, steps - warmup)
    progress = min(1.0, (step - warmup) / span)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
