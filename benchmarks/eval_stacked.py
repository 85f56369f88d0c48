"""Stacked MNIST counting with genlab's MNIST classifier on *real* stacked digits.

Builds 26,000 Stacked MNIST images (the protocol's sample count) whose three channels are
held-out MNIST test digits [8000, 10000) drawn uniformly at random (seed 0), so every one
of the 1,000 modes is present, with known labels. Reports the modes the classifier counts,
KL(mode histogram || uniform) in nats next to the same figure for the true labels (the
floor a perfect generator reaches with this many samples), and the fraction of stacked
images whose mode is read correctly. A collapsed "generator" (one fixed triple) must
count 1 mode, KL = log 1000.

    python benchmarks/eval_stacked.py [--quick] [--runs runs] [--mnist-root DIR]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import DATASETS, build_dataset
from genlab.evaluate import ensure_classifier
from genlab.metrics.features import get_extractor
from genlab.metrics.stacked import mode_histogram_stats, stacked_mnist_stats, stacked_modes

SHARED = next(
    (q / "shared/data/mnist" for q in Path(__file__).resolve().parents if (q / "shared").is_dir()),
    Path("../shared/data/mnist"),
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--runs", default="runs")
    p.add_argument("--mnist-root", default=str(SHARED))
    args = p.parse_args()
    _machine.report()
    run = ensure_classifier(
        "mnist", Path(args.runs) / "eval-mnist-classifier", [f"data.root={args.mnist_root}"]
    )
    ext = get_extractor("mnist", path=run)
    held = build_dataset(DATASETS["mnist"].config(root=args.mnist_root, split="test", start=8000))
    n = 2600 if args.quick else 26_000
    idx = torch.randint(len(held), (n, 3), generator=torch.Generator().manual_seed(0))
    x = held.x[idx][:, :, 0]  # (n, 3, 28, 28): channel c holds digit idx[:, c]
    y = held.cond["class"][idx]
    true_modes = y[:, 0] * 100 + y[:, 1] * 10 + y[:, 2]
    tic = time.perf_counter()
    got = stacked_modes(x, ext.logits)
    dt = time.perf_counter() - tic
    s = mode_histogram_stats(got)
    t = mode_histogram_stats(true_modes)
    one = stacked_mnist_stats(x[:1].expand(500, -1, -1, -1), ext.logits)
    print(f"extractor {ext.fingerprint}; held-out MNIST [8000, 10000); n = {n}")
    print("\n| quantity | classifier | true labels |\n|---|---|---|")
    print(f"| modes covered (of 1000) | {s['modes']} | {t['modes']} |")
    print(f"| KL(histogram \\|\\| uniform), nats | {s['kl']:.4f} | {t['kl']:.4f} |")
    print(f"| stacked images read correctly | {(got == true_modes).float().mean():.4f} | 1 |")
    print(f"| collapsed generator: modes, KL | {one['modes']}, {one['kl']:.4f} | 1, "
          f"{math.log(1000):.4f} |")  # fmt: skip
    print(f"| classification time, s ({3 * n} digits) | {dt:.1f} | |")


if __name__ == "__main__":
    main()
