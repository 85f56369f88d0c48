"""Token samplers: next-token generation for causal models (with or without a KV cache)
and next-scale generation for VAR, with temperature, top-k, top-p (nucleus; Holtzman et
al. 2020), per-sample generators and classifier-free guidance on logits.

Guidance (Ho & Salimans 2022, on logits as in Chang et al. 2022 / Tian et al. 2024):
``l = (1 + w) l(cond) - w l(null)``, the same weight convention as the diffusion
sampler (``w = 0`` is unguided).

Sample ``i`` draws only from ``generators[i]`` (one uniform per token), so it depends on
its own seed, not on the batch it is drawn in.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlab.cond import cat_with_null
from genlab.rng import keyed


def filter_logits(logits: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Set logits outside the top ``k`` / the top-``p`` probability mass to -inf.

    logits ``(..., V)``. ``top_k = 0`` and ``top_p = 1`` keep everything; top-p keeps the
    smallest set of most likely tokens whose mass reaches ``p`` (at least one token).
    """
    if top_k and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, -1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_l, order = logits.sort(-1, descending=True)
        mass = sorted_l.softmax(-1).cumsum(-1)
        drop = mass - sorted_l.softmax(-1) >= top_p  # mass before this token already >= p
        drop = torch.zeros_like(drop).scatter(-1, order, drop)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_logits(
    logits: Tensor, generators: list, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
) -> Tensor:
    """One token per row and position: logits ``(B, ..., V)`` -> ``(B, ...)`` int64.

    Row ``b`` uses ``generators[b]`` only (uniforms for inverse-CDF sampling);
    ``temperature = 0`` is greedy (argmax).
    """
    if temperature == 0:
        return logits.argmax(-1)
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(-1)
    cdf = probs.cumsum(-1)
    rest = probs.shape[1:-1]
    u = torch.stack([torch.rand(rest, generator=g, dtype=torch.float64) for g in generators])
    u = (u.to(cdf.device) * cdf[..., -1].double()).float().unsqueeze(-1)
    return torch.searchsorted(cdf, u).squeeze(-1).clamp_max(logits.shape[-1] - 1)


def with_null(cond: dict, null_cond: dict, cfg: float) -> tuple[dict, bool]:
    """Condition for a batch doubled as ``[cond; null]`` when guidance is on, and
    whether it was doubled."""
    if not cfg or not cond:
        return cond, False
    doubled = cat_with_null(cond, null_cond)
    return doubled, True


def guide_logits(logits: Tensor, guided: bool, cfg: float) -> Tensor:
    """``(1 + w) l(cond) - w l(null)`` of doubled logits ``(2B, ...)`` -> ``(B, ...)``;
    the logits unchanged when not ``guided``."""
    if not guided:
        return logits
    c, u = logits.chunk(2)
    return (1 + cfg) * c - cfg * u


