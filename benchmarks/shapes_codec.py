"""Do a shapes autoencoder's reconstructions keep the shapes? PSNR and the shapes
classifier's reading of ``decode(encode(x))``: the ceiling of a latent model on it.

    python benchmarks/shapes_codec.py --codecs runs/klae-shapes [runs/klae-shapes-laplace ...] \
        [--classifier runs/eval-shapes-classifier] [--n 1000]

The images are ``--n`` held-out ``shapes`` (every attribute combination, seed 1; the
codecs trained on seed 0). Each codec (a KL autoencoder, ``klae-shapes``, or a VQ one,
``vqvae-shapes``) reconstructs them with its EMA weights: the posterior mean, decoded, for
a KL autoencoder; the quantised tokens, decoded, for a VQ one. Columns: PSNR (peak to
peak 2, images in [-1, 1]; median over images), the mean output brightness (-1 is all
black), and the classifier's per-attribute accuracy and exact match (all four right) on
the reconstructions. The real images are the first row. A latent diffusion model on a
codec cannot draw shapes its decoder does not reconstruct, so the exact match here bounds
the latent model's (``benchmarks/t2i_shapes.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch
from t2i_shapes import check_classifier

from genlab.checkpoint import load_network
from genlab.data import build_dataset
from genlab.data.configs import ATTRIBUTES, ShapesConfig
from genlab.errors import GenlabError
from genlab.metrics.features import get_extractor
from genlab.metrics.scores import attribute_accuracy


def row(name: str, r: torch.Tensor, x: torch.Tensor, labels: dict, ext) -> str:
    psnr = 10 * torch.log10(4 / ((r - x) ** 2).mean((1, 2, 3)).clamp_min(1e-10))
    acc = attribute_accuracy(ext.all_logits(r), labels)
    cols = " | ".join(f"{float(acc['acc_' + k]):.3f}" for k in ATTRIBUTES)
    p = "-" if r is x else f"{float(psnr.median()):.2f}"
    return f"| {name} | {p} | {float(r.mean()):.3f} | {cols} | {float(acc['exact_match']):.3f} |"


def load_codec(run: Path):
    """The codec run's network, or a clear error: not a KL (spatial) or VQ autoencoder,
    or not one for 3x32x32 images."""
    found = load_network(run, "ema", "cpu")
    m = found.model
    if not (m.arch == "vae" and getattr(m, "spatial", False)) and m.arch != "vqvae":
        raise GenlabError(f"{run}: a '{m.arch}' run, not a shapes autoencoder (klae-*, vqvae-*)")
    if (m.in_channels, m.image_size) != (3, 32):
        raise GenlabError(
            f"{run}: encodes {m.in_channels}x{m.image_size}x{m.image_size} images, not "
            "the 3x32x32 of shapes"
        )
    return found


@torch.no_grad()
def reconstruct(found, x: torch.Tensor) -> tuple[torch.Tensor, str]:
    net, m = found.module, found.model
    if m.arch == "vqvae":
        return net(x)[0].clamp(-1, 1), "VQ"
    return net.decode(net.encode(x)).clamp(-1, 1), "KL, " + m.likelihood


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codecs", nargs="+", required=True, help="autoencoder runs on shapes")
    ap.add_argument("--classifier", default="runs/eval-shapes-classifier")
    ap.add_argument("--n", type=int, default=1000, help="held-out images")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.n < 1 or a.threads < 1:
        ap.error(f"--n and --threads: must be at least 1, got {a.n} and {a.threads}")
    torch.set_num_threads(a.threads)
    _machine.report()
    try:
        check_classifier(a.classifier)
        codecs = [(run, load_codec(run)) for run in map(Path, a.codecs)]  # all checked first
        ext = get_extractor("shapes", path=a.classifier, device="cpu")
        data = build_dataset(ShapesConfig(n=a.n, seed=1))
        labels = {k: data.cond[k] for k in ATTRIBUTES}
        print(f"\n## Reconstructions of {a.n} held-out shapes (seed 1)\n")
        print("| codec | PSNR (dB) | mean brightness | " + " | ".join(ATTRIBUTES)
              + " | exact match |")  # fmt: skip
        print("|---|---|---|" + "---|" * len(ATTRIBUTES) + "---|")
        print(row("real images", data.x, data.x, labels, ext), flush=True)
        for run, found in codecs:
            r, kind = reconstruct(found, data.x)
            print(row(f"{run} ({kind})", r, data.x, labels, ext), flush=True)
    except GenlabError as e:
        print(f"shapes_codec.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
