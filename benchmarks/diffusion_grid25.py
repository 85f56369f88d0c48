"""Mode coverage on grid25 (VEEGAN / PacGAN protocol) of diffusion MLPs trained for at most
2 CPU-minutes (one torch thread; the budget is process CPU time, reported with wall time,
because on a shared machine wall time also counts other processes).

Data: the ``grid25`` loader (25 Gaussians on {-4,-2,0,2,4}^2, std 0.05, 50,000 points).
Metric: ``genlab.metrics.modes.protocol_stats`` on 2,500 samples (modes captured, share of
samples within 3 std of a mode, reverse KL to uniform over modes: of the high-quality
samples' modes as in the PacGAN protocol, and of every sample's nearest mode).
Target (issue 3): the ``rf-grid25`` recipe captures 25 modes with >= 95% high quality.

    python benchmarks/diffusion_grid25.py [--quick] [--recipes rf-grid25,ddpm-grid25]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.metrics.modes import protocol_stats
from genlab.recipes import get_recipe
from genlab.runs import draw, fit, load_model, override

N_SAMPLES = 2500


def run(recipe: str, quick: bool, tmp: Path, sets: list[str]) -> dict:
    extra = ["train.threads=1", "train.tensorboard=false", "train.sample_every=0", *sets]
    if quick:
        extra.append("train.steps=300")
    exp = override(get_recipe(recipe), extra)
    tic, cpu = time.perf_counter(), time.process_time()
    out = fit(exp, tmp / recipe)
    train_s, train_cpu = time.perf_counter() - tic, time.process_time() - cpu
    exp, model = load_model(out)
    tic = time.perf_counter()
    x = draw(model, exp, list(range(N_SAMPLES)), {}, exp.sampler)
    sample_s = time.perf_counter() - tic
    st = protocol_stats(x, "grid25")
    s = exp.sampler
    return {
        "recipe": recipe,
        "steps": exp.train.steps,
        "train_s": train_s,
        "train_cpu": train_cpu,
        "sampler": f"{s.name}/{s.grid} x{s.steps}",
        "sample_s": sample_s,
        **{k: st[k] for k in ("modes", "high_quality", "reverse_kl", "reverse_kl_all")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300 training steps (smoke check)")
    ap.add_argument("--recipes", default="rf-grid25", help="comma-separated recipes")
    ap.add_argument("--set", nargs="*", default=[], help="key=value overrides for every recipe")
    args = ap.parse_args()
    _machine.report()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in args.recipes.split(","):
            rows.append(run(r, args.quick, Path(tmp), args.set))
    print("\ngrid25 (data: loader grid25, 50,000 train points; 2,500 samples; 1 thread)\n")
    print(
        "| recipe | train steps | train CPU s | train wall s | sampler | sample s | modes "
        "| HQ % | rev. KL (HQ) | rev. KL (all) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['recipe']} | {r['steps']} | {r['train_cpu']:.1f} | {r['train_s']:.1f} | "
            f"{r['sampler']} | "
            f"{r['sample_s']:.1f} | {r['modes']}/25 | {100 * r['high_quality']:.1f} | "
            f"{r['reverse_kl']:.4f} | {r['reverse_kl_all']:.4f} |"
        )


if __name__ == "__main__":
    main()