@torch.no_grad()
def generate(
    model,
    length: int,
    seeds: list[int],
    cond: dict | None = None,
    *,
    prefix: Tensor | None = None,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    cfg: float = 0.0,
    null_cond: dict | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Autoregressive sampling from a causal token model (``genlab.models.gpt``; a
    WaveNet's mu-law codes, ``genlab.models.wavenet``).

    Args:
        model: ``model(tokens, cond) -> (B, n, V)`` and, for ``use_cache``,
            ``model.new_cache(B)`` / ``model.step(new, cond, cache) -> (B, V)``.
        length: tokens per sample in the output (prefix included).
        seeds: one seed per sample; sample ``i`` draws from ``keyed(seeds[i])`` only.
        cond: conditioning dict of ``(B, ...)`` tensors (``{"class": (B,)}``) or None.
        prefix: ``(B, n0)`` tokens to continue from (default: none).
        temperature, top_k, top_p: see :func:`sample_logits`.
        cfg: guidance weight ``w`` on logits; needs ``null_cond`` (e.g. the null class).
        use_cache: keep keys/values (one position per step; a WaveNet: each layer's
            queue) instead of re-running the prefix every step (a model with a
            ``context``: its last ``context`` tokens); both give the same tokens.
    Returns:
        ``(B, length)`` int64 tokens.
    """
    b = len(seeds)
    device = next(model.parameters()).device
    gens = [keyed(s) for s in seeds]
    cond, guided = with_null(cond or {}, null_cond or {}, cfg)
    out = torch.zeros(b, 0, dtype=torch.int64, device=device) if prefix is None else prefix
    rep = 2 if guided else 1
    cache = model.new_cache(rep * b) if use_cache else None
    new = out
    while out.shape[1] < length:
        if cache is not None:
            logits = model.step(new.repeat(rep, 1), cond, cache)
        else:  # the whole prefix again (a model with a receptive field: its last codes)
            pad = torch.zeros(b, 1, dtype=torch.int64, device=device)
            window = out[:, -model.context :] if hasattr(model, "context") else out
            logits = model(torch.cat([window, pad], 1).repeat(rep, 1), cond)[:, -1]
        nxt = sample_logits(guide_logits(logits, guided, cfg), gens, temperature, top_k, top_p)
        new = nxt[:, None]
        out = torch.cat([out, new], 1)
    return out


@torch.no_grad()
def generate_scales(
    model,
    seeds: list[int],
    cond: dict | None = None,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    cfg: float = 0.0,
    null_cond: dict | None = None,
) -> Tensor:
    """Next-scale sampling from a VAR model (``genlab.models.var``): one forward pass per
    scale, every token of the scale drawn at once. Returns ``(B, N)`` int64 tokens."""
    b = len(seeds)
    scales = model.cfg.scales
    device = next(model.parameters()).device
    gens = [keyed(s) for s in seeds]
    cond, guided = with_null(cond or {}, null_cond or {}, cfg)
    rep = 2 if guided else 1
    tokens = torch.zeros(b, model.cfg.seq_len(), dtype=torch.int64, device=device)
    at = 0
    for s in scales:
        logits = model(tokens.repeat(rep, 1), cond)[:, at : at + s * s]
        tokens[:, at : at + s * s] = sample_logits(
            guide_logits(logits, guided, cfg), gens, temperature, top_k, top_p
        )
        at += s * s
    return tokens


# ------------------------------------------------------ codec tokens (K codebooks)


def delay_pattern(codes: Tensor, empty: int) -> Tensor:
    """MusicGen's delay interleaving (Copet et al. 2023, Sec. 2.2): ``codes (B, K, T)`` ->
    ``(B, K, T + K - 1)`` with codebook ``k`` shifted right by ``k`` steps; the cells
    before and after it hold ``empty``. Step ``s`` then holds codebook ``k`` of frame
    ``s - k``, so a frame's finer codes are predicted after its coarser ones."""
    b, k, t = codes.shape
    seq = codes.new_full((b, k, t + k - 1), empty)
    for i in range(k):
        seq[:, i, i : i + t] = codes[:, i]
    return seq


def undelay(seq: Tensor) -> Tensor:
    """Inverse of :func:`delay_pattern`: ``(B, K, S)`` -> ``(B, K, S - K + 1)``."""
    k = seq.shape[1]
    t = seq.shape[2] - k + 1
    return torch.stack([seq[:, i, i : i + t] for i in range(k)], 1)


def delay_valid(k: int, frames: int, step: int) -> Tensor:
    """``(K,)`` bool: which codebooks hold a real code at delay step ``step``."""
    i = torch.arange(k)
    return (step - i >= 0) & (step - i < frames)


@torch.no_grad()
def generate_delayed(
    model,
    frames: int,
    seeds: list[int],
    cond: dict | None = None,
    *,
    empty: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    cfg: float = 0.0,
    null_cond: dict | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Sample ``frames`` frames of ``K`` codebooks from a delay-pattern model
    (``genlab.models.codec_lm``: ``model(seq (B, K, S), cond) -> (B, S, K, V)`` and
    ``new_cache`` / ``step``): ``T + K - 1`` steps, each drawing the ``K`` tokens of one
    step at once; cells outside the pattern are set to ``empty``, never drawn. Guidance,
    filters and per-seed generators as :func:`generate`. Returns codes ``(B, K, T)``."""
    b = len(seeds)
    device = next(model.parameters()).device
    gens = [keyed(s) for s in seeds]
    cond, guided = with_null(cond or {}, null_cond or {}, cfg)
    rep = 2 if guided else 1
    k = model.streams
    seq = torch.zeros(b, k, 0, dtype=torch.int64, device=device)
    cache = model.new_cache(rep * b) if use_cache else None
    new = seq
    for s in range(frames + k - 1):
        if cache is not None:
            logits = model.step(new.repeat(rep, 1, 1), cond, cache)  # (rep B, K, V)
        else:
            pad = torch.zeros(b, k, 1, dtype=torch.int64, device=device)
            logits = model(torch.cat([seq, pad], 2).repeat(rep, 1, 1), cond)[:, -1]
        nxt = sample_logits(guide_logits(logits, guided, cfg), gens, temperature, top_k, top_p)
        nxt = torch.where(delay_valid(k, frames, s).to(device), nxt, torch.full_like(nxt, empty))
        new = nxt[..., None]
        seq = torch.cat([seq, new], 2)
    return undelay(seq)


@torch.no_grad()
def generate_fine(
    fine,
    coarse: Tensor,
    levels: int,
    seeds: list[int],
    cond: dict | None = None,
    *,
    key: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    cfg: float = 0.0,
    null_cond: dict | None = None,
) -> Tensor:
    """The fine stage of coarse-to-fine generation (VALL-E's non-autoregressive passes):
    from ``coarse (B, T)`` (codebook 0), draw codebook ``k = 1 .. levels - 1`` for every
    frame at once with ``fine(codes (B, k, T), level (B,), cond) -> (B, T, V)``. Sample
    ``i`` draws from ``keyed(seeds[i], key)``. Returns ``(B, levels, T)``."""
    b = len(seeds)
    gens = [keyed(s, key) for s in seeds]
    cond, guided = with_null(cond or {}, null_cond or {}, cfg)
    rep = 2 if guided else 1
    codes = coarse[:, None]
    for k in range(1, levels):
        level = torch.full((rep * b,), k, dtype=torch.int64, device=coarse.device)
        logits = fine(codes.repeat(rep, 1, 1), level, cond)
        nxt = sample_logits(guide_logits(logits, guided, cfg), gens, temperature, top_k, top_p)
        codes = torch.cat([codes, nxt[:, None]], 1)
    return codes
