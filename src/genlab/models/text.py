"""Text networks of genlab's own: :class:`TextEmbedding` (what every text encoder
returns), a word-level vocabulary (:class:`WordTokenizer`) and a small trainable text
transformer over it (:class:`WordTextEncoder`). ``genlab.cond.text`` adds the frozen
pretrained MiniLM and the caption cache; a CLIP-style dual encoder (``models/clip.py``)
uses the word encoder as its text tower. :data:`CAPTIONED` names the data with captions
(``shapes``, ``moving-shapes``) and what each gives a text encoder: its captions, their
words and the attributes they name.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from genlab.data import configs as D
from genlab.errors import ConfigError
from genlab.nn.attention import MultiHeadAttention
from genlab.nn.embed import masked_mean
from genlab.nn.transformer import Mlp


@dataclass
class TextEmbedding:
    """Encoded prompts.

    Attributes:
        states: ``(B, L, D)`` token states (padding positions hold whatever the encoder
            gives there; the mask says to ignore them).
        mask: ``(B, L)`` bool, True = a real token (a key cross-attention may attend).
        pooled: ``(B, D)`` one vector per prompt.
    """

    states: Tensor
    mask: Tensor
    pooled: Tensor

    def __getitem__(self, index) -> TextEmbedding:
        return TextEmbedding(self.states[index], self.mask[index], self.pooled[index])

    def __len__(self) -> int:
        return len(self.states)

    def to(self, device) -> TextEmbedding:
        return TextEmbedding(self.states.to(device), self.mask.to(device), self.pooled.to(device))


def _warn_truncated(prompts: Sequence[str], lengths: list[int], limit: int, name: str) -> None:
    long = dict((p, n) for p, n in zip(prompts, lengths) if n > limit)  # distinct prompts
    if long:
        p, n = next(iter(long.items()))
        p = p if len(p) <= 40 else p[:40] + "..."
        more = f" (and {len(long) - 1} more)" if len(long) > 1 else ""
        warnings.warn(
            f"{name}: prompt {p!r} has {n} tokens, more than the limit of {limit}; "
            f"truncated to {limit}{more}",
            stacklevel=3,
        )


def _check_prompts(prompts) -> list[str]:
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise TypeError("prompts: expected a list of strings")
    return list(prompts)


_WORD = re.compile(r"[a-z0-9]+")


class WordTokenizer:
    """A word-level vocabulary: lower-cased runs of letters and digits.

    Ids: 0 = padding, 1 = an unknown word, 2.. = ``vocab`` in order.
    """

    PAD, UNK = 0, 1

    def __init__(self, vocab: Sequence[str]):
        self.vocab = list(vocab)
        self.index = {w: i + 2 for i, w in enumerate(self.vocab)}

    @classmethod
    def from_captions(cls, captions: Sequence[str]) -> WordTokenizer:
        """The sorted set of words in ``captions``."""
        return cls(sorted({w for c in captions for w in _WORD.findall(c.lower())}))

    def __len__(self) -> int:
        return len(self.vocab) + 2

    def unknown(self, prompt: str) -> list[str]:
        """The words of ``prompt`` outside the vocabulary (each once, in order): those it
        reads as ``UNK``."""
        return list(dict.fromkeys(w for w in _WORD.findall(prompt.lower()) if w not in self.index))

    def encode(self, prompts: Sequence[str], max_length: int) -> tuple[Tensor, Tensor]:
        """Ids and mask ``(B, max_length)``; warns when a prompt is truncated."""
        prompts = _check_prompts(prompts)
        words = [_WORD.findall(p.lower()) for p in prompts]
        _warn_truncated(prompts, [len(w) for w in words], max_length, "text encoder words")
        ids = torch.zeros(len(prompts), max_length, dtype=torch.int64)
        for i, ws in enumerate(words):
            row = [self.index.get(w, self.UNK) for w in ws[:max_length]]
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
        return ids, ids != self.PAD


class TextBlock(nn.Module):
    """Pre-norm transformer block: self-attention with a key mask, then an MLP."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.mlp = Mlp(dim)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x), key_mask=mask)
        return x + self.mlp(self.norm2(x))


