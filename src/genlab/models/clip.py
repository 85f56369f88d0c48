"""A CLIP-style dual encoder (Radford et al. 2021, "Learning Transferable Visual Models
From Natural Language Supervision"), small enough to train on ``shapes`` captions.

- image tower: the metric classifier's CNN (``models/classifier.py``) to ``features``
  widths, then a linear projection to ``embed_dim``;
- text tower: :class:`~genlab.models.text.WordTextEncoder` over the captions' words, its
  pooled (masked-mean) state projected to ``embed_dim``;
- ``logit_scale``: the learnable log inverse temperature, from log(1 / 0.07) as CLIP.

``encode_image(x (B, C, S, S)) -> (B, E)`` and ``encode_text(ids, mask (B, L)) -> (B, E)``
are L2-normalised; ``forward(x, ids, mask) -> (B, B)`` the scaled cosine logits (row i:
image i against every text). The loss is ``objectives/contrastive.py``'s.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genlab.models.classifier import Classifier
from genlab.models.configs import ClassifierConfig, DualEncoderConfig
from genlab.models.text import WordTextEncoder


class DualEncoder(nn.Module):
    def __init__(self, cfg: DualEncoderConfig):
        super().__init__()
        self.cfg = cfg
        image = ClassifierConfig(
            in_channels=cfg.in_channels, image_size=cfg.image_size, width=cfg.width,
            features=cfg.features, heads=(2,), head_names=("unused",),
        )  # fmt: skip
        cnn = Classifier(image)
        self.image_body, self.image_features = cnn.body, cnn.proj  # its head is not used
        self.image_proj = nn.Linear(cfg.features, cfg.embed_dim, bias=False)
        self.text = WordTextEncoder(
            cfg.vocab, cfg.text_dim, cfg.text_depth, cfg.text_heads, cfg.max_length
        )
        self.text_proj = nn.Linear(cfg.text_dim, cfg.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, x: Tensor) -> Tensor:
        """Unit-norm image embeddings ``(B, embed_dim)`` of images in [-1, 1]."""
        h = torch.relu(self.image_features(self.image_body(x)))  # (B, features)
        return nn.functional.normalize(self.image_proj(h), dim=-1)

    def encode_text(self, ids: Tensor, mask: Tensor) -> Tensor:
        """Unit-norm text embeddings ``(B, embed_dim)`` of word ids ``(B, L)``."""
        pooled = self.text.encode_ids(ids, mask).pooled  # (B, text_dim)
        return nn.functional.normalize(self.text_proj(pooled), dim=-1)

    def tokenize(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        """Word ids and mask ``(B, max_length)`` (truncation warns)."""
        return self.text.tokenizer.encode(prompts, self.cfg.max_length)

    def forward(self, x: Tensor, ids: Tensor, mask: Tensor) -> Tensor:
        """``(B, B)`` logits: ``exp(logit_scale) cos(image_i, text_j)``, the scale
        clamped at 100 as CLIP does."""
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        return scale * self.encode_image(x) @ self.encode_text(ids, mask).T
