"""GPT over tokens: teacher-forcing logits equal cached step-by-step logits, causality,
and a loss that falls on a tiny overfit."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.models.gpt import GPT, GPTConfig


def tiny(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, seq_len=9, n_layer=2, n_head=2, n_embd=16, **kw)).eval()


def test_cached_steps_match_teacher_forcing():
    model = tiny(num_classes=3)
    tokens = torch.randint(0, 11, (4, 9))
    cond = {"class": torch.tensor([0, 1, 2, 3])}  # 3 is the null class
    full = model(tokens, cond)  # (4, 9, 11)
    cache = model.new_cache(4)
    steps = [model.step(tokens[:, :0], cond, cache)]
    steps += [model.step(tokens[:, i : i + 1], cond, cache) for i in range(8)]
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-5)
    # a multi-token prefill after the start, then single steps
    cache = model.new_cache(4)
    model.step(tokens[:, :0], cond, cache)
    a = model.step(tokens[:, :5], cond, cache)
    torch.testing.assert_close(a, full[:, 5], atol=1e-5, rtol=1e-5)


def test_causal_and_conditioned():
    model = tiny(num_classes=2)
    t = torch.randint(0, 11, (2, 9))
    u = t.clone()
    u[:, 6] = (u[:, 6] + 1) % 11
    cond = {"class": torch.tensor([0, 1])}
    a, b = model(t, cond), model(u, cond)
    torch.testing.assert_close(a[:, :7], b[:, :7])  # positions <= 6 never see token 6
    assert not torch.allclose(a[:, 7:], b[:, 7:])
    c = model(t, {"class": torch.tensor([1, 0])})
    assert not torch.allclose(a, c)


def test_loss_falls_on_tiny_overfit():
    model = tiny().train()
    data = torch.randint(0, 11, (8, 9), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = F.cross_entropy(model(data).transpose(1, 2), data)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 2.0 and loss.item() < 0.5 * first  # log(11) = 2.40 at the start
