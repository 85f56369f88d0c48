"""bf16 autocast against float32 for one training step of the MNIST networks on CUDA.

One step = forward + MSE loss + backward + AdamW (fused) at ``--batch``, for the MNIST
U-Net (``unet-small``) and DiT (``dit-mnist``) presets. The two precisions are timed in
interleaved rounds (CUDA-synchronised wall time, medians), so a neighbour on the GPU slows
both alike. Prints steps/s, achieved TFLOP/s (FLOPs counted once by
``genlab.train.flops.count_flops``) and the bf16/fp32 ratio, with TF32 settings stated.
Without CUDA it says so and exits 0.

    python benchmarks/cuda_bf16.py [--batch 128] [--steps 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch
import torch.nn.functional as F

from genlab.models import build_model, preset
from genlab.train.flops import count_flops

NETS = {
    "unet-small": lambda: preset("unet-small", image_size=28, num_classes=10),
    "dit-mnist": lambda: preset("dit-mnist", num_classes=10),
}


def train_step(net, opt, x, t, c, bf16: bool) -> None:
    """Forward + MSE + backward + AdamW, under bf16 autocast when ``bf16``."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = F.mse_loss(net(x, t, c).float(), x)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", default="cuda", help="cuda (cpu only to try the script)")
    ap.add_argument("--quick", action="store_true", help="(make bench) 2 rounds of 5 steps")
    a = ap.parse_args()
    if a.quick:
        a.steps, a.rounds = 5, 2
    if a.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: nothing to measure")
        return 0
    _machine.report()
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda d: None)
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(
        f"torch {torch.__version__}, {where}; TF32 matmul "
        f"{torch.backends.cuda.matmul.allow_tf32}, TF32 cuDNN {torch.backends.cudnn.allow_tf32}"
    )
    print("| network | batch | fp32 steps/s | bf16 steps/s | bf16 / fp32 | fp32 TFLOP/s "
          "| bf16 TFLOP/s |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for name, cfg in NETS.items():
        torch.manual_seed(0)
        net = build_model(cfg()).to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=dev.type == "cuda")
        x = torch.randn(a.batch, 1, 28, 28, device=dev)
        t = torch.rand(a.batch, device=dev)
        c = {"class": torch.randint(0, 10, (a.batch,), device=dev)}

        step = partial(train_step, net, opt, x, t, c)
        _, flops = count_flops(step, False)
        times: dict[bool, list[float]] = {False: [], True: []}
        for bf16 in (False, True):  # warm-up: cuDNN picks its kernels
            for _ in range(3):
                step(bf16)
        for _ in range(a.rounds):
            for bf16 in (False, True):
                sync(dev)
                tic = time.perf_counter()
                for _ in range(a.steps):
                    step(bf16)
                sync(dev)
                times[bf16].append(a.steps / (time.perf_counter() - tic))
        f32, b16 = statistics.median(times[False]), statistics.median(times[True])
        print(
            f"| {name} | {a.batch} | {f32:.1f} | {b16:.1f} | {b16 / f32:.2f} "
            f"| {f32 * flops / 1e12:.1f} | {b16 * flops / 1e12:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
