"""Training throughput of genlab's U-Net against ``diffusers.UNet2DModel`` of about the
same parameter count, on 28x28 single-channel images (MNIST-sized; random tensors, no data
needed), same batch, same CPU, measured in one run with interleaved repeats.

One iteration = forward + MSE loss + backward + AdamW step. Prints medians (samples/s)
and the ratio genlab / diffusers. diffusers needs every down-sampled size to be an
integer; 28 -> 14 -> 7 works with two down-samplings, so no padding is needed.

    python benchmarks/diffusion_unet_vs_diffusers.py [--quick] [--batch 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genlab.models import build_model, preset


def genlab_unet(channels_last: bool):
    m = build_model(preset("unet-small", image_size=28))
    if channels_last:
        m = m.to(memory_format=torch.channels_last)
    return lambda x, t: m(x, t, {}), m


def diffusers_unet():
    from diffusers import UNet2DModel

    m = UNet2DModel(
        sample_size=28,
        in_channels=1,
        out_channels=1,
        block_out_channels=(64, 128, 128),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim=32,
        norm_num_groups=32,
    )
    return lambda x, t: m(x, t * 1000).sample, m


def step_time(fn, model, opt, x, t, channels_last=False) -> float:
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    tic = time.perf_counter()
    loss = (fn(x, t) - x).pow(2).mean()
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return time.perf_counter() - tic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats of 3 steps")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {
        "genlab unet-small": (*genlab_unet(False), False),
        "genlab unet-small (channels_last)": (*genlab_unet(True), True),
        "diffusers UNet2DModel": (*diffusers_unet(), False),
    }
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, (_, m, _) in models.items()}
    x = torch.randn(args.batch, 1, 28, 28)
    t = torch.rand(args.batch)
    repeats, steps = (3, 3) if args.quick else (7, 5)
    times = {k: [] for k in models}
    for k, (fn, m, cl) in models.items():  # warm-up
        step_time(fn, m, opts[k], x, t, cl)
    for _ in range(repeats):  # interleaved: every model in every round
        for k, (fn, m, cl) in models.items():
            dt = sum(step_time(fn, m, opts[k], x, t, cl) for _ in range(steps)) / steps
            times[k].append(args.batch / dt)
    ref = statistics.median(times["diffusers UNet2DModel"])
    print(
        f"\nU-Net training throughput, 28x28x1, batch {args.batch}, "
        f"{torch.get_num_threads()} threads, {repeats} interleaved repeats x {steps} steps "
        "(random tensors)\n"
    )
    print("| model | params (M) | samples/s (median) | min | max | vs diffusers |")
    print("|---|---|---|---|---|---|")
    for k, (_, m, _) in models.items():
        n = sum(p.numel() for p in m.parameters()) / 1e6
        v = times[k]
        print(
            f"| {k} | {n:.2f} | {statistics.median(v):.1f} | {min(v):.1f} | {max(v):.1f} "
            f"| {statistics.median(v) / ref:.2f}x |"
        )


if __name__ == "__main__":
    main()
