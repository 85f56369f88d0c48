"""What does denoising in an autoencoder's latents save? ``t2i-shapes`` (a U-Net on
3x32x32 pixels) against ``t2i-shapes-latent`` (the same U-Net on the 4x8x8 latents of
``klae-shapes``), measured side by side in one run, and their FLOPs at 32x32 and 256x256.

    python benchmarks/latent_cost.py [--batch 64] [--n 64] [--steps 15] [--repeats 5]

Costs need no trained weights, so the networks are built fresh from the recipes
(``genlab.families.diffusion.build``; the autoencoder from ``klae-shapes``); the text
condition is random token states of MiniLM's shape (``(B, 32, 384)``). Rows:

- **train step**: one forward and backward of the denoiser on a batch (the latent model
  also encodes the batch with the frozen autoencoder), median seconds of ``--repeats``;
- **sample**: ``--n`` images with the recipes' sampler (DPM-Solver++(2M), ``--steps``
  steps, CFG: two network evaluations per step), decoding included, median seconds;
- **GFLOPs**: ``torch.utils.flop_counter`` on one forward of one image: the denoiser, the
  encoder and the decoder, at 32x32 (as trained) and with the same networks on 256x256
  images (pixel: 3x256x256; latent: the autoencoder's 4x downsampling gives 4x64x64;
  the denoiser on 4x32x32 stands for Stable Diffusion's 8x);
- **sampling one image, GFLOPs**: ``--steps`` x 2 (CFG) denoiser forwards, plus the
  decoder for the latent model.

The ratio column divides the pixel model's figure by the latent model's. Times are upper
bounds on this shared machine (the machine line gives the load).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch
from torch.utils.flop_counter import FlopCounterMode

from genlab.families.diffusion import build, sample
from genlab.models import build_model
from genlab.recipes import get_recipe
from genlab.sampling.configs import DiffusionSamplerConfig


def gflops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def text(b: int) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "text": torch.randn(b, 32, 384, generator=g),
        "text_mask": torch.ones(b, 32, dtype=torch.bool),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=64, help="training batch")
    ap.add_argument("--n", type=int, default=64, help="images sampled")
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    _machine.report()
    torch.manual_seed(0)
    pixel_exp = get_recipe("t2i-shapes")
    latent_exp = get_recipe("t2i-shapes-latent")
    ae_exp = get_recipe("klae-shapes")
    pixel = build(pixel_exp)
    ae = build_model(ae_exp.model).eval().requires_grad_(False)
    latent_exp.objective.autoencoder = ""  # build the denoiser alone; encode/decode here
    latent = build(latent_exp)
    x = torch.rand(a.batch, 3, 32, 32) * 2 - 1
    t = torch.rand(a.batch)
    cond = text(a.batch)

    def step(net, inputs):
        net.zero_grad(set_to_none=True)
        out = net(inputs, t, cond)
        out.float().pow(2).mean().backward()

    def train_pixel():
        step(pixel, x)

    def train_latent():
        with torch.no_grad():
            z = ae.encode(x)
        step(latent, z)

    scfg = DiffusionSamplerConfig(name="dpmpp_2m", steps=a.steps, cfg=1.0)
    seeds = list(range(a.n))

    def sample_pixel():
        sample(pixel, pixel_exp, seeds, text(a.n), scfg)

    def sample_latent():
        with torch.no_grad():
            ae.decode(sample(latent, latent_exp, seeds, text(a.n), scfg))

    rows = []
    train = (median_time(train_pixel, a.repeats), median_time(train_latent, a.repeats))
    rows.append((f"train step (batch {a.batch}), s", *train))
    samp = (median_time(sample_pixel, a.repeats), median_time(sample_latent, a.repeats))
    rows.append((f"sample {a.n} images ({a.steps} steps, CFG), s", *samp))

    one = text(1)
    t1 = torch.full((1,), 0.5)
    px = gflops(lambda: pixel(torch.zeros(1, 3, 32, 32), t1, one))
    lt = gflops(lambda: latent(torch.zeros(1, 4, 8, 8), t1, one))
    enc = gflops(lambda: ae.encode(torch.zeros(1, 3, 32, 32)))
    dec = gflops(lambda: ae.decode(torch.zeros(1, 4, 8, 8)))
    rows.append(("denoiser forward, 32x32, GFLOPs", px, lt))
    rows.append(("  + encoder / decoder (once per image)", 0.0, enc + dec))
    # The same networks on 256x256: the U-Net and autoencoder are convolutional (their
    # attention grows with the positions), so they run at any size.
    big_px = gflops(lambda: pixel(torch.zeros(1, 3, 256, 256), t1, one))
    big_lt4 = gflops(lambda: latent(torch.zeros(1, 4, 64, 64), t1, one))
    big_lt8 = gflops(lambda: latent(torch.zeros(1, 4, 32, 32), t1, one))
    rows.append(("denoiser forward, 256x256, GFLOPs (latent 4x64x64, f=4)", big_px, big_lt4))
    rows.append(("denoiser forward, 256x256, GFLOPs (latent 4x32x32, f=8 as SD)", big_px, big_lt8))
    ae8 = build_model(dataclasses.replace(ae_exp.model, image_size=256))
    rows.append((
        "  + encoder / decoder at 256x256 (f=4)", 0.0,
        gflops(lambda: ae8.encode(torch.zeros(1, 3, 256, 256)))
        + gflops(lambda: ae8.decode(torch.zeros(1, 4, 64, 64))),
    ))  # fmt: skip
    ev = 2 * a.steps
    rows.append((f"sampling one image at 32x32 ({ev} forwards), GFLOPs", ev * px, ev * lt + dec))
    big_dec = gflops(lambda: ae8.decode(torch.zeros(1, 4, 64, 64)))
    rows.append((
        f"sampling one image at 256x256 (f=4, {ev} forwards), GFLOPs", ev * big_px,
        ev * big_lt4 + big_dec,
    ))  # fmt: skip
    n_px = sum(p.numel() for p in pixel.parameters())
    n_lt = sum(p.numel() for p in latent.parameters())
    print(f"\npixel: t2i-shapes U-Net on 3x32x32, {n_px:,} parameters; latent: the same U-Net "
          f"on 4x8x8, {n_lt:,} parameters (+ the klae-shapes autoencoder, frozen)\n")  # fmt: skip
    print("| figure | pixel | latent | pixel / latent |")
    print("|---|---|---|---|")
    for name, p, q in rows:
        ratio = f"{p / q:.1f}x" if p and q else "-"
        print(f"| {name} | {p:.3f} | {q:.3f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
