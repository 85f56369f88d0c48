"""Prompts as a condition: a run's text encoder (``text.*``, :class:`~genlab.experiment.
TextConfig`), the condition it gives a network, its null, and the per-run caption cache.

Two layouts of the condition, one per kind of encoder (``genlab.cond`` declares the keys):

- **frozen** (``text.encoder=minilm``): ``text`` ``(B, L, 384)`` token states and
  ``text_mask`` ``(B, L)``, computed outside the network. In training every caption the
  data can hold is encoded once when the run starts (:func:`caption_table`; 810 captions
  on ``shapes``), and each batch looks its rows up by the images' ``caption`` index.
- **trainable** (``text.encoder=words``): ``text_ids`` ``(B, L)`` word ids and
  ``text_mask``; the network is wrapped in :class:`TextConditioned`, which owns the
  word-level encoder (``cond/text.py``), trains it with the rest and hands the states on.

The null condition for guidance and condition dropout is the empty prompt's encoding
(Stable Diffusion's convention): two real tokens ([CLS] [SEP]) for MiniLM, no real token
for the word encoder (cross-attention then adds nothing). A negative prompt replaces it at
sampling time (:func:`negative_null`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor, nn

from genlab.cond.text import FrozenMiniLM, WordTextEncoder, WordTokenizer
from genlab.errors import ConfigError
from genlab.experiment import TextConfig

DEFAULT_LENGTH = {"minilm": 32, "words": 16}  # tokens (WordPiece incl. [CLS]/[SEP]) / words


def captions_of(data_cfg) -> list[str]:
    """Every caption the data ``data_cfg`` can hold (the vocabulary and the cache).

    Raises:
        ConfigError: data without captions.
    """
    if getattr(data_cfg, "name", None) != "shapes":
        raise ConfigError(
            f"text.encoder: data '{getattr(data_cfg, 'name', data_cfg)}' has no captions; "
            "text conditioning trains on shapes"
        )
    from genlab.data.shapes import all_captions

    return all_captions(data_cfg)


def max_length(tcfg: TextConfig) -> int:
    """Tokens per prompt: ``text.max_length`` or the encoder's default."""
    return tcfg.max_length or DEFAULT_LENGTH[tcfg.encoder]


def encoder_dim(tcfg: TextConfig) -> int:
    """The width ``D`` of the token states: what ``model.text_dim`` must be."""
    return FrozenMiniLM.dim if tcfg.encoder == "minilm" else tcfg.dim


@lru_cache(maxsize=2)
def frozen_minilm(length: int) -> FrozenMiniLM:
    """The frozen MiniLM, loaded once per process and length."""
    return FrozenMiniLM(length)


def vocabulary(data_cfg) -> tuple[str, ...]:
    """The word encoder's vocabulary: the sorted words of :func:`captions_of`."""
    return tuple(WordTokenizer.from_captions(captions_of(data_cfg)).vocab)


def check(tcfg: TextConfig, model_cfg, data_cfg) -> None:
    """A run's text settings agree with its network and data.

    Raises:
        ConfigError: ``model.text_dim`` is not the encoder's width (or is set without an
            encoder), or the data has no captions.
    """
    dim = getattr(model_cfg, "text_dim", None)
    if not tcfg.encoder:
        if dim:
            raise ConfigError(
                f"model.text_dim: {dim}, but text.encoder is not set (minilm or words)"
            )
        return
    if dim is None:
        raise ConfigError(
            f"text.encoder: model '{getattr(model_cfg, 'arch', '?')}' cannot read text "
            "(use the unet)"
        )
    if dim != encoder_dim(tcfg):
        raise ConfigError(
            f"model.text_dim: {dim}, but text.encoder {tcfg.encoder} gives "
            f"{encoder_dim(tcfg)}-d states; set model.text_dim={encoder_dim(tcfg)}"
        )
    captions_of(data_cfg)


