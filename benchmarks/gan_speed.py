"""Generator inference speed: one GAN forward pass vs a 10-step diffusion sampler.

The seed's claim: "GANs remain faster at inference: a single forward pass vs 20-50
denoising steps". Both networks are untrained (speed does not depend on the weights),
28x28x1 (MNIST-sized), batch 128, one CPU thread, measured interleaved in the same run;
the table gives median samples/s over repeats, the speed ratio, and beside it the ratio
of FLOPs per sample (counted by ``genlab.train.flops.count_flops``), which says how much of the
speed-up is less work rather than faster work. The diffusion peer is
genlab's U-Net (``models/unet.py``) with the width whose parameter count is nearest to
the GAN generator's, sampled by ``genlab.families.diffusion.sample`` (Euler, 10 steps).

    python benchmarks/gan_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch


def nparams(m) -> int:
    return sum(p.numel() for p in m.parameters())


def main(argv: list[str] | None = None) -> int:
    from genlab.families import family_of
    from genlab.models import build_model, preset
    from genlab.recipes import get_recipe
    from genlab.runs import override
    from genlab.train.flops import count_flops

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="batch 32, 3 repeats")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    _machine.report()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    batch, repeats = (32, 3) if args.quick else (args.batch, args.repeats)
    seeds = list(range(batch))
    gan = family_of("gan")
    gens = {}
    for recipe in ("dcgan-mnist", "stylegan-mnist"):
        exp = get_recipe(recipe)
        gens[recipe] = (exp, gan.build(exp).eval())
    target = nparams(gens["dcgan-mnist"][1])
    unets = [
        build_model(preset("unet-small", image_size=28, in_channels=1, channels=c))
        for c in (16, 24, 32, 40, 48)
    ]
    unet = min(unets, key=lambda u: abs(nparams(u) - target)).eval()
    rf = override(get_recipe("rf-digits"), ["sampler.steps=10", "sampler.cfg=0"])
    rf.model = unet.cfg if hasattr(unet, "cfg") else rf.model
    diff = family_of("denoise")

    runs = {
        name: (lambda e=e, g=g: gan.sample(g, e, seeds, {}, e.sampler))
        for name, (e, g) in gens.items()
    }
    runs["unet euler-10"] = lambda: diff.sample(unet, rf, seeds, {}, rf.sampler)
    sizes = {name: nparams(g) for name, (_, g) in gens.items()} | {"unet euler-10": nparams(unet)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    with torch.no_grad():
        for f in runs.values():
            f()  # warm-up
        for _ in range(repeats):
            for name, f in runs.items():
                tic = time.perf_counter()
                x = f()
                times[name].append(time.perf_counter() - tic)
                assert x.shape == (batch, 1, 28, 28), x.shape
        flops = {}
        for name, f in runs.items():  # the work per sample, counted once (forward only)
            flops[name] = count_flops(f)[1] / batch
    rate = {k: batch / statistics.median(v) for k, v in times.items()}
    print(f"\nInference speed, 28x28x1, batch {batch}, 1 CPU thread, median of {repeats}\n")
    print("| generator | parameters | MFLOP/sample | samples/s | speed x diffusion | FLOP ratio |")
    print("|---|---|---|---|---|---|")
    ref = "unet euler-10"
    for name in runs:
        ratio = rate[name] / rate[ref]
        fr = flops[ref] / flops[name]
        print(
            f"| {name} | {sizes[name] / 1e6:.2f}M | {flops[name] / 1e6:.1f} | {rate[name]:.0f} | "
            f"{ratio:.1f} | {fr:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
