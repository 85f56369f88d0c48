"""Conditioning: the condition keys, their declared null values, condition dropout, and
what guidance uses as "unconditional". One convention for every family.

A condition is a dict ``{key: Tensor}`` with one row per sample:

=============  ==================  ==============================================
key            batched shape       null value (declared once, no batch dimension)
=============  ==================  ==============================================
``class``      ``(B,)`` int64      ``()``: the id ``num_classes`` (an extra row)
``text``       ``(B, L, D)``       ``(L, D)``: the empty prompt's token states
``text_mask``  ``(B, L)`` bool     ``(L,)``: the empty prompt's key mask
``text_ids``   ``(B, L)`` int64    ``(L,)``: the empty prompt's word ids (a
                                   trainable encoder, ``genlab.cond.prompts``)
``mask``       ``(B, 1, H, W)``    (editing: not dropped)
``image``      ``(B, C, H, W)``    (editing / paired translation)
``control``    ``(B, C, H, W)``    (ControlNet)
=============  ==================  ==============================================

A null value either lacks the batch dimension (then it is broadcast over the batch) or
has it (a per-sample null, e.g. a negative prompt, which replaces the declared null at
sampling time). Condition dropout in training (:func:`drop`) and classifier-free
guidance at sampling (:func:`null_batch`, used by ``genlab.sampling.guidance.cfg``)
both go through :func:`null_batch`, so they agree for scalar and tensor nulls alike.
Dropout draws one keep/drop decision per sample shared by every key, so ``text`` and
its ``text_mask`` are dropped together (Ho & Salimans 2022, "Classifier-free diffusion
guidance", Algorithm 1).
"""

from __future__ import annotations

import torch

from genlab.errors import ConfigError

KEYS = ("class", "text", "text_mask", "text_ids", "mask", "image", "control")
NULLABLE = ("class", "text", "text_mask", "text_ids")  # the keys guidance and dropout replace


def class_null(num_classes: int) -> dict:
    """The declared null of a ``num_classes``-way class condition: ``{"class": tensor(K)}``
    (the label embedding's extra row), or ``{}`` for an unconditional model."""
    return {"class": torch.tensor(num_classes, dtype=torch.int64)} if num_classes else {}


def class_keys(num_classes: int) -> tuple[str, ...]:
    """The condition keys of a network with ``num_classes`` classes: ``("class",)`` or ``()``."""
    return ("class",) if num_classes else ()


def null_batch(null: dict, cond: dict) -> dict:
    """The null condition shaped like ``cond``: for each key of ``cond``, ``null[key]``
    broadcast to ``cond[key].shape`` (a null without the batch dimension) or checked to
    match it (a per-sample null such as a negative prompt), on ``cond[key]``'s device
    and dtype.

    Raises:
        ConfigError: a key of ``cond`` has no declared null, or the shapes disagree.
    """
    out = {}
    for k, v in cond.items():
        if k not in null:
            raise ConfigError(f"cond.{k}: has no declared null value (cannot drop or guide it)")
        n = null[k].to(device=v.device, dtype=v.dtype)
        if n.shape == v.shape[1:]:
            n = n.expand(v.shape)
        elif n.shape != v.shape:
            raise ConfigError(
                f"cond.{k}: null of shape {tuple(n.shape)} fits neither a sample "
                f"{tuple(v.shape[1:])} nor the batch {tuple(v.shape)}"
            )
        out[k] = n
    return out


def drop(cond: dict, p: float, null: dict, generator: torch.Generator) -> dict:
    """Condition dropout: each sample's whole condition becomes the null with probability
    ``p`` (one draw per sample from ``generator``, shared by every key). Keys without a
    declared null (``mask``, ``image``, ``control``) are never dropped."""
    droppable = {k: v for k, v in cond.items() if k in null}
    if p <= 0 or not droppable:
        return cond
    b = len(next(iter(droppable.values())))
    keep = torch.rand(b, generator=generator) >= p  # (B,) on CPU
    nulls = null_batch(null, droppable)
    out = dict(cond)
    for k, v in droppable.items():
        m = keep.to(v.device).view(-1, *([1] * (v.ndim - 1)))
        out[k] = torch.where(m, v, nulls[k])
    return out


def cat_with_null(cond: dict, null: dict) -> dict:
    """``{key: cat([cond[key], null[key]])}``: the ``2B`` batch of one guided forward pass
    (conditional rows first). Keys without a declared null (``mask``, ``image``,
    ``control``) are the same in both halves: guidance steers only what can be dropped."""
    nulls = null_batch(null, {k: v for k, v in cond.items() if k in NULLABLE or k in null})
    return {k: torch.cat([v, nulls.get(k, v)]) for k, v in cond.items()}
