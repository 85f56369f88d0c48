"""Training throughput of genlab's U-Net against ``diffusers.UNet2DModel`` of about the
same parameter count, on 28x28 single-channel images (MNIST-sized; random tensors, no data
needed), same batch, same CPU, measured in one run with interleaved repeats.

One iteration = forward + MSE loss + backward + AdamW step, timed in process CPU time on
one torch thread (default): on a shared machine wall time also counts other processes'
load, CPU time does not. Prints medians (samples per CPU-second) and the ratio genlab /
diffusers; ``--threads N`` times wall-clock with N threads instead.

diffusers needs every down-sampled size to be an integer; 28 -> 14 -> 7 works with two
down-samplings, so no padding is needed.

    python benchmarks/diffusion_unet_vs_diffusers.py [--quick] [--batch 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.models import build_model, preset


def genlab_unet(upsample: str):
    m = build_model(dataclasses.replace(preset("unet-small", image_size=28), upsample=upsample))
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


def step_time(fn, model, opt, x, t, clock) -> float:
    tic = clock()
    loss = (fn(x, t) - x).pow(2).mean()
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return clock() - tic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats of 3 steps")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="N > 0: wall time, N threads")
    args = ap.parse_args()
    _machine.report()
    torch.set_num_threads(args.threads or 1)
    clock = time.perf_counter if args.threads else time.process_time
    torch.manual_seed(0)
    models = {
        "genlab unet-small": (*genlab_unet("conv_resize"), None),
        "genlab unet-small, upsample=resize_conv": (*genlab_unet("resize_conv"), None),
        "diffusers UNet2DModel": (*diffusers_unet(), None),
    }
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, (_, m, _) in models.items()}
    x = torch.randn(args.batch, 1, 28, 28)
    t = torch.rand(args.batch)
    repeats, steps = (3, 3) if args.quick else (7, 5)
    times = {k: [] for k in models}
    for k, (fn, m, _) in models.items():  # warm-up
        step_time(fn, m, opts[k], x, t, clock)
    for _ in range(repeats):  # interleaved: every model in every round
        for k, (fn, m, _) in models.items():
            dt = sum(step_time(fn, m, opts[k], x, t, clock) for _ in range(steps)) / steps
            times[k].append(args.batch / dt)
    ref = statistics.median(times["diffusers UNet2DModel"])
    unit = "wall" if args.threads else "CPU"
    print(
        f"\nU-Net training throughput, 28x28x1, batch {args.batch}, "
        f"{torch.get_num_threads()} thread(s), {unit} time, {repeats} interleaved repeats x "
        f"{steps} steps (random tensors)\n"
    )
    print(f"| model | params (M) | samples per {unit}-s (median) | min | max | vs diffusers |")
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
