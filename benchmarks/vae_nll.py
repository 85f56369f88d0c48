"""Test negative log-likelihood of a trained VAE on dynamically binarised MNIST.

Protocol (Burda et al. 2016, sec. 5): the importance-weighted bound L_k with k = 5000
samples per test image as the log-likelihood estimate; the test images are binarised
once, stochastically, with a fixed seed. genlab's MNIST convention: the model trained on
the official test images [0, 8000) (``genlab train vae-mnist``); this script scores the
held-out images [8000, 10000). The peer in the same run is the ELBO (L_1, averaged over
draws) of the same model, and L_k for smaller k (the bound must rise with k).

    python benchmarks/vae_nll.py --run runs/vae-mnist [--k 5000] [--n 2000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import build_dataset
from genlab.data.mnist import MNISTConfig
from genlab.objectives.vae import iwae_bound, likelihood_target
from genlab.rng import keyed
from genlab.runs import load_model


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/vae-mnist")
    ap.add_argument("--root", default="../shared/data/mnist")
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--start", type=int, default=8000, help="first held-out image (>= 8000)")
    ap.add_argument("--n", type=int, default=2000, help="held-out images scored (<= 2000)")
    ap.add_argument("--chunk", type=int, default=1000, help="importance samples per pass")
    ap.add_argument("--batch", type=int, default=50, help="images per pass")
    ap.add_argument("--weights", default="ema")
    ap.add_argument("--quick", action="store_true", help="k=100 on 100 images")
    args = ap.parse_args(argv)
    _machine.report()
    if args.quick:
        args.k, args.n = 100, 100
    exp, vae = load_model(Path(args.run), args.weights)
    if args.start < 8000 or args.start + args.n > 10000:
        raise SystemExit("--start/--n: must stay inside the held-out images [8000, 10000)")
    stop = args.start + args.n
    data = build_dataset(MNISTConfig(root=args.root, split="test", start=args.start, stop=stop))
    x = data.x
    # a fixed binarisation per image (keyed by its index), whatever the range scored
    target = torch.cat(
        [
            likelihood_target(vae.cfg.likelihood, x[i : i + 1], True, keyed(2016, args.start + i))
            for i in range(len(x))
        ]
    )
    rows, tic = {}, time.perf_counter()
    ks = sorted({1, 10, 100, args.k} if args.k >= 100 else {1, args.k})
    for k in ks:
        vals = []
        for i in range(0, len(x), args.batch):
            xb, tb = x[i : i + args.batch], target[i : i + args.batch]
            reps = 20 if k == 1 else 1  # the ELBO: average of 20 one-sample estimates
            est = [iwae_bound(vae, xb, tb, k, keyed(k, i, r), args.chunk) for r in range(reps)]
            vals.append(torch.stack(est).mean(0))
        v = -torch.cat(vals).double()
        rows[k] = (v.mean().item(), (v.std() / len(v) ** 0.5).item())
    secs = time.perf_counter() - tic
    state_dir = Path(args.run) / "state"
    trainer = json.loads((state_dir / "trainer.json").read_text()) if state_dir.exists() else {}
    print(f"## VAE test NLL, dynamically binarised MNIST held-out [{args.start}, {stop})\n")
    print(
        f"run `{args.run}` ({args.weights} weights), trained on MNIST test [0, 8000): "
        f"{trainer.get('step', '?')} steps, {trainer.get('elapsed_s', 0) / 60:.1f} CPU-min; "
        f"latent {vae.cfg.latent_dim}, MLP {vae.cfg.hidden}x{vae.cfg.depth}\n"
    )
    print("| bound | -L_k (nats) | std. error |")
    print("|---|---|---|")
    for k, (m, se) in rows.items():
        name = "ELBO (k=1)" if k == 1 else f"IWAE k={k}"
        print(f"| {name} | {m:.2f} | {se:.2f} |")
    print(
        f"\nevaluation took {secs:.0f} s; published anchor (full 60k train, one stochastic "
        "layer VAE, k=5000): about 86-87 nats (Burda et al. 2016, table 1)"
    )


if __name__ == "__main__":
    main()
