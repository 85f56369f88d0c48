"""What does each space-time attention cost as the clip grows? The video DiT in every
attention mode, and the (2+1)-D against the full 3-D U-Net, at T = 4, 8, 16, 32 frames of
64x64, measured side by side in one run (``benchmarks/video.py --cost`` prints this).

    python benchmarks/video_cost.py [--frames 4 8 16 32] [--batch 2] [--repeats 3]
        [--latent [small]]      # --frames with no value: the latent table alone

Networks are built fresh (costs need no trained weights): the DiT of the
``dit-moving-mnist`` shape (hidden 128, depth 4, 4 heads, 4x4 patches: 256 tokens a frame)
and a U-Net (channels 32, mults 1, 2, 2). Each (network, T) is measured in its own
subprocess so that its peak memory is its own:

- **step s**: one forward and backward of the rectified-flow loss on ``--batch`` clips,
  median seconds of ``--repeats`` (after one warm-up);
- **peak MiB**: the growth of the process's peak resident memory over the step (what
  the step needed beyond the built network);
- **attn GFLOP**: the attention matrix products of one clip through all blocks
  (:func:`genlab.nn.attention.attention_flops`, closed form);
- **GFLOP/clip**: ``torch.utils.flop_counter`` on one forward of one clip.

Times are upper bounds on this shared machine (the machine line gives the load).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

DIT_MODES = ("full", "factored", "divided", "temporal_layers")
NETS = tuple(f"dit-{m}" for m in DIT_MODES) + ("unet-3d", "unet-factored")
HIDDEN, DEPTH, HEADS, PATCH, SIZE = 128, 4, 4, 4, 64


def build(net: str, frames: int):
    from genlab.models import build_model
    from genlab.models.configs import DiTConfig, UNetConfig

    if net.startswith("dit-"):
        cfg = DiTConfig(
            dims=3, frames=frames, image_size=SIZE, patch=PATCH, hidden=HIDDEN, depth=DEPTH,
            heads=HEADS, attention=net[4:],
        )  # fmt: skip
    else:
        cfg = UNetConfig(
            dims=3, frames=frames, image_size=SIZE, channels=32, channel_mult=(1, 2, 2),
            num_res_blocks=1, attn_levels=(2,), video=net[5:],
        )  # fmt: skip
    return build_model(cfg), cfg


def measure(net: str, frames: int, batch: int, repeats: int) -> dict:
    """One (network, T) cell, in this process."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from genlab.nn.attention import attention_flops

    torch.manual_seed(0)
    model, cfg = build(net, frames)
    x = torch.randn(batch, 1, frames, SIZE, SIZE)

    def step():
        t = torch.rand(batch)
        noise = torch.randn_like(x)
        xt = (1 - t.view(-1, 1, 1, 1, 1)) * x + t.view(-1, 1, 1, 1, 1) * noise
        loss = (model(xt, t) - (noise - x)).pow(2).mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()  # warm-up (and the peak)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x[:1], torch.rand(1))
    attn = 0.0
    if net.startswith("dit-"):
        s = (SIZE // PATCH) ** 2
        attn = DEPTH * attention_flops(net[4:], frames, s, HIDDEN) / 1e9
    return {
        "net": net,
        "frames": frames,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "step_s": statistics.median(times),
        "peak_mib": peak,
        "attn_gflop": attn,
        "gflop": counter.get_total_flops() / 1e9,
    }


def table(frames: list[int], batch: int, repeats: int, nets=NETS) -> list[dict]:
    """Every cell, each in a fresh subprocess; prints the table and returns its rows."""
    rows = []
    for t in frames:
        for net in nets:
            cmd = [sys.executable, __file__, "--one", net, str(t), "--batch", str(batch),
                   "--repeats", str(repeats)]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode:
                print(f"{net} T={t}: failed: {out.stderr.strip().splitlines()[-1]}")
                continue
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\nbatch {batch}, 1x T x {SIZE}x{SIZE}, median of {repeats} steps")
    print(f"{'network':<22}{'T':>4}{'params M':>10}{'step s':>9}{'peak MiB':>10}"
          f"{'attn GFLOP':>12}{'GFLOP/clip':>12}")  # fmt: skip
    for r in rows:
        print(f"{r['net']:<22}{r['frames']:>4}{r['params_m']:>10.2f}{r['step_s']:>9.2f}"
              f"{r['peak_mib']:>10.0f}{r['attn_gflop']:>12.2f}{r['gflop']:>12.1f}")  # fmt: skip
    return rows


# --latent SCALE: (pixel recipe, latent recipe, autoencoder recipe)
LATENT_PAIRS = {
    "standard": ("dit-moving-mnist", "dit-latent-moving-mnist", "video-klae-moving-mnist"),
    "small": (
        "dit-moving-mnist-small",
        "dit-latent-moving-mnist-small",
        "video-klae-moving-mnist-small",
    ),
}


def latent_vs_pixel(
    batch: int = 8, repeats: int = 3, steps: int = 20, scale: str = "standard"
) -> None:
    """Pixel against latent video diffusion per clip, networks from the recipes of
    ``LATENT_PAIRS[scale]``: standard, ``dit-moving-mnist`` (pixels, 1x20x64x64) and
    ``dit-latent-moving-mnist`` (4x5x16x16 latents of ``video-klae-moving-mnist``); small,
    the half-scale ones (1x20x32x32, 4x5x8x8). The autoencoder's encoder runs in each
    training step and its decoder once per sample. Built fresh: training step (median
    seconds, ``batch`` clips), GFLOP of one clip's forward, and GFLOP to sample one clip
    (``steps`` forwards, plus the decoder)."""
    import dataclasses

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from genlab.models import build_model
    from genlab.recipes import get_recipe

    def gflop(fn) -> float:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            fn()
        return counter.get_total_flops() / 1e9

    torch.manual_seed(0)
    pixel_name, latent_name, ae_name = LATENT_PAIRS[scale]
    pixel_cfg = dataclasses.replace(get_recipe(pixel_name).model, inpaint=False)
    pixel = build_model(pixel_cfg)
    latent = build_model(get_recipe(latent_name).model)
    ae = build_model(get_recipe(ae_name).model).eval()
    x = torch.randn(batch, *pixel_cfg.input_shape())

    def step(net, encode: bool):
        z = x
        if encode:
            with torch.no_grad():
                z = ae.encode(x)
        t = torch.rand(len(z)).view(-1, 1, 1, 1, 1)
        noise = torch.randn_like(z)
        loss = (net((1 - t) * z + t * noise, t.flatten()) - (noise - z)).pow(2).mean()
        loss.backward()
        net.zero_grad(set_to_none=True)

    rows = []
    for name, net, enc in (("pixel DiT", pixel, False), ("latent DiT + AE", latent, True)):
        step(net, enc)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step(net, enc)
            times.append(time.perf_counter() - t0)
        shape = (1, *net.cfg.input_shape())
        fwd = gflop(lambda net=net, shape=shape: net(torch.randn(shape), torch.rand(1)))
        dec = gflop(lambda: ae.decode(torch.randn(1, *ae.latent_shape()))) if enc else 0.0
        enc_g = gflop(lambda: ae.encode(x[:1])) if enc else 0.0
        rows.append((name, statistics.median(times), fwd + enc_g, steps * fwd + dec))
    clip = "x".join(map(str, pixel_cfg.input_shape()))
    print(f"\npixel vs latent video diffusion, {clip} clips, batch {batch}")
    print(f"{'model':<20}{'step s':>9}{'train GFLOP/clip':>18}{'sample GFLOP/clip':>19}")
    for name, sec, train, sample in rows:
        print(f"{name:<20}{sec:>9.2f}{train:>18.2f}{sample:>19.1f}")
    (_, ps, pt, pg), (_, ls, lt, lg) = rows
    print(f"{'ratio pixel/latent':<20}{ps / ls:>9.1f}{pt / lt:>18.1f}{pg / lg:>19.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--frames",
        type=int,
        nargs="*",
        default=[4, 8, 16, 32],
        help="clip lengths of the attention table (no value: skip it, for --latent alone)",
    )
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--latent",
        nargs="?",
        const="standard",
        choices=LATENT_PAIRS,
        help="also pixel vs latent diffusion (standard, or small: the half-scale recipes)",
    )
    ap.add_argument("--quick", action="store_true", help="T = 4 only, one repeat")
    ap.add_argument("--one", nargs=2, metavar=("NET", "T"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.frames, args.repeats = [4], 1
    if args.repeats < 1:
        ap.error(f"--repeats: must be at least 1, got {args.repeats}")
    if not args.frames and not args.latent:
        ap.error("--frames with no value skips the attention table; add --latent for the other")
    import torch

    torch.set_num_threads(args.threads)
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.batch, args.repeats)))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    import _machine

    _machine.report()
    if args.frames:
        table(args.frames, args.batch, args.repeats, args.nets)
    if args.latent:
        latent_vs_pixel(repeats=args.repeats, scale=args.latent)


if __name__ == "__main__":
    main()
