"""GANs on MNIST-like images: Stacked MNIST mode coverage and FID with MNIST-classifier
features.

- Stacked MNIST (digits from MNIST test images [0, 8000)): train, draw 26,000 samples
  (sample i from seed 10**6 + i), classify each channel with genlab's MNIST classifier
  (``genlab.metrics.stacked``) and report modes covered of 1,000 and KL(p || uniform).
  Anchors: PacGAN (Lin et al. 2018) Table 3 / VEEGAN Table 2: DCGAN 99 modes / KL 3.40;
  PacDCGAN2 1000 / 0.06; PacDCGAN4 1000 / 0.07.
- FID: 2,000 samples against the 2,000 held-out MNIST test images [8000, 10000), both
  embedded by the MNIST classifier's penultimate features (``genlab.metrics.features``).
  The floor, FID between MNIST [0, 2000) and the held-out set, is printed too.

    python benchmarks/gan_images.py [--quick] [--classifier RUN] [--mnist DIR]
        [--recipes a,b] [--steps N] [--seed S] [key=value ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

STACKED = ("dcgan-stacked-mnist", "pacdcgan-stacked-mnist", "dcgan-mbstd-stacked-mnist")
FID = ("dcgan-mnist", "stylegan-mnist")


def train(recipe: str, root: Path, mnist: str, extra: list[str]):
    from genlab.recipes import get_recipe
    from genlab.runs import fit, load_model, override

    ov = [f"data.root={mnist}", "train.tensorboard=false", "train.sample_every=0", *extra]
    tic = time.perf_counter()
    out = fit(override(get_recipe(recipe), ov), root / recipe)
    secs = time.perf_counter() - tic
    exp, g = load_model(out, "ema")
    return exp, g, secs


@torch.no_grad()
def draw(g, exp, n: int, chunk: int = 1000) -> torch.Tensor:
    from genlab.families import family_of

    task = family_of("gan")
    parts = []
    for s in range(0, n, chunk):
        seeds = [10**6 + i for i in range(s, min(n, s + chunk))]
        parts.append(task.sample(g, exp, seeds, {}, exp.sampler))
    return torch.cat(parts)


def main(argv: list[str] | None = None) -> int:
    from genlab.data import build_dataset
    from genlab.data.mnist import MNISTConfig
    from genlab.evaluate import ensure_classifier
    from genlab.metrics.features import get_extractor
    from genlab.metrics.fid import fid_from_features
    from genlab.metrics.stacked import stacked_mnist_stats

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="50 steps, fewer samples")
    p.add_argument("--classifier", default="runs/eval-mnist-classifier")
    p.add_argument("--mnist", default="../shared/data/mnist")
    p.add_argument("--recipes", default=",".join(STACKED + FID))
    p.add_argument("--steps", type=int, default=0, help="override train.steps (0: recipe's)")
    p.add_argument("--seed", type=int, default=0, help="training seed of every recipe")
    p.add_argument("overrides", nargs="*", help="key=value applied to every recipe")
    args = p.parse_args(argv)
    _machine.report()
    torch.set_num_threads(1)
    steps = 50 if args.quick else args.steps
    extra = ([f"train.steps={steps}"] if steps else []) + [f"seed={args.seed}", *args.overrides]
    n_stacked, n_fid = (2000, 500) if args.quick else (26_000, 2000)
    ext = get_extractor("mnist", path=ensure_classifier("mnist", args.classifier))
    held = build_dataset(MNISTConfig(root=args.mnist, split="test", start=8000, stop=10000))
    f_held = ext.features(held.x[:n_fid])
    train_x = build_dataset(MNISTConfig(root=args.mnist, split="test", start=0, stop=n_fid)).x
    floor = fid_from_features(f_held, ext.features(train_x))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.recipes.split(","):
            exp, g, secs = train(recipe, Path(tmp), args.mnist, extra)
            if recipe in STACKED:
                s = stacked_mnist_stats(draw(g, exp, n_stacked), ext.logits)
                row = (recipe, exp.train.steps, f"{s['modes']} / 1000", f"KL {s['kl']:.3f}")
            else:
                fid = fid_from_features(f_held, ext.features(draw(g, exp, n_fid)))
                row = (recipe, exp.train.steps, f"FID {fid:.2f}", f"floor {floor:.2f}")
            rows.append((*row, f"{secs:.0f}"))
            print(rows[-1], file=sys.stderr, flush=True)
    print(f"\nGANs on MNIST test [0, 8000); Stacked MNIST: {n_stacked} samples; FID: {n_fid} "
          f"samples vs held-out [8000, 10000), MNIST-classifier features\n")  # fmt: skip
    print("| recipe | steps | result | reference | train s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print("\nanchors: DCGAN 99 modes / KL 3.40; PacDCGAN2 1000 / KL 0.06 (PacGAN Table 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
