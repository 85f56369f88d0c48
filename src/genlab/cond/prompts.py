"""Prompts as a condition: a run's text encoder (``text.*``, :class:`~genlab.experiment.
TextConfig`), the condition it gives a network, its null, and the per-run caption cache.

Two layouts of the condition, one per kind of encoder (``genlab.cond`` declares the keys):

- **frozen** (``text.encoder=minilm``): ``text`` ``(B, L, 384)`` token states and
  ``text_mask`` ``(B, L)``, computed outside the network. In training every caption the
  data can hold is encoded once when the run starts (:func:`caption_table`; 810 captions
  on ``shapes``, 360 on ``moving-shapes``), and each batch looks its rows up by the
  samples' ``caption`` index.
- **trainable** (``text.encoder=words`` or ``attributes``): ``text_ids`` ``(B, L)`` ids
  and ``text_mask``; the network is wrapped in :class:`TextConditioned`, which owns the
  encoder, trains it with the rest and hands the states on. ``words``: a word-level
  transformer (``models/text.py``) over the words of the data's captions (a prompt
  with any other word is an error: :func:`check_words`); ``attributes``: the
  class-label baseline, one learned token per attribute of the caption (a prompt must be
  one of the data's captions, which name every attribute).

The data with captions (``shapes``: images, ``moving-shapes``: clips) and what each gives
the encoders (its captions, their words, the attributes they name) are
``genlab.models.text.CAPTIONED``; nothing here is specific to one of them.

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

from genlab.cond.text import FrozenMiniLM, WordTokenizer
from genlab.errors import ConfigError
from genlab.experiment import TextConfig
from genlab.models.text import TextConditioned, captions_spec, trained_text_encoder


def captions_of(data_cfg) -> list[str]:
    """Every caption the data ``data_cfg`` can hold (the vocabulary and the cache), in
    ``cond["caption"]`` order (``genlab.models.text.CAPTIONED``).

    Raises:
        ConfigError: data without captions.
    """
    return captions_spec(data_cfg).captions(data_cfg)


def encoder_dim(tcfg: TextConfig) -> int:
    """The width ``D`` of the token states: what ``model.text_dim`` must be."""
    return FrozenMiniLM.dim if tcfg.encoder == "minilm" else tcfg.dim


@lru_cache(maxsize=2)
def frozen_minilm(length: int) -> FrozenMiniLM:
    """The frozen MiniLM, loaded once per process and length."""
    return FrozenMiniLM(length)


def attribute_names(data_cfg) -> tuple[str, ...]:
    """The attributes the data's captions name, in caption-index order (``shapes``:
    shape, color, size, position; ``moving-shapes``: shape, color, size, direction)."""
    return captions_spec(data_cfg).attributes


def attribute_sizes(data_cfg) -> list[int]:
    """How many values each attribute of :func:`attribute_names` takes."""
    spec = captions_spec(data_cfg)
    names = spec.values(data_cfg)
    return [len(names[a]) for a in spec.attributes]


def attribute_labels(
    data_cfg, prompts: list[str], flag: str = "--prompt"
) -> tuple[dict[str, Tensor], Tensor]:
    """What each of ``prompts`` asks for: ``{attribute: (B,) int64}`` label indices (as the
    data's ``cond`` holds them) and ``known`` ``(B,)`` bool, False for the empty prompt
    (its labels read 0). Each prompt must be one of the data's captions; ``flag`` names
    where the prompts came from in the error.

    Raises:
        ConfigError: a prompt that is not a caption of the data, or data without captions.
    """
    captions = captions_of(data_cfg)
    where = {c: i for i, c in enumerate(captions)}
    names, sizes = attribute_names(data_cfg), attribute_sizes(data_cfg)
    values = torch.zeros(len(prompts), len(sizes), dtype=torch.int64)  # (B, A)
    known = torch.zeros(len(prompts), dtype=torch.bool)
    for i, p in enumerate(prompts):
        if not p:
            continue
        if p not in where:
            raise ConfigError(
                f"{flag}: {p if len(p) <= 60 else p[:60] + '...'!r} is not a caption of "
                "the data; the attributes encoder reads "
                f"captions exactly, e.g. {captions[0]!r}"
            )
        index = where[p]  # mixed radix, the last attribute fastest (the captions' order)
        for a in range(len(sizes) - 1, -1, -1):
            values[i, a], index = index % sizes[a], index // sizes[a]
        known[i] = True
    return {a: values[:, k] for k, a in enumerate(names)}, known


def attribute_ids(data_cfg, prompts: list[str], flag: str = "--prompt") -> tuple[Tensor, Tensor]:
    """The attributes encoder's ids and mask ``(B, A)`` of ``prompts``: slot ``a`` holds
    ``offset[a] + value`` (:func:`attribute_labels`); the empty prompt: every slot masked.

    Raises:
        ConfigError: a prompt that is not a caption of the data.
    """
    labels, known = attribute_labels(data_cfg, prompts, flag)
    sizes = attribute_sizes(data_cfg)
    values = torch.stack(list(labels.values()), 1)  # (B, A)
    offsets = torch.tensor([sum(sizes[:a]) for a in range(len(sizes))])
    return values + offsets, known[:, None].expand(-1, len(sizes)).clone()


def vocabulary(data_cfg) -> tuple[str, ...]:
    """The word encoder's vocabulary: the sorted words of :func:`captions_of`
    (torch-free, as ``WordTokenizer.from_captions`` makes it).

    Raises:
        ConfigError: data without captions.
    """
    return captions_spec(data_cfg).words(data_cfg)


def check_words(
    prompts: Sequence[str], vocab: Sequence[str], data_cfg, flag: str = "--prompt"
) -> None:
    """Every word of ``prompts`` is in the word encoder's ``vocab``: it never trained on
    any other (each would read as the one untrained ``UNK`` id).

    Raises:
        ConfigError: naming the first prompt with unknown words, those words, and the
            vocabulary.
    """
    tokenizer = WordTokenizer(vocab)
    for p in prompts:
        unknown = tokenizer.unknown(p)
        if unknown:
            shown = p if len(p) <= 60 else p[:60] + "..."
            raise ConfigError(
                f"{flag}: {shown!r} has words the word encoder never saw "
                f"({', '.join(unknown)}); it knows only the words of the "
                f"{getattr(data_cfg, 'name', 'data')} captions: {' '.join(vocab)}"
            )


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
                f"model.text_dim: {dim}, but text.encoder is not set (minilm, words or attributes)"
            )
        return
    if dim is None:
        raise ConfigError(
            f"text.encoder: model '{getattr(model_cfg, 'arch', '?')}' cannot read text "
            "(use the unet or the dit)"
        )
    if tcfg.encoder == "attributes" and tcfg.length() != len(attribute_sizes(data_cfg)):
        raise ConfigError("text.max_length: the attributes encoder has one token per attribute")
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


def wrap(net: nn.Module, tcfg: TextConfig, data_cfg) -> nn.Module:
    """``net`` itself (no text, or a frozen encoder) or wrapped with its trained encoder
    (:class:`~genlab.models.text.TextConditioned`)."""
    encoder = trained_text_encoder(tcfg, data_cfg)
    return net if encoder is None else TextConditioned(net, encoder)


def prompt_cond(
    tcfg: TextConfig, data_cfg, prompts: Sequence[str], batch: int = 256, flag: str = "--prompt"
) -> dict:
    """The condition of ``prompts`` (a prompt longer than the limit is truncated with a
    warning): ``text`` ``(B, L, 384)`` and ``text_mask`` for MiniLM, ``text_ids`` and
    ``text_mask`` ``(B, L)`` for the word encoder; on the CPU. ``flag`` names where the
    prompts came from in errors (``--prompt``, ``--negative-prompt``)."""
    if not tcfg.encoder:
        raise ConfigError(f"{flag}: this run has no text conditioning (text.encoder is not set)")
    prompts = list(prompts)
    if tcfg.encoder == "attributes":
        ids, mask = attribute_ids(data_cfg, prompts, flag)
        return {"text_ids": ids, "text_mask": mask}
    if tcfg.encoder == "words":
        vocab = vocabulary(data_cfg)
        check_words(prompts, vocab, data_cfg, flag)
        ids, mask = WordTokenizer(vocab).encode(prompts, tcfg.length())
        return {"text_ids": ids, "text_mask": mask}
    encoder = frozen_minilm(tcfg.length())
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
    cond = prompt_cond(tcfg, data_cfg, [negative], flag="--negative-prompt")
    return {k: v[0] for k, v in cond.items()}


def caption_table(tcfg: TextConfig, data_cfg) -> dict:
    """The condition of every caption of :func:`captions_of`, row ``i`` for caption ``i``:
    the cache a run builds once when it starts (a frozen encoder then never runs during
    training)."""
    return prompt_cond(tcfg, data_cfg, captions_of(data_cfg))


def from_captions(table: dict, index: Tensor) -> dict:
    """The rows ``index`` ``(B,)`` of :func:`caption_table`, on ``index``'s device."""
    rows = index.cpu()
    return {k: v[rows].to(index.device) for k, v in table.items()}
