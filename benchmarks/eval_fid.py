"""FID with genlab's MNIST classifier: feature throughput, end-to-end time of a 10k-sample
FID, the floor between two halves of MNIST, and the gap to upscaled ``digits``.

Data: the 10,000 official MNIST test images (``../shared/data/mnist``); the classifier
was trained on [0, 8000) (``genlab train eval-mnist-classifier``), trained here first if
missing. The Inception row uses *random* weights (the real file cannot be fetched
offline): its throughput is the real network's, its FIDs would be meaningless.
Times are medians of ``--repeats`` runs on this machine (shared CPU: noisy).

    python benchmarks/eval_fid.py [--quick] [--runs runs] [--mnist-root DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import DATASETS, build_dataset
from genlab.evaluate import ensure_classifier
from genlab.metrics.features import get_extractor
from genlab.metrics.fid import fid_from_features, frechet_distance, gaussian_stats
from genlab.metrics.kid import kid
from genlab.metrics.prdc import precision_recall

# ../shared/data/mnist beside the repository (or beside a parent, for git worktrees)
SHARED = next(
    (q / "shared/data/mnist" for q in Path(__file__).resolve().parents if (q / "shared").is_dir()),
    Path("../shared/data/mnist"),
)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        tic = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--runs", default="runs")
    p.add_argument("--mnist-root", default=str(SHARED))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    _machine.report()
    torch.manual_seed(0)
    run = ensure_classifier(
        "mnist", Path(args.runs) / "eval-mnist-classifier", [f"data.root={args.mnist_root}"]
    )
    ext = get_extractor("mnist", path=run)
    mnist = build_dataset(DATASETS["mnist"].config(root=args.mnist_root, split="test")).x
    digits = build_dataset(DATASETS["digits"].config(image_size=28)).x  # bilinear upscale
    n = 2000 if args.quick else 10_000
    reps = 1 if args.quick else args.repeats
    print(f"extractor {ext.fingerprint}; torch threads {torch.get_num_threads()}")

    # Throughput of feature extraction.
    t_mnist, _ = timed(lambda: ext.features(mnist[:n]), reps)
    inc = get_extractor("inception-random")
    k = 8 if args.quick else 32
    t_inc, _ = timed(lambda: inc.features(mnist[:k]), 1)

    # End to end: n samples -> features -> float64 stats -> Frechet distance against
    # cached reference stats (the held-out 2,000), as `genlab eval` does.
    ref = ext.features(mnist[8000:]).numpy()
    mu_r, s_r = gaussian_stats(ref)

    def fid_end_to_end():
        f = ext.features(mnist[:n]).numpy()
        return frechet_distance(mu_r, s_r, *gaussian_stats(f))

    t_fid, _ = timed(fid_end_to_end, reps)

    # Floors and gaps.
    half = len(mnist) // 2
    fa, fb = ext.features(mnist[:half]).numpy(), ext.features(mnist[half:]).numpy()
    fd = ext.features(digits).numpy()
    perm = torch.randperm(len(mnist), generator=torch.Generator().manual_seed(0))
    fall = torch.cat([torch.from_numpy(fa), torch.from_numpy(fb)]).numpy()
    pairs = {
        "MNIST random halves (5000 vs 5000)": (fall[perm[:half]], fall[perm[half:]]),
        "MNIST [0,5000) vs [5000,10000)": (fa, fb),
        "MNIST [8000,10000) vs [0,2000)": (ref, ext.features(mnist[:2000]).numpy()),
        "MNIST [0,5000) vs digits 28x28 (1797)": (fa, fd),
    }
    print("\n| quantity | value |\n|---|---|")
    print(f"| MNIST classifier features, images/s (n={n}) | {n / t_mnist:,.0f} |")
    print(f"| FID InceptionV3 (random weights) features, images/s (n={k}) | {k / t_inc:,.2f} |")
    print(f"| ratio classifier / Inception throughput | {(n / t_mnist) / (k / t_inc):,.0f}x |")
    print(f"| end-to-end {n}-sample FID, cached reference stats (s) | {t_fid:.2f} |")
    print(f"| Inception 10k-sample FID, extrapolated (s) | {10_000 / (k / t_inc):,.0f} |")
    print("\n| pair | FID | KID (x1e3) | precision | recall |\n|---|---|---|---|---|")
    for name, (a, b) in pairs.items():
        f = fid_from_features(a, b)
        kd, ks = kid(a, b, subsets=20 if args.quick else 100)
        pr = precision_recall(a[:2000], b[:2000])
        print(
            f"| {name} | {f:.3f} | {1e3 * kd:.2f} +- {1e3 * ks:.2f} | "
            f"{pr['precision']:.3f} | {pr['recall']:.3f} |"
        )
    print("\nprecision/recall on the first 2,000 of each set; KID 100 subsets of 1,000.")
    print("MNIST's test set is not exchangeable: its first 5,000 images come from other")
    print("writers than its last 5,000, and the classifier saw [0, 8000) in training.")


if __name__ == "__main__":
    main()
