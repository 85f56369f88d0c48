"""Tokens per second of KV-cached against uncached autoregressive generation.

Same model, same seeds, same run: ``genlab.sampling.tokens.generate`` with
``use_cache=True`` (one new position per step) and ``use_cache=False`` (the whole prefix
re-run every step). Medians over repeats, and their ratio; the two must give identical
tokens. The model is the ``vq-gpt-mnist`` transformer (49 tokens, as for 7x7 MNIST VQ
codes; weights from ``--run`` if given, else a seeded random init: speed does not depend
on the weights), plus the same width at 256 tokens. No data is read.

    python benchmarks/tokens_speed.py [--run runs/vq-gpt-mnist] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.models.gpt import GPT
from genlab.recipes import get_recipe
from genlab.sampling.tokens import generate


def timed(model, length, seeds, cond, null, use_cache, cfg) -> tuple[float, torch.Tensor]:
    tic = time.perf_counter()
    out = generate(model, length, seeds, cond, null_cond=null, cfg=cfg, use_cache=use_cache)
    return time.perf_counter() - tic, out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="a trained vq-gpt run (optional)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="2 repeats, batch 4, 49 tokens only")
    args = ap.parse_args(argv)
    _machine.report()
    if args.quick:
        args.repeats, args.batch = 2, 4
    torch.set_num_threads(args.threads)
    if args.run:
        from genlab.runs import load_model

        exp, model = load_model(args.run)
        base = exp.model
    else:
        base = get_recipe("vq-gpt-mnist").model
        model = None
    rows = []
    for n in (base.seq_len,) if args.quick else (base.seq_len, 256):
        if model is None or n != base.seq_len:
            torch.manual_seed(0)
            m = GPT(dataclasses.replace(base, seq_len=n)).eval()
        else:
            m = model
        seeds = list(range(args.batch))
        cond = {"class": torch.arange(args.batch) % base.num_classes}
        null = {"class": torch.tensor(base.num_classes)}
        for cfg in (0.0, 1.0):
            times = {True: [], False: []}
            outs = {}
            for _ in range(args.repeats):
                for use in (True, False):  # interleaved, so load changes hit both
                    dt, outs[use] = timed(m, n, seeds, cond, null, use, cfg)
                    times[use].append(dt)
            same = torch.equal(outs[True], outs[False])
            tps = {u: args.batch * n / statistics.median(t) for u, t in times.items()}
            rows.append((n, cfg, tps[True], tps[False], tps[True] / tps[False], same))
    print(
        "## Token generation speed: KV cache vs none (CPU, "
        f"{args.threads} thread(s), batch {args.batch}, median of {args.repeats})\n"
    )
    print(
        f"model: GPT {base.n_layer} layers, width {base.n_embd}, {base.n_head} heads, "
        f"vocab {base.vocab_size}; {'weights of ' + args.run if args.run else 'random init'}\n"
    )
    print("| tokens | cfg | cached tok/s | uncached tok/s | speed-up | identical tokens |")
    print("|---|---|---|---|---|---|")
    for n, cfg, a, b, r, same in rows:
        print(f"| {n} | {cfg:g} | {a:.0f} | {b:.0f} | {r:.2f}x | {same} |")


if __name__ == "__main__":
    main()
