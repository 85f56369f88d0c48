"""Quality per step on ``digits``: a classifier-feature Frechet distance of samplers at few
steps against Euler at 100 steps, for one trained rectified-flow U-Net.

Data: scikit-learn digits, ``split=train`` (1,437 images) trains the generative model and
a small CNN classifier; the Frechet distance (FD) compares generated samples (class-
balanced, no guidance) with the train split's features (the classifier's 64-d penultimate
layer). For scale the table also gives FD(train, held-out test split).
Target (issue 3): FD of DPM-Solver++(2M) at 10 steps within 10% of Euler at 100 steps.

The Frechet math is :func:`frechet` alone: it uses ``genlab.metrics.fid.fid_from_features``
when that module exists (the evaluation issue), else a local scipy implementation; the
output says which.

    python benchmarks/diffusion_quality.py [--quick] [--run RUN_DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import numpy as np
import torch
from torch import nn

from genlab.data import DATASETS, build_dataset
from genlab.families import family_of
from genlab.recipes import get_recipe
from genlab.runs import fit, load_model, override

SAMPLERS = [("euler", 100), ("euler", 10), ("heun", 10), ("midpoint", 10), ("dpmpp_2m", 10)]


def frechet(f_real: np.ndarray, f_fake: np.ndarray) -> tuple[float, str]:
    """Frechet distance of Gaussians fitted to ``(N, D)`` features, and its source."""
    try:
        from genlab.metrics.fid import fid_from_features

        return fid_from_features(f_real, f_fake), "genlab.metrics.fid"
    except ImportError:
        from scipy import linalg

        a, b = f_real.astype(np.float64), f_fake.astype(np.float64)
        m1, m2 = a.mean(0), b.mean(0)
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        covmean = linalg.sqrtm(s1 @ s2).real
        d = float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
        return d, "local scipy (benchmark)"


class Classifier(nn.Module):
    """A small CNN for 8x8 digits; ``features`` is the 64-d penultimate layer."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(64 * 16, 64),
            nn.SiLU(),
        )
        self.head = nn.Linear(64, 10)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


def train_classifier(x, y, steps: int) -> tuple[Classifier, float]:
    torch.manual_seed(0)
    clf = Classifier()
    opt = torch.optim.AdamW(clf.parameters(), lr=2e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        i = torch.randint(len(x), (128,), generator=g)
        loss = nn.functional.cross_entropy(clf(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return clf.eval(), float(loss.detach())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short training (smoke check)")
    ap.add_argument("--run", help="an existing rf-digits run trained on split=train")
    args = ap.parse_args()
    _machine.report()
    train = build_dataset(dataclasses.replace(DATASETS["digits"].config(), split="train"))
    test = build_dataset(dataclasses.replace(DATASETS["digits"].config(), split="test"))
    xs, ys = train.x, train.cond["class"]
    clf, _ = train_classifier(xs, ys, 200 if args.quick else 1500)
    with torch.no_grad():
        acc = float((clf(test.x).argmax(1) == test.cond["class"]).float().mean())
        f_train, f_test = clf.features(xs).numpy(), clf.features(test.x).numpy()

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else None
        if run is None:
            ov = ["data.split=train", "train.tensorboard=false", "train.sample_every=0"]
            ov += ["train.steps=200"] if args.quick else []
            run = fit(override(get_recipe("rf-digits"), ov), Path(tmp) / "rf")
        exp, model = load_model(run)
        n = len(xs)
        cond = {"class": torch.arange(n) % 10}
        rows = []
        for name, steps in SAMPLERS:
            scfg = dataclasses.replace(exp.sampler, name=name, steps=steps, cfg=0.0)
            tic = time.perf_counter()
            x = family_of("denoise").sample(model, exp, list(range(n)), cond, scfg)
            dt = time.perf_counter() - tic
            with torch.no_grad():
                fd, src = frechet(f_train, clf.features(x.clamp(-1, 1)).numpy())
            nfe = {"heun": 2 * steps - 1, "midpoint": 2 * steps}.get(name, steps)
            rows.append((name, steps, nfe, fd, dt))
    floor, src = frechet(f_train, f_test)
    ref = next(r[3] for r in rows if r[:2] == ("euler", 100))
    print(
        f"\ndigits: model and classifier trained on split=train ({n} images); FD vs train "
        f"features; classifier test accuracy {acc:.3f}; Frechet math: {src}\n"
    )
    print("| sampler | steps | NFE | FD | FD / FD(euler 100) | sample s |")
    print("|---|---|---|---|---|---|")
    for name, steps, nfe, fd, dt in rows:
        print(f"| {name} | {steps} | {nfe} | {fd:.3f} | {fd / ref:.3f} | {dt:.1f} |")
    print(
        f"| real held-out test split ({len(test.x)} images) | - | - | {floor:.3f} | "
        f"{floor / ref:.3f} | - |"
    )


if __name__ == "__main__":
    main()