class WordTextEncoder(nn.Module):
    """A small trainable text transformer over :class:`WordTokenizer` ids: token and
    learned position embeddings, ``depth`` pre-norm blocks attending to real tokens only,
    a final LayerNorm; pooled = the mean of the real tokens' states.

    Args:
        vocab: the words (``WordTokenizer.from_captions(captions).vocab``).
        dim, depth, heads: width, blocks and attention heads (``heads`` divides ``dim``).
        max_length: words per prompt.
    """

    def __init__(
        self, vocab: Sequence[str], dim: int = 128, depth: int = 2, heads: int = 4,
        max_length: int = 16,
    ):  # fmt: skip
        super().__init__()
        if max_length < 1 or depth < 1 or dim % heads:
            raise ConfigError(
                f"text: max_length and depth must be positive and heads must divide dim "
                f"(got max_length={max_length}, depth={depth}, dim={dim}, heads={heads})"
            )
        self.tokenizer = WordTokenizer(vocab)
        self.dim, self.max_length = dim, max_length
        self.tokens = nn.Embedding(len(self.tokenizer), dim)
        self.positions = nn.Parameter(torch.randn(max_length, dim) * 0.02)
        self.blocks = nn.ModuleList(TextBlock(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def encode_ids(self, ids: Tensor, mask: Tensor) -> TextEmbedding:
        """``ids, mask`` ``(B, L)`` -> the embedding (``L <= max_length``)."""
        x = self.tokens(ids) + self.positions[: ids.shape[1]]  # (B, L, D)
        for block in self.blocks:
            x = block(x, mask)
        x = self.norm(x)
        return TextEmbedding(x, mask, masked_mean(x, mask))

    def forward(self, prompts: Sequence[str]) -> TextEmbedding:
        ids, mask = self.tokenizer.encode(prompts, self.max_length)
        device = self.positions.device
        return self.encode_ids(ids.to(device), mask.to(device))


class AttributeEncoder(nn.Module):
    """Attributes as labels, read like text (the class-label baseline of text-to-image):
    one token per attribute (``shape``, ``colour``, ``size``, ``position`` on shapes;
    ``direction`` in place of ``position`` on moving-shapes), its state the learned
    embedding of the attribute's value plus a learned embedding of the attribute's slot;
    no attention between them. Pooled = the mean of the real tokens.

    Ids ``(B, A)``: slot ``a`` holds ``offset[a] + value``
    (``genlab.cond.prompts.attribute_ids``); a masked slot (the empty prompt) is ignored.
    """

    def __init__(self, sizes: Sequence[int], dim: int = 128):
        super().__init__()
        if not sizes or min(sizes) < 1:
            raise ConfigError(f"text: attribute sizes must be positive, got {list(sizes)}")
        self.sizes, self.dim = tuple(sizes), dim
        self.offsets = [sum(sizes[:a]) for a in range(len(sizes))]
        self.values = nn.Embedding(sum(sizes), dim)
        self.slots = nn.Parameter(torch.randn(len(sizes), dim) * 0.02)
        self.norm = nn.LayerNorm(dim)

    def encode_ids(self, ids: Tensor, mask: Tensor) -> TextEmbedding:
        x = self.norm(self.values(ids) + self.slots)  # (B, A, D)
        return TextEmbedding(x, mask, masked_mean(x, mask))


class TextConditioned(nn.Module):
    """``net`` reading prompts through a trainable encoder (word-level or attributes):
    ``cond["text_ids"]`` ``(B, L)`` and ``cond["text_mask"]`` become the states
    ``cond["text"]`` ``(B, L, D)`` before ``net(x, t, cond)`` runs. The encoder is
    ``text_encoder``; ``net`` is the network as it would be without text (a U-Net, or
    one in EDM's preconditioning)."""

    def __init__(self, net: nn.Module, encoder: nn.Module):
        super().__init__()
        self.net = net
        self.text_encoder = encoder

    def forward(self, x: Tensor, t: Tensor, cond: dict) -> Tensor:
        if "text_ids" in cond:
            e = self.text_encoder.encode_ids(cond["text_ids"], cond["text_mask"])
            cond = {k: v for k, v in cond.items() if k != "text_ids"}
            cond = {**cond, "text": e.states, "text_mask": e.mask}
        return self.net(x, t, cond)


@dataclass(frozen=True)
class Captions:
    """What a dataset with captions gives its text encoders: torch-free functions of its
    config (``genlab.data.configs``).

    Attributes:
        captions: every caption the data can hold, in ``cond["caption"]`` order (mixed
            radix over ``attributes``, the last attribute fastest); the caption cache.
        words: the sorted words of ``captions`` (the word encoder's vocabulary).
        attributes: the attributes a caption names, in that order.
        values: ``{attribute: its values}`` in label order.
    """

    captions: Callable[..., list[str]]
    words: Callable[..., tuple[str, ...]]
    attributes: tuple[str, ...]
    values: Callable[..., dict[str, tuple[str, ...]]]


# The data text conditioning trains on, by data name.
CAPTIONED = {
    "shapes": Captions(D.all_captions, D.caption_words, D.ATTRIBUTES, D.attribute_values),
    "moving-shapes": Captions(
        D.all_moving_captions,
        D.moving_caption_words,
        D.MOVING_ATTRIBUTES,
        D.moving_attribute_values,
    ),
}


def captions_spec(data_cfg) -> Captions:
    """The :class:`Captions` of the data ``data_cfg`` (``shapes``, ``moving-shapes``).

    Raises:
        ConfigError: data without captions.
    """
    name = getattr(data_cfg, "name", None)
    if name not in CAPTIONED:
        raise ConfigError(
            f"text.encoder: data '{getattr(data_cfg, 'name', data_cfg)}' has no captions; "
            f"text conditioning trains on {' or '.join(CAPTIONED)}"
        )
    return CAPTIONED[name]


def trained_text_encoder(tcfg, data_cfg) -> nn.Module | None:
    """The encoder a run with ``text.encoder`` words or attributes trains with its network
    (None for no text or a frozen encoder): built from the run's ``text`` and ``data``
    sections alone, so a saved run rebuilds it (``genlab.checkpoint.load_network``).

    Raises:
        ConfigError: data without captions (:func:`captions_spec`).
    """
    if tcfg.encoder not in ("words", "attributes"):
        return None
    spec = captions_spec(data_cfg)
    if tcfg.encoder == "attributes":
        names = spec.values(data_cfg)
        return AttributeEncoder([len(names[a]) for a in spec.attributes], tcfg.dim)
    vocab = spec.words(data_cfg)
    return WordTextEncoder(vocab, tcfg.dim, tcfg.depth, tcfg.heads, tcfg.length())
