"""FID of VAE / VQ-GPT / VAR samples and reconstruction PSNR of the KL and VQ autoencoders.

FID uses the MNIST classifier features of ``genlab.metrics`` (``--extractor``, a run of
``genlab train eval-mnist-classifier``) against the held-out MNIST test images
[8000, 10000). The peer in the same run is the FID of real training images [0, N) against
the same held-out set: the floor a perfect model would reach at this sample size.
Class-conditional runs sample the ten classes equally, at the run's own sampler settings.
PSNR (peak-to-peak 2 for images in [-1, 1]) of ``decode(encode(x))`` on the held-out set.

    python benchmarks/vae_fid.py --extractor runs/eval-mnist-classifier \
        --runs runs/vae-mnist runs/vq-gpt-mnist runs/var-mnist \
        --codecs runs/klae-mnist runs/vqvae-mnist runs/msvq-mnist [--n 2000] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import build_dataset
from genlab.data.mnist import MNISTConfig
from genlab.families import family_of
from genlab.metrics.features import get_extractor
from genlab.metrics.fid import fid_from_features
from genlab.runs import load_model


@torch.no_grad()
def draw(run: Path, n: int, batch: int = 200) -> tuple[torch.Tensor, float]:
    exp, model = load_model(run)
    task = family_of(exp.objective.kind)
    k = getattr(exp.model, "num_classes", 0)
    out, tic = [], time.perf_counter()
    for i in range(0, n, batch):
        seeds = list(range(i, min(n, i + batch)))
        cond = {"class": torch.tensor(seeds) % k} if k else {}
        out.append(task.sample(model, exp, seeds, cond, exp.sampler).float().cpu())
    return torch.cat(out), time.perf_counter() - tic


@torch.no_grad()
def psnr(run: Path, x: torch.Tensor) -> tuple[float, str]:
    exp, model = load_model(run, "ema" if exp_kind(run) == "klae" else "model")
    rec = []
    for i in range(0, len(x), 250):
        rec.append(model.decode(model.encode(x[i : i + 250])))  # tokens or latents
    mse = (torch.cat(rec).clamp(-1, 1) - x).pow(2).flatten(1).mean(1)
    return float((10 * torch.log10(4.0 / mse)).mean()), exp.model.arch


def exp_kind(run: Path) -> str:
    from genlab.runs import load_experiment

    return load_experiment(run).objective.kind


def fid_table(args, held, train) -> None:
    ext = get_extractor("mnist", args.extractor)
    f_held = ext.features(held)
    print("## FID (MNIST classifier features) against held-out MNIST test [8000, 10000)\n")
    print(f"{args.n} samples per run; extractor {ext.fingerprint}\n")
    print("| model | FID | sampling time (s) |")
    print("|---|---|---|")
    print(
        f"| real train images [0, {args.n}) (floor) | "
        f"{fid_from_features(f_held, ext.features(train)):.2f} | - |"
    )
    for run in map(Path, args.runs):
        if not (run / "config.yaml").is_file():
            print(f"| {run} | not trained | - |")
            continue
        x, secs = draw(run, args.n)
        print(f"| {run} | {fid_from_features(f_held, ext.features(x)):.2f} | {secs:.0f} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="../shared/data/mnist")
    ap.add_argument("--extractor", default="runs/eval-mnist-classifier")
    ap.add_argument(
        "--runs", nargs="*", default=["runs/vae-mnist", "runs/vq-gpt-mnist", "runs/var-mnist"]
    )
    ap.add_argument(
        "--codecs", nargs="*", default=["runs/klae-mnist", "runs/vqvae-mnist", "runs/msvq-mnist"]
    )
    ap.add_argument("--n", type=int, default=2000, help="samples per run")
    ap.add_argument("--quick", action="store_true", help="200 samples per run")
    args = ap.parse_args(argv)
    _machine.report()
    if args.quick:
        args.n = 200
    held = build_dataset(MNISTConfig(root=args.root, split="test", start=8000, stop=10000)).x
    train = build_dataset(MNISTConfig(root=args.root, split="test", start=0, stop=args.n)).x
    if args.runs:  # FID needs the classifier; PSNR of codecs alone does not
        fid_table(args, held, train)
    print("\n## Reconstruction PSNR on held-out MNIST test [8000, 10000)\n")
    print("| codec | arch | PSNR (dB) |")
    print("|---|---|---|")
    for run in map(Path, args.codecs):
        if not (run / "config.yaml").is_file():
            print(f"| {run} | not trained | - |")
            continue
        p, arch = psnr(run, held)
        print(f"| {run} | {arch} | {p:.2f} |")


if __name__ == "__main__":
    main()
