"""Held-out accuracy of the domain classifiers behind genlab's metrics.

- mnist: trained on MNIST test images [0, 8000), scored on [8000, 10000);
- digits: trained on the ``digits`` train split, scored on its test split (20%, seed 0);
- shapes: trained on ``shapes`` seed 0 (10,000 images), scored per attribute on a fresh
  draw (seed 1, 2,000 images);
- fsdd: the spoken-digit classifier, trained on takes 5-49 of the Free Spoken Digit
  Dataset, scored (digit and speaker heads) on takes 0-4 (300 clips);
- moving-mnist: the 3-D CNN behind FVD, scored on 1,000 held-out clips (digits from
  MNIST test images [8000, 10000)); its heads are multi-label (which digits, which
  directions): the accuracy of each of the head's yes/no labels (logit > 0), and in
  brackets the fraction of clips whose whole set is right;
- moving-mnist-small: the same on one 14x14 digit in a 32x32 canvas (the FVD features
  of the ``dit-*-moving-mnist-small`` runs);
- moving-shapes: the text-to-video judge, scored per attribute on a fresh draw (seed 1,
  1,000 clips).

Classifiers missing from ``--runs`` (default ``runs/``) are trained first with their
recipes (``genlab train eval-<name>-classifier``). ``--quick`` scores 500 images each.

    python benchmarks/eval_classifiers.py [--quick] [--runs runs] [--mnist-root DIR]
        [--only mnist,digits,shapes,fsdd,moving-mnist,moving-mnist-small,moving-shapes]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import DATASETS, build_dataset
from genlab.evaluate import ensure_classifier
from genlab.metrics.features import get_extractor
from genlab.recipes import get_recipe

# ../shared/data/mnist beside the repository (or beside a parent, for git worktrees)
SHARED = next(
    (q / "shared/data/mnist" for q in Path(__file__).resolve().parents if (q / "shared").is_dir()),
    Path("../shared/data/mnist"),
)


def heldout(name: str, mnist_root: str):
    if name == "mnist":
        cfg = DATASETS["mnist"].config(root=mnist_root, split="test", start=8000)
        return cfg, "MNIST test [8000, 10000)"
    if name == "digits":
        return DATASETS["digits"].config(split="test"), "digits test split"
    if name == "fsdd":
        return DATASETS["fsdd"].config(split="test"), "fsdd takes 0-4"
    if name == "moving-mnist":
        cfg = DATASETS["moving-mnist"].config(root=mnist_root, split="test", n=1000)
        return cfg, "moving-mnist test split, 1,000 clips"
    if name == "moving-mnist-small":  # the classifier's own clips, held out
        train = get_recipe("eval-moving-mnist-small-classifier").data
        cfg = dataclasses.replace(train, root=mnist_root, split="test", n=1000)
        return cfg, "moving-mnist (one digit, 32x32) test split, 1,000 clips"
    if name == "moving-shapes":
        return DATASETS["moving-shapes"].config(seed=1, n=1000), "moving-shapes seed 1, n 1000"
    return DATASETS["shapes"].config(seed=1, n=2000), "shapes seed 1, n 2000"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--runs", default="runs")
    p.add_argument("--mnist-root", default=str(SHARED))
    p.add_argument("--only", default="mnist,digits,shapes,fsdd", help="classifiers to score")
    args = p.parse_args()
    _machine.report()
    rows = []
    for name in args.only.split(","):
        ov = [f"data.root={args.mnist_root}"] if name.startswith(("mnist", "moving-mnist")) else []
        tic = time.perf_counter()
        run = ensure_classifier(name, Path(args.runs) / f"eval-{name}-classifier", ov)
        ext = get_extractor(name, path=run)
        cfg, desc = heldout(name, args.mnist_root)
        data = build_dataset(cfg)
        n = 500 if args.quick else len(data)
        logits = ext.all_logits(data.x[:n])
        for head, z in logits.items():
            y = data.cond[head][:n]
            if y.ndim == 2:  # a multi-label head: the set of classes in each clip
                want = torch.zeros_like(z).scatter_(1, y, 1.0)
                right = (z > 0).float() == want
                acc = right.float().mean().item()
                head = f"{head} (whole set {100 * right.all(1).float().mean().item():.1f}%)"
            else:
                acc = (z.argmax(1) == y).float().mean().item()
            rows.append((name, head, desc, n, acc, ext.fingerprint))
        print(f"{name}: {time.perf_counter() - tic:.1f} s (incl. training if it was missing)")
    print("\n| classifier | head | held-out set | n | accuracy | fingerprint |")
    print("|---|---|---|---|---|---|")
    for name, head, desc, n, acc, fp in rows:
        print(f"| {name} | {head} | {desc} | {n} | {100 * acc:.2f}% | `{fp}` |")


if __name__ == "__main__":
    main()
