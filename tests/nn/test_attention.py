"""The one attention module: key masks (padding changes nothing, an all-padded row is
zero, not NaN), causality, KV-cached decoding equals the full forward, space-time modes
against an explicit softmax oracle, and bit-identical outputs to the classes it replaced
(copied below as they were) for DiT, GPT and VAR."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.dit import DiT, DiTConfig
from genlab.models.gpt import GPT, GPTConfig
from genlab.models.var import VAR, VARConfig
from genlab.nn.attention import (
    KVCache,
    MultiHeadAttention,
    apply_rope,
    attend,
    attend_space_time,
    rope_tables,
)


def oracle(q, k, v, allowed=None):
    """softmax(q k^T / sqrt(d)) v per head, in float64, with a bool (N, L) mask."""
    s = q.double() @ k.double().transpose(-1, -2) / math.sqrt(q.shape[-1])
    if allowed is not None:
        s = s.masked_fill(~allowed, -math.inf)
    return (s.softmax(-1) @ v.double()).to(q.dtype)


def heads(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g) for _ in range(3)]


# ------------------------------------------------------------------------ key masks


def test_cross_attention_ignores_padded_keys():
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4, context_dim=6).eval()
    x = torch.randn(3, 5, 16)
    ctx = torch.randn(3, 7, 6)
    lengths = [7, 4, 1]
    mask = torch.arange(7)[None] < torch.tensor(lengths)[:, None]  # (B, L)
    out = attn(x, ctx, key_mask=mask)
    for i, n in enumerate(lengths):  # the same as attending to the unpadded context alone
        alone = attn(x[i : i + 1], ctx[i : i + 1, :n])
        torch.testing.assert_close(out[i : i + 1], alone, rtol=1e-5, atol=1e-6)
    junk = torch.where(mask[..., None], ctx, torch.randn_like(ctx) * 100)
    torch.testing.assert_close(attn(x, junk, key_mask=mask), out, rtol=0, atol=1e-6)
    assert not torch.allclose(attn(x, junk), out, atol=1e-3)  # without the mask it matters


def test_self_attention_key_mask_and_all_masked_row():
    torch.manual_seed(1)
    attn = MultiHeadAttention(8, 2).eval()
    x = torch.randn(2, 6, 8)
    keep = torch.tensor([[1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=torch.bool)
    out = attn(x, key_mask=keep)
    y = x.clone()
    y[0, 4:] = torch.randn(2, 8)  # the padded tokens' own outputs change, no other
    torch.testing.assert_close(attn(y, key_mask=keep)[0, :4], out[0, :4], rtol=0, atol=1e-6)
    # every key of sample 1 is padding: its attention is zero, so the output is proj's bias
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[1], attn.proj.bias.expand(6, 8), rtol=0, atol=0)


def test_attend_matches_oracle_with_masks():
    q, k, v = heads(2, 3, 5, 4)
    allowed = torch.rand(5, 5, generator=torch.Generator().manual_seed(3)) > 0.4
    allowed[0] = False  # a row with nothing to see
    out = attend(q, k, v, attn_mask=allowed)
    want = oracle(q, k, v, allowed).nan_to_num(0.0)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-6)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    torch.testing.assert_close(attend(q, k, v, is_causal=True), oracle(q, k, v, causal))
    km = torch.tensor([[1, 1, 0, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    want = oracle(q, k, v, causal & km[:, None, None, :]).nan_to_num(0.0)
    torch.testing.assert_close(attend(q, k, v, key_mask=km, is_causal=True), want)


def test_bad_inputs_fail_clearly():
    with pytest.raises(ValueError, match="not divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="choose from"):
        MultiHeadAttention(8, 2, mode="axial")
    with pytest.raises(ValueError, match="self-attention only"):
        MultiHeadAttention(8, 2, context_dim=4, mode="factored")
    attn = MultiHeadAttention(8, 2)
    x = torch.randn(2, 4, 8)
    with pytest.raises(TypeError, match="boolean"):
        attn(x, key_mask=torch.ones(2, 4))
    with pytest.raises(ValueError, match="key_mask must be"):
        attn(x, key_mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="takes no context"):
        attn(x, torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match="needs a context"):
        MultiHeadAttention(8, 2, context_dim=4)(x)
    with pytest.raises(ValueError, match="frames"):
        MultiHeadAttention(8, 2, mode="spatial")(x, frames=3)
    cache = KVCache(2, 2, 5, 4, device="cpu", dtype=torch.float32)
    attn(x, cache=cache, is_causal=True)
    with pytest.raises(ValueError, match="KV cache holds 5"):
        attn(x[:, :2], cache=cache, is_causal=True)


# ------------------------------------------------------------------ causal and cache


def test_causal_output_does_not_depend_on_the_future():
    torch.manual_seed(2)
    attn = MultiHeadAttention(12, 3).eval()
    x = torch.randn(2, 7, 12)
    out = attn(x, is_causal=True)
    for t in range(6):
        y = x.clone()
        y[:, t + 1 :] = torch.randn_like(y[:, t + 1 :])
        b = attn(y, is_causal=True)
        torch.testing.assert_close(b[:, : t + 1], out[:, : t + 1], rtol=0, atol=0)
        assert not torch.allclose(b[:, t + 1 :], out[:, t + 1 :])


def test_kv_cached_incremental_equals_full_forward():
    torch.manual_seed(3)
    n, dim, h = 9, 16, 2
    attn = MultiHeadAttention(dim, h).eval()
    cos, sin = rope_tables(n, dim // h)
    x = torch.randn(3, n, dim)
    full = attn(x, is_causal=True, rope=(cos, sin))
    cache = KVCache(3, h, n, dim // h, device="cpu", dtype=torch.float32)
    outs, p = [], 0
    for m in (1, 3, 1, 1, 2, 1):  # single steps and multi-token chunks
        rope = (cos[p : p + m], sin[p : p + m])
        outs.append(attn(x[:, p : p + m], is_causal=True, rope=rope, cache=cache))
        p += m
    assert cache.pos == n
    torch.testing.assert_close(torch.cat(outs, 1), full, rtol=1e-5, atol=1e-6)


def test_rope_scores_depend_on_relative_position_only():
    cos, sin = rope_tables(12, 8)
    g = torch.Generator().manual_seed(4)
    q, k = torch.randn(8, generator=g), torch.randn(8, generator=g)

    def score(i, j):
        qi = apply_rope(q.view(1, 1, 1, 8), cos[i : i + 1], sin[i : i + 1])
        kj = apply_rope(k.view(1, 1, 1, 8), cos[j : j + 1], sin[j : j + 1])
        return float((qi * kj).sum())

    assert score(5, 2) == pytest.approx(score(9, 6), abs=1e-5)
    assert score(5, 2) != pytest.approx(score(5, 3), abs=1e-3)


# --------------------------------------------------------------------- space-time


@pytest.mark.parametrize("mode", ["full", "factored", "spatial", "temporal"])
def test_space_time_modes_match_the_oracle(mode):
    t, s, d = 3, 4, 5
    q, k, v = heads(2, 2, t * s, d, seed=5)
    frame = torch.arange(t * s) // s
    pos = torch.arange(t * s) % s
    same_frame = frame[:, None] == frame[None]
    same_pos = pos[:, None] == pos[None]
    out = attend_space_time(q, k, v, t, mode)
    if mode == "full":
        want = oracle(q, k, v)
    elif mode == "spatial":
        want = oracle(q, k, v, same_frame)
    elif mode == "temporal":
        want = oracle(q, k, v, same_pos)
    else:  # temporal attention of the spatially attended values, same q and k
        want = oracle(q, k, oracle(q, k, v, same_frame), same_pos)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-6)


def test_factored_equals_full_for_one_frame_and_not_otherwise():
    torch.manual_seed(6)
    full = MultiHeadAttention(16, 4).eval()
    fact = MultiHeadAttention(16, 4, mode="factored").eval()
    fact.load_state_dict(full.state_dict())  # same keys and weights in every mode
    x = torch.randn(2, 9, 16)
    torch.testing.assert_close(fact(x, frames=1), full(x), rtol=1e-6, atol=1e-6)
    assert not torch.allclose(fact(x, frames=3), full(x), atol=1e-4)


def test_dit_video_attention_modes():
    cfg = DiTConfig(in_channels=2, image_size=4, dims=3, patch=2, hidden=16, depth=1, heads=2)
    torch.manual_seed(7)
    m = DiT(cfg)
    for p in m.parameters():  # leave adaLN-Zero so attention shows in the output
        nn.init.normal_(p, std=0.2)
    x, t = torch.randn(2, 2, 4, 4, 4), torch.rand(2)
    full = m(x, t)
    for blk in m.blocks:
        blk.attn.mode = "factored"
    fact = m(x, t)
    assert fact.shape == full.shape and not torch.allclose(fact, full, atol=1e-4)
    from genlab.errors import ConfigError

    with pytest.raises(ConfigError, match="model.attention"):
        DiTConfig(attention="factored")  # dims=2
    with pytest.raises(ConfigError, match="model.attention"):
        DiTConfig(dims=3, attention="axial")


# ------------------------------------------- identical to the replaced classes (copies)


class OldTransformerSelfAttention(nn.Module):
    """genlab.nn.transformer.SelfAttention as it was (used by DiT)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, frames=1):  # frames: the new call signature, unused here
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)
        return self.proj(a.transpose(1, 2).reshape(b, n, d))


