"""Training throughput of genlab's U-Net against ``diffusers.UNet2DModel`` of about the
same parameter count, on 28x28 single-channel images (MNIST-sized; random tensors, no data
needed), same batch, same CPU, measured in one run with interleaved repeats.

One iteration = forward + MSE loss + backward + AdamW step, timed in process CPU time on
one torch thread (default): on a shared machine wall time also counts other processes'
load, CPU time does not. Prints medians (samples per CPU-second) and the ratio genlab /
diffusers; ``--threads N`` times wall-clock with N threads instead.

diffusers needs every down-sampled size to be an integer; 28 -> 14 -> 7 works with two
down-samplings, so no padding is needed.

Two genlab rows: ``unet-small`` at about the same parameter count (4.6M vs 4.4M), and
``unet-small`` with 72 base channels, which does the same FLOPs per image as the diffusers
network (counted by ``genlab.train.flops.count_flops``; printed as MFLOP per image).

``--quality`` asks what users get: each network (class-conditional; diffusers through
``num_class_embeds``) is trained by genlab's own loop with the ``rf-mnist`` recipe's loss,
data, EMA and schedule for ``--train-steps`` steps of ``--train-batch``, then samples
``--n`` images (seed i has class i % 10) with the recipe's sampler and CFG and is scored
with the MNIST classifier's features (FID, precision, recall, class accuracy) against the
held-out images. ``--only NAME`` trains one network (to run them as parallel processes).

    python benchmarks/diffusion_unet_vs_diffusers.py [--quick] [--batch 64] [--threads 2]
    python benchmarks/diffusion_unet_vs_diffusers.py --quality [--train-steps 300]
        [--train-batch 32] [--n 400] [--only diffusers] [--classifier RUN]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.models import build_model, preset


def genlab_config(upsample: str = "conv_resize", channels: int = 64, num_classes: int = 0):
    cfg = preset("unet-small", image_size=28, num_classes=num_classes)
    return dataclasses.replace(cfg, upsample=upsample, channels=channels)


def genlab_unet(upsample: str, channels: int = 64):
    m = build_model(genlab_config(upsample, channels))
    return lambda x, t: m(x, t, {}), m


class DiffusersDenoiser(torch.nn.Module):
    """``diffusers.UNet2DModel`` behind genlab's network signature ``f(x, t, cond)``:
    ``t`` in [0, 1] becomes diffusers' timestep ``1000 t``; ``cond["class"]`` (with the
    null class ``num_classes`` for CFG) goes to its class embedding."""

    def __init__(self, num_classes: int = 0):
        super().__init__()
        self.net = diffusers_model(num_classes + 1 if num_classes else None)

    def forward(self, x, t, cond):
        return self.net(x, t * 1000, class_labels=cond.get("class")).sample


def diffusers_model(num_class_embeds=None):
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=28,
        in_channels=1,
        out_channels=1,
        block_out_channels=(64, 128, 128),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim=32,
        norm_num_groups=32,
        num_class_embeds=num_class_embeds,
    )


def diffusers_unet():
    m = DiffusersDenoiser()
    return lambda x, t: m(x, t, {}), m


def mflop_per_image(fn, batch: int = 8) -> float:
    from genlab.train.flops import count_flops

    x, t = torch.randn(batch, 1, 28, 28), torch.rand(batch)
    with torch.no_grad():
        return count_flops(lambda: fn(x, t))[1] / batch / 1e6


QUALITY_NETS = {  # name -> (genlab base channels, or None for diffusers)
    "genlab": 64,
    "genlab-72ch": 72,
    "diffusers": None,
}


def quality(a) -> None:
    """Train each network with the rf-mnist recipe for the same steps, then score it."""
    from genlab.evaluate import evaluate, heldout_config
    from genlab.families import diffusion
    from genlab.families.base import class_preview, fit_one_objective
    from genlab.metrics.features import get_extractor
    from genlab.recipes import get_recipe
    from genlab.runs import class_cond, draw
    from genlab.train.loop import load_weights

    torch.set_num_threads(a.threads or 1)
    every = a.train_steps
    rows = []
    names = [a.only] if a.only else list(QUALITY_NETS)
    for name in names:
        ch = QUALITY_NETS[name]
        exp = get_recipe("rf-mnist", [f"train.steps={a.train_steps}",
                                      f"train.batch_size={a.train_batch}",
                                      f"train.threads={a.threads or 1}", "train.tensorboard=false",
                                      f"train.sample_every={every}", f"train.ckpt_every={every}",
                                      "train.num_samples=10", "train.log_every=50"])  # fmt: skip
        k = exp.model.num_classes
        if ch is not None:
            exp.model = genlab_config(channels=ch, num_classes=k)

        def build(e, ch=ch, k=k):
            return diffusion.build(e) if ch is not None else DiffusersDenoiser(k)

        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / name).mkdir()
            tic = time.process_time()
            run = fit_one_objective(
                exp,
                Path(tmp) / name,
                False,
                build=build,
                loss=diffusion.loss(exp),
                cond_keys=diffusion.cond_keys(exp),
                preview=lambda e, d: class_preview(diffusion.sample, e),
            )
            train_s = time.process_time() - tic
            torch.manual_seed(0)
            net = build(exp)
            load_weights(net, run / "ema.safetensors")
        net.eval()
        params = sum(p.numel() for p in net.parameters()) / 1e6
        mflop = mflop_per_image(
            lambda x, t, net=net: net(x, t, {"class": torch.zeros_like(t).long()})
        )
        cond, _ = class_cond(k, a.n, None, 0)
        tic = time.process_time()
        x = draw(net, exp, list(range(a.n)), cond, exp.sampler, 100)
        sample_s = time.process_time() - tic
        ref_cfg, desc = heldout_config(exp.data)
        ext = get_extractor("mnist", path=a.classifier)
        m = evaluate(x, cond["class"], ref_cfg, desc, ["fid", "pr", "acc"], ext, None, 0)
        m = m["metrics"]
        rows.append((name, params, mflop, train_s, sample_s, m))
    print(
        f"\nQuality at the same training budget: rf-mnist recipe, {a.train_steps} steps of "
        f"{a.train_batch}, {a.threads or 1} thread(s); {a.n} samples with "
        f"{exp.sampler.name} {exp.sampler.steps} steps, CFG w={exp.sampler.cfg}; MNIST "
        "classifier features vs the 2,000 held-out images\n"
    )
    print("| network | params (M) | MFLOP/image | train CPU-s | sample CPU-s | FID | precision "
          "| recall | class acc |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for name, params, mflop, train_s, sample_s, m in rows:
        print(
            f"| {name} | {params:.2f} | {mflop:.0f} | {train_s:.0f} | {sample_s:.0f} "
            f"| {m['fid']:.1f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['acc']:.3f} |",
            flush=True,
        )


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
    ap.add_argument("--quality", action="store_true", help="train, sample and score instead")
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--train-batch", type=int, default=32)
    ap.add_argument("--n", type=int, default=400, help="samples to score (--quality)")
    ap.add_argument("--only", choices=list(QUALITY_NETS), help="one network (--quality)")
    ap.add_argument("--classifier", default="runs/eval-mnist-classifier")
    args = ap.parse_args()
    _machine.report()
    if args.quality:
        quality(args)
        return
    torch.set_num_threads(args.threads or 1)
    clock = time.perf_counter if args.threads else time.process_time
    torch.manual_seed(0)
    models = {
        "genlab unet-small": (*genlab_unet("conv_resize"), None),
        "genlab unet-small, upsample=resize_conv": (*genlab_unet("resize_conv"), None),
        "genlab unet-small, 72 channels (equal FLOPs)": (*genlab_unet("conv_resize", 72), None),
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
    print(f"| model | params (M) | MFLOP/image (forward) | samples per {unit}-s (median) "
          "| min | max | vs diffusers |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for k, (fn, m, _) in models.items():
        n = sum(p.numel() for p in m.parameters()) / 1e6
        v = times[k]
        print(
            f"| {k} | {n:.2f} | {mflop_per_image(fn):.0f} | {statistics.median(v):.1f} "
            f"| {min(v):.1f} | {max(v):.1f} | {statistics.median(v) / ref:.2f}x |"
        )


if __name__ == "__main__":
    sys.exit(main())
