"""Anomaly detection with a VAE: score = negative ELBO (and the IWAE bound), AUROC of
held-out "normal" digits against digits the model never saw.

Worked example: train a Bernoulli MLP VAE (``vae-mnist`` model) on the digits 0-4 of the
MNIST test images [0, 8000) (dynamic binarisation); score the held-out images
[8000, 10000): digits 0-4 are normal, 5-9 anomalous. The peer in the same run is the
reconstruction term alone (-log p(x | z) at the posterior mean), a common simpler score.

    python benchmarks/vae_anomaly.py [--steps 3000] [--quick]
"""

from __future__ import annotations

import argparse
import time

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch
from sklearn.metrics import roc_auc_score

from genlab.data import build_dataset
from genlab.data.mnist import MNISTConfig
from genlab.models.vae import VAE
from genlab.objectives.vae import elbo_loss, iwae_bound, likelihood_target, log_likelihood
from genlab.recipes import get_recipe
from genlab.rng import keyed


def train(x: torch.Tensor, steps: int, batch: int = 100, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    vae = VAE(get_recipe("vae-mnist").model).train()
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=1e-4)
    for step in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=keyed(seed, step))
        loss, _ = elbo_loss(
            vae,
            {"x": x[idx], "cond": {}},
            keyed(seed, step, 1),
            beta=1.0,
            warmup_samples=50_000,
            binarize=True,
        )
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        sched.step()
    return vae.eval()


@torch.no_grad()
def scores(vae: VAE, x: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    target = likelihood_target("bernoulli", x, True, keyed(7))
    out = {"-ELBO": [], f"-IWAE k={k}": [], "recon error": []}
    for i in range(0, len(x), 200):
        xb, tb = x[i : i + 200], target[i : i + 200]
        out["-ELBO"].append(
            -torch.stack([iwae_bound(vae, xb, tb, 1, keyed(i, r)) for r in range(10)]).mean(0)
        )
        out[f"-IWAE k={k}"].append(-iwae_bound(vae, xb, tb, k, keyed(i, 99)))
        mu, _ = vae.posterior(xb)
        out["recon error"].append(-log_likelihood("bernoulli", vae.decoder(mu), tb, vae.log_scale))
    return {name: torch.cat(v) for name, v in out.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="../shared/data/mnist")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--normal", default="0,1,2,3,4", help="digits seen in training")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="300 steps, k=10")
    args = ap.parse_args(argv)
    _machine.report()
    if args.quick:
        args.steps, args.k = 300, 10
    normal = torch.tensor([int(c) for c in args.normal.split(",")])
    tr = build_dataset(MNISTConfig(root=args.root, split="test", start=0, stop=8000))
    te = build_dataset(MNISTConfig(root=args.root, split="test", start=8000, stop=10000))
    keep = torch.isin(tr.cond["class"], normal)
    tic = time.perf_counter()
    vae = train(tr.x[keep], args.steps)
    t_train = time.perf_counter() - tic
    s = scores(vae, te.x, args.k)
    y, is_anom = te.cond["class"], ~torch.isin(te.cond["class"], normal)
    print("## VAE anomaly scores: AUROC, MNIST held-out [8000, 10000)\n")
    print(
        f"trained on digits {args.normal} of MNIST test [0, 8000) ({int(keep.sum())} images, "
        f"{args.steps} steps, {t_train / 60:.1f} min); anomalies = the other digits\n"
    )
    names = list(s)
    print("| anomalous digits | n | " + " | ".join(f"AUROC {n}" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    groups = [("all unseen", is_anom)]
    groups += [(str(d), y == d) for d in range(10) if d not in normal.tolist()]
    for name, mask in groups:
        sel = mask | ~is_anom  # this group against every normal test image
        aucs = [roc_auc_score(is_anom[sel].numpy(), s[n][sel].numpy()) for n in names]
        print(f"| {name} | {int(mask.sum())} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |")
    print(
        f"\nmean -ELBO: normal {s['-ELBO'][~is_anom].mean():.1f} nats, "
        f"unseen {s['-ELBO'][is_anom].mean():.1f} nats"
    )


if __name__ == "__main__":
    main()