class OldKVCache:
    def __init__(self, n_layer, b, h, length, d, device, dtype):
        shape = (b, h, length, d)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        self.pos = 0


class OldGPTSelfAttention(nn.Module):
    """genlab.models.gpt.SelfAttention as it was (used by GPT and VAR)."""

    def __init__(self, dim, heads, dropout=0.0):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, rope=None, mask=None, cache=None, layer=0):
        b, m, c = x.shape
        q, k, v = self.qkv(x).view(b, m, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        causal = mask is None
        if cache is not None:
            p = cache.pos
            cache.k[layer][:, :, p : p + m] = k
            cache.v[layer][:, :, p : p + m] = v
            k, v = cache.k[layer][:, :, : p + m], cache.v[layer][:, :, : p + m]
            if p > 0 and m > 1:
                mask = torch.ones(m, p + m, dtype=torch.bool, device=x.device).tril(p)
            causal = mask is None and m > 1
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=drop, is_causal=causal
        )
        return self.proj(a.transpose(1, 2).reshape(b, m, c))


class OldGPTAdapter(OldGPTSelfAttention):
    """The old module called with the new keyword signature (no cache: full forward)."""

    def forward(self, x, *, attn_mask=None, is_causal=False, rope=None, cache=None):
        assert cache is None and is_causal == (attn_mask is None)
        return super().forward(x, rope, attn_mask)


