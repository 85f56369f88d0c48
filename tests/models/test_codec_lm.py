"""The codec language models (genlab.models.codec_lm) and their samplers
(genlab.sampling.tokens): the delay pattern's closed form and inverse, causality of the
delayed and coarse transformers, the fine stage reading only the codebooks below its
level, cached = uncached generation, per-seed determinism and a tiny overfit."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import ConfigError
from genlab.models.codec_lm import CodecLM
from genlab.models.configs import CodecLMConfig
from genlab.sampling.tokens import (
    delay_pattern,
    delay_valid,
    generate,
    generate_delayed,
    generate_fine,
    undelay,
)

V, K, T = 8, 3, 6


def tiny(pattern: str, **kw) -> CodecLM:
    torch.manual_seed(0)
    cfg = CodecLMConfig(pattern=pattern, vocab_size=V, codebooks=K, frames=T, n_layer=2,
                        n_head=2, n_embd=16, num_classes=3, num_speakers=2, **kw)  # fmt: skip
    return CodecLM(cfg).eval()


def test_delay_pattern_closed_form_and_inverse():
    codes = torch.arange(1, 7).view(1, 2, 3)  # codebook 0: 1 2 3, codebook 1: 4 5 6
    seq = delay_pattern(codes, empty=9)
    assert seq.tolist() == [[[1, 2, 3, 9], [9, 4, 5, 6]]]
    assert torch.equal(undelay(seq), codes)
    c = torch.randint(0, V, (4, K, T))
    assert torch.equal(undelay(delay_pattern(c, V)), c)
    assert delay_valid(3, 2, 0).tolist() == [True, False, False]
    assert delay_valid(3, 2, 3).tolist() == [False, False, True]


@pytest.mark.parametrize("pattern", ["delay", "coarse_fine"])
def test_causal_transformer_reads_only_earlier_steps(pattern):
    m = tiny(pattern)
    s = T + K - 1 if pattern == "delay" else T
    x = torch.randint(0, V, (2, K if pattern == "delay" else 1, s))
    x = x if pattern == "delay" else x[:, 0]
    y = x.clone()
    y[..., 4:] = (y[..., 4:] + 1) % V  # change steps 4 onwards
    a, b = m.coarse(x, {}), m.coarse(y, {})
    torch.testing.assert_close(a[:, :5], b[:, :5])  # step 4 is predicted from steps < 4
    assert not torch.allclose(a[:, 5:], b[:, 5:])


def test_fine_stage_reads_only_lower_codebooks():
    m = tiny("coarse_fine")
    codes = torch.randint(0, V, (2, K, T))
    level = torch.tensor([1, 2])
    other = codes.clone()
    other[0, 1:] = (other[0, 1:] + 3) % V  # sample 0 predicts codebook 1: 1, 2 unseen
    other[1, 2] = (other[1, 2] + 3) % V  # sample 1 predicts codebook 2: 2 unseen
    torch.testing.assert_close(m.fine(codes, level, {}), m.fine(other, level, {}))
    lower = codes.clone()
    lower[1, 1] = (lower[1, 1] + 3) % V
    assert not torch.allclose(m.fine(codes, level, {})[1], m.fine(lower, level, {})[1])
    with pytest.raises(ValueError, match="levels"):
        m.fine(codes, torch.tensor([0, 1]), {})


def test_condition_keys_and_nulls():
    m = tiny("delay")
    seq = delay_pattern(torch.randint(0, V, (2, K, T)), V)
    full = m.coarse(seq, {"class": torch.tensor([3, 3]), "speaker": torch.tensor([2, 2])})
    torch.testing.assert_close(full, m.coarse(seq, {}))  # a missing label is its null row
    with pytest.raises(KeyError, match="digit"):
        m.coarse(seq, {"digit": torch.tensor([0, 1])})


def test_delayed_generation_cached_equals_uncached_and_is_per_seed():
    m = tiny("delay")
    cond = {"class": torch.tensor([0, 2]), "speaker": torch.tensor([1, 0])}
    kw = dict(empty=V, cfg=1.5, null_cond={"class": torch.tensor(3), "speaker": torch.tensor(2)})
    a = generate_delayed(m.coarse, T, [5, 6], cond, **kw)
    b = generate_delayed(m.coarse, T, [5, 6], cond, use_cache=False, **kw)
    assert a.shape == (2, K, T) and torch.equal(a, b)
    assert int(a.max()) < V  # empty cells are never drawn into the codes
    one = generate_delayed(m.coarse, T, [6], {k: v[1:] for k, v in cond.items()}, **kw)
    assert torch.equal(one[0], a[1])


def test_coarse_then_fine_generation():
    m = tiny("coarse_fine")
    coarse = generate(m.coarse, T, [1, 2], {})
    assert torch.equal(coarse, generate(m.coarse, T, [1, 2], {}, use_cache=False))
    codes = generate_fine(m.fine, coarse, K, [1, 2], {}, key=7)
    assert codes.shape == (2, K, T) and torch.equal(codes[:, 0], coarse)
    assert torch.equal(codes, generate_fine(m.fine, coarse, K, [1, 2], {}, key=7))


def test_config_errors():
    with pytest.raises(ConfigError, match="coarse_fine"):
        CodecLMConfig(pattern="coarse_fine", codebooks=1)
    with pytest.raises(ConfigError, match="model.pattern"):
        CodecLMConfig(pattern="flat")
    assert CodecLMConfig(codebooks=4, frames=128).steps() == 131


@pytest.mark.parametrize("pattern", ["delay", "coarse_fine"])
def test_tiny_overfit(pattern):
    m = tiny(pattern).train()
    codes = torch.randint(0, V, (4, K, T), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    f = torch.nn.functional.cross_entropy
    losses = []
    for i in range(60):
        if pattern == "delay":
            seq = delay_pattern(codes, V)
            logits = m(seq)  # (B, S, K, V)
            real = seq.transpose(1, 2) != V
            loss = f(logits[real], seq.transpose(1, 2)[real])
        else:
            level = torch.full((4,), 1 + i % (K - 1))
            c, fi = m(codes, {}, level)
            loss = f(c.flatten(0, 1), codes[:, 0].flatten()) + f(
                fi.flatten(0, 1), codes[torch.arange(4), level].flatten()
            )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.3 * losses[0], losses[::10]
