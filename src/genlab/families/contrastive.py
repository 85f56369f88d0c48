"""The contrastive family: a CLIP-style dual encoder (``models/clip.py``) trained on a
dataset's images and captions, the feature network of the CLIP score
(``genlab eval --metrics clip --clip RUN``). It draws no samples.

The loss is CLIP's symmetric cross-entropy over the batch's image-text logits (Radford et
al. 2021, Fig. 3): each image should pick its caption among the batch's, and each caption
its image. ``shapes`` has 810 captions, so a batch of 128 holds repeated ones; a repeated
caption is a positive for every image that has it (the targets spread evenly over them)
rather than a wrong answer.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.cond.prompts import captions_of
from genlab.errors import ConfigError
from genlab.experiment import Experiment
from genlab.families.base import Family, fit_one_objective, no_dependencies
from genlab.families.classifier import random_shift
from genlab.models import build_model


def contrastive_loss(logits: Tensor, caption: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample symmetric loss ``(B,)`` and retrieval accuracy from ``logits`` ``(B, B)``
    (image i against text j) and each pair's caption id ``(B,)``: the mean of the
    image-to-text and text-to-image cross-entropies, with equal captions as shared
    positives. Accuracy: the share of images whose best text has their caption."""
    same = (caption[:, None] == caption[None, :]).to(logits.dtype)  # (B, B), symmetric
    targets = same / same.sum(1, keepdim=True)
    image_to_text = -(targets * F.log_softmax(logits, 1)).sum(1)
    text_to_image = -(targets * F.log_softmax(logits.T, 1)).sum(1)
    right = same.gather(1, logits.argmax(1, keepdim=True)).squeeze(1)
    return 0.5 * (image_to_text + text_to_image), right.mean()


def caption_tokens(exp: Experiment, model: nn.Module) -> tuple[Tensor, Tensor]:
    """Word ids and masks ``(U, L)`` of every caption the data can hold (row = caption
    id, the data's ``caption`` index)."""
    net = getattr(model, "module", model)
    return net.tokenize(captions_of(exp.data))


def loss(exp: Experiment):
    shift = exp.objective.shift
    table: dict = {}

    def clip_loss(model: nn.Module, batch: dict, generator: torch.Generator):
        if not table:  # the tokenised captions, once
            table["ids"], table["mask"] = caption_tokens(exp, model)
        x = random_shift(batch["x"], shift, generator)
        caption = batch["cond"]["caption"]
        rows = caption.cpu()
        ids, mask = table["ids"][rows].to(x.device), table["mask"][rows].to(x.device)
        value, acc = contrastive_loss(model(x, ids, mask).float(), caption)
        net = getattr(model, "module", model)
        return value, {"retrieval_acc": acc.detach(), "logit_scale": net.logit_scale.detach()}

    return clip_loss


def sample(model, exp, seeds, cond, scfg):
    raise ConfigError(
        f"{exp.recipe}: a dual-encoder run does not generate samples; use it as "
        "`genlab eval ... --metrics clip --clip RUN`"
    )


def preview(exp: Experiment, data):
    """Retrieval: for each of 8 captions, the 8 training images (of the first 1,024) the
    encoder ranks closest, best first; a row per caption."""
    return partial(_preview, exp=exp, data=data)


@torch.no_grad()
def _preview(model: nn.Module, exp: Experiment, data) -> tuple[Tensor, int]:
    device = next(model.parameters()).device
    x = data.x[:1024]
    step = max(1, len(data.captions) // 8)
    texts = [data.captions[(i * step) % len(data.captions)] for i in range(8)]  # spread out
    ids, mask = model.tokenize(texts)
    img = model.encode_image(x.to(device))
    txt = model.encode_text(ids.to(device), mask.to(device))
    best = (txt @ img.T).topk(8, dim=1).indices.cpu()  # (8, 8)
    return x[best.flatten()], 8


def build(exp: Experiment) -> nn.Module:
    return build_model(exp.model)


def fit(exp: Experiment, run_dir: Path, resume: bool = False) -> Path:
    captions_of(exp.data)  # a clear error for data without captions
    return fit_one_objective(
        exp,
        run_dir,
        resume,
        build=build,
        loss=loss(exp),
        cond_keys=("caption",),
        preview=preview,
    )


FAMILY = Family(
    name="contrastive",
    build=build,
    fit=fit,
    sample=sample,
    cond_keys=lambda exp: ("caption",),
    null_cond=lambda exp: {},
    dependencies=no_dependencies,
    doc="CLIP-style dual encoder on images and captions (the CLIP score's feature network)",
)