def cond_keys(tcfg: TextConfig) -> tuple[str, ...]:
    """The condition keys the run's network takes for its text."""
    if not tcfg.encoder:
        return ()
    return ("text", "text_mask") if tcfg.encoder == "minilm" else ("text_ids", "text_mask")


class TextConditioned(nn.Module):
    """``net`` reading prompts through a trainable word encoder: ``cond["text_ids"]``
    ``(B, L)`` and ``cond["text_mask"]`` become the states ``cond["text"]`` ``(B, L, D)``
    before ``net(x, t, cond)`` runs. The encoder is ``text_encoder``; ``net`` is the
    network as it would be without text (a U-Net, or one in EDM's preconditioning)."""

    def __init__(self, net: nn.Module, encoder: WordTextEncoder):
        super().__init__()
        self.net = net
        self.text_encoder = encoder

    def forward(self, x: Tensor, t: Tensor, cond: dict) -> Tensor:
        if "text_ids" in cond:
            e = self.text_encoder.encode_ids(cond["text_ids"], cond["text_mask"])
            cond = {k: v for k, v in cond.items() if k != "text_ids"}
            cond = {**cond, "text": e.states, "text_mask": e.mask}
        return self.net(x, t, cond)


def wrap(net: nn.Module, tcfg: TextConfig, data_cfg) -> nn.Module:
    """``net`` itself (no text, or a frozen encoder) or wrapped with its word encoder."""
    if tcfg.encoder != "words":
        return net
    encoder = WordTextEncoder(
        vocabulary(data_cfg), tcfg.dim, tcfg.depth, tcfg.heads, max_length(tcfg)
    )
    return TextConditioned(net, encoder)


def prompt_cond(tcfg: TextConfig, data_cfg, prompts: Sequence[str], batch: int = 256) -> dict:
    """The condition of ``prompts`` (a prompt longer than the limit is truncated with a
    warning): ``text`` ``(B, L, 384)`` and ``text_mask`` for MiniLM, ``text_ids`` and
    ``text_mask`` ``(B, L)`` for the word encoder; on the CPU."""
    if not tcfg.encoder:
        raise ConfigError("--prompt: this run has no text conditioning (text.encoder is not set)")
    prompts = list(prompts)
    if tcfg.encoder == "words":
        ids, mask = WordTokenizer(vocabulary(data_cfg)).encode(prompts, max_length(tcfg))
        return {"text_ids": ids, "text_mask": mask}
    encoder = frozen_minilm(max_length(tcfg))
    parts = [encoder(prompts[lo : lo + batch]) for lo in range(0, len(prompts), batch)]
    return {
        "text": torch.cat([p.states for p in parts]).cpu(),
        "text_mask": torch.cat([p.mask for p in parts]).cpu(),
    }


def null_cond(tcfg: TextConfig, data_cfg) -> dict:
    """The declared null of the text keys: the empty prompt's condition without the batch
    dimension (``{}`` for a run without text)."""
    if not tcfg.encoder:
        return {}
    return {k: v[0] for k, v in prompt_cond(tcfg, data_cfg, [""]).items()}


def negative_null(tcfg: TextConfig, data_cfg, negative: str) -> dict:
    """A negative prompt's condition in the null's place (Stable Diffusion's
    ``negative_prompt``), without the batch dimension."""
    if not tcfg.encoder:
        raise ConfigError(
            "--negative-prompt: this run has no text conditioning (text.encoder is not set)"
        )
    return {k: v[0] for k, v in prompt_cond(tcfg, data_cfg, [negative]).items()}


def caption_table(tcfg: TextConfig, data_cfg) -> dict:
    """The condition of every caption of :func:`captions_of`, row ``i`` for caption ``i``:
    the cache a run builds once when it starts (a frozen encoder then never runs during
    training)."""
    return prompt_cond(tcfg, data_cfg, captions_of(data_cfg))


def from_captions(table: dict, index: Tensor) -> dict:
    """The rows ``index`` ``(B,)`` of :func:`caption_table`, on ``index``'s device."""
    rows = index.cpu()
    return {k: v[rows].to(index.device) for k, v in table.items()}
