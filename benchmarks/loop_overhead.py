"""Samples/s of the genlab training loop against a bare PyTorch loop.

Both train the same network on the same data with the same loss (rectified flow), the
same gradient clipping (the recipe's ``train.grad_clip``) and the same fused AdamW, and
both are timed from building the data and the network to the last step. The bare loop
does only forward / backward / clip / step. genlab adds what a real run needs: LR
schedule, EMA, keyed randomness, per-t loss bins,
metrics.jsonl (at the recipe's log_every) and one checkpoint at the end (TensorBoard and
sample pictures off). Each side runs ``--repeats`` times, alternating; the table reports
medians and the ratio (target >= 0.9).

    python benchmarks/loop_overhead.py [--steps 200] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import build_dataset
from genlab.models import build_model
from genlab.recipes import get_recipe
from genlab.runs import fit, override

CASES = {
    # name: (recipe, overrides)
    "unet/digits": ("rf-digits", []),
    "mlp/grid25": ("rf-grid25", []),
}


def quiet(exp, steps: int):
    return override(
        exp,
        [
            f"train.steps={steps}",
            "train.tensorboard=false",
            "train.sample_every=0",
            f"train.ckpt_every={steps}",
            "train.warmup_steps=10",
            "train.num_samples=1",
            "sampler.steps=1",
        ],
    )


def bare(exp, steps: int) -> float:
    """A plain loop: shuffle, index, noise, forward, MSE, backward, clip, AdamW. Timed like
    ``fit``: from building the data and the network to the last step."""
    tic = time.perf_counter()
    data = build_dataset(exp.data)
    torch.manual_seed(0)
    model = build_model(exp.model)
    # The same optimizer genlab builds (fused AdamW), so the ratio measures the loop alone.
    opt = torch.optim.AdamW(model.parameters(), lr=exp.train.lr, fused=True)
    b = exp.train.batch_size
    g = torch.Generator().manual_seed(0)
    perm, pos = torch.randperm(len(data), generator=g), 0
    for _ in range(steps):
        if pos + b > len(data):
            perm, pos = torch.randperm(len(data), generator=g), 0
        batch = data.batch(perm[pos : pos + b])
        pos += b
        x = batch["x"]
        t = torch.rand(len(x), generator=g)
        eps = torch.randn(x.shape, generator=g)
        tb = t.view(-1, *([1] * (x.ndim - 1)))
        pred = model((1 - tb) * x + tb * eps, t, batch["cond"] if exp.model.num_classes else {})
        loss = (pred - (eps - x)).pow(2).mean()
        loss.backward()
        if exp.train.grad_clip > 0:  # the recipe's step clips: the bare step does too
            torch.nn.utils.clip_grad_norm_(model.parameters(), exp.train.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * b / (time.perf_counter() - tic)


def genlab_loop(exp, steps: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        tic = time.perf_counter()
        fit(exp, Path(d))
        return steps * exp.train.batch_size / (time.perf_counter() - tic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="30 steps x 1 repeat (smoke check)")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    args = ap.parse_args()
    _machine.report()
    if args.quick:
        args.steps, args.repeats = 30, 1
        torch.set_num_threads(1)  # 2 threads on a 2-core machine swing with any other job
        print(
            "QUICK SMOKE RUN (30 steps, 1 repeat): checks that the script works; its ratios "
            "swing 0.3-1.0 with the load and are not a measurement (run without --quick)"
        )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.steps} steps x {args.repeats} repeats (medians)"
    )
    print("\n| case | bare samples/s | genlab samples/s | ratio |\n|---|---:|---:|---:|")
    for name in args.cases.split(","):
        recipe, ov = CASES[name]
        exp = quiet(override(get_recipe(recipe), ov), args.steps)
        bare(exp, 5)  # warm-up
        b, g = [], []
        for _ in range(args.repeats):
            b.append(bare(exp, args.steps))
            g.append(genlab_loop(exp, args.steps))
        mb, mg = statistics.median(b), statistics.median(g)
        print(f"| {name} | {mb:.0f} | {mg:.0f} | {mg / mb:.3f} |", flush=True)


if __name__ == "__main__":
    main()
