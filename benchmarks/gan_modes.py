"""Mode coverage of GANs on 2-D mixtures, in the VEEGAN / PacGAN protocol.

For each recipe and seed: train (``genlab train RECIPE seed=S``), draw 2,500 points from
the EMA generator (point i from sampling seed 10**6 + i) and count modes captured, the
share of high-quality points (within 3 std of their nearest mode) and two reverse KLs to
uniform (``genlab.metrics.modes.protocol_stats``): the protocol's, of the high-quality
points' modes (PacGAN's code), comparable with the anchors, and the same over every
point's nearest mode. Prints the mean and std over seeds next to the published anchors
(PacGAN, Lin et al. 2018, Table 1; VEEGAN, Srivastava et al. 2017, Table 1). Data: the
built-in ring8 / grid25 mixtures.

    python benchmarks/gan_modes.py [--quick] [--seeds 5] [--recipes a,b] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

RECIPES = ("gan-ring8", "gan-grid25", "wgan-gp-grid25", "pacgan-grid25", "pacgan-mix-grid25")
ANCHORS = {
    "ring8": "VEEGAN T1: GAN 1.0 modes / 0.0% HQ (ring); VEEGAN 8.0 / 52.9%",
    "grid25": "PacGAN T1: GAN 17.3 modes / 94.2% / KL 0.70; PacGAN4 24.8 modes / KL 0.04",
}


def run(recipe: str, seed: int, overrides: list[str], root: Path) -> dict:
    from genlab.metrics.modes import protocol_stats
    from genlab.recipes import get_recipe
    from genlab.runs import draw, fit, load_model, override

    exp = override(get_recipe(recipe), [f"seed={seed}", "train.tensorboard=false", *overrides])
    tic = time.perf_counter()
    out = fit(exp, root / f"{recipe}-{seed}")
    secs = time.perf_counter() - tic
    exp, g = load_model(out, "ema")
    x = draw(g, exp, [10**6 + i for i in range(2500)], {}, exp.sampler)
    s = protocol_stats(x, exp.data.name)
    return {
        "modes": s["modes"],
        "hq": s["high_quality"],
        "kl": s["reverse_kl"],
        "kl_all": s["reverse_kl_all"],
        "s": secs,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 seed, 500 steps (smoke check)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first .. first+seeds-1")
    p.add_argument("--recipes", default=",".join(RECIPES))
    p.add_argument("--json", help="also write the per-seed results here")
    p.add_argument("overrides", nargs="*", help="key=value applied to every recipe")
    args = p.parse_args(argv)
    _machine.report()
    torch.set_num_threads(1)
    seeds = 1 if args.quick else args.seeds
    extra = ["train.steps=500"] if args.quick else []
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.recipes.split(","):
            rows = [
                run(recipe, s, extra + args.overrides, Path(tmp))
                for s in range(args.first_seed, args.first_seed + seeds)
            ]
            results[recipe] = rows
            print(f"{recipe}: {rows}", file=sys.stderr, flush=True)
    print(
        f"\nGAN mode coverage, 2,500 samples, {seeds} seed(s), mean (std); "
        f"overrides: {' '.join(extra + args.overrides) or 'none'}\n"
    )
    print("| recipe | modes | high quality % | reverse KL (HQ) | reverse KL (all) | train s/seed |")
    print("|---|---|---|---|---|---|")

    def ms(rows, key, scale=1.0):
        v = [r[key] * scale for r in rows]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        return f"{statistics.mean(v):.2f} ({sd:.2f})"

    for recipe, rows in results.items():
        cells = [ms(rows, "modes"), ms(rows, "hq", 100), ms(rows, "kl"), ms(rows, "kl_all")]
        secs = statistics.median(r["s"] for r in rows)
        print(f"| {recipe} | {' | '.join(cells)} | {secs:.0f} |")
    print()
    for k, v in ANCHORS.items():
        print(f"anchor {k}: {v}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