def _swap_attention(model: nn.Module, make) -> nn.Module:
    for blk in model.blocks:
        old = make()
        old.load_state_dict(blk.attn.state_dict())
        blk.attn = old
    return model


def test_dit_output_is_bit_identical_to_the_old_attention():
    torch.manual_seed(8)
    m = DiT(DiTConfig(image_size=8, patch=2, hidden=32, depth=2, heads=4, num_classes=3))
    for p in m.parameters():
        nn.init.normal_(p, std=0.3)
    x, t = torch.randn(3, 1, 8, 8), torch.rand(3)
    cond = {"class": torch.tensor([0, 1, 3])}
    new = m(x, t, cond)
    keys = list(m.state_dict())
    old = _swap_attention(m, lambda: OldTransformerSelfAttention(32, 4))(x, t, cond)
    assert list(m.state_dict()) == keys and "blocks.0.attn.qkv.weight" in keys
    assert torch.equal(new, old)


def test_gpt_and_var_outputs_are_bit_identical_to_the_old_attention():
    torch.manual_seed(9)
    g = GPT(GPTConfig(vocab_size=11, seq_len=9, n_layer=2, n_head=2, n_embd=16, num_classes=3))
    g.eval()
    tok = torch.randint(0, 11, (4, 9))
    cond = {"class": torch.tensor([0, 1, 2, 3])}
    new = g(tok, cond)
    cache = g.new_cache(4)
    new_steps = [g.step(tok[:, :0], cond, cache), g.step(tok[:, :4], cond, cache)]
    new_steps.append(g.step(tok[:, 4:5], cond, cache))
    _swap_attention(g, lambda: OldGPTAdapter(16, 2))
    assert torch.equal(g(tok, cond), new)
    # the old cached path, layer by layer, through the old module and its old cache
    old_cache = OldKVCache(2, 4, 2, 9, 8, "cpu", torch.float32)

    def old_step(new_tok):
        h = g.tok(new_tok)
        if old_cache.pos == 0:
            h = torch.cat([g._start(cond, 4, tok.device), h], 1)
        p, m = old_cache.pos, h.shape[1]
        rope = (g.cos[p : p + m], g.sin[p : p + m])
        for i, blk in enumerate(g.blocks):
            h = h + OldGPTSelfAttention.forward(blk.attn, blk.ln1(h), rope, None, old_cache, i)
            h = h + blk.mlp(blk.ln2(h))
        old_cache.pos += m
        return g.head(g.ln_f(h))[:, -1]

    old_steps = [old_step(tok[:, :0]), old_step(tok[:, :4]), old_step(tok[:, 4:5])]
    for a, b in zip(new_steps, old_steps):
        assert torch.equal(a, b)

    torch.manual_seed(10)
    cfg = VARConfig(vocab_size=12, code_dim=4, scales=(1, 2, 3), n_layer=2, n_head=2, n_embd=16)
    v = VAR(cfg).eval()
    v.set_codebook(torch.randn(12, 4))
    t = torch.randint(0, 12, (2, 14))
    new = v(t)
    assert torch.equal(_swap_attention(v, lambda: OldGPTAdapter(16, 2))(t), new)
