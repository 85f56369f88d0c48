"""WaveNet generation with and without the per-layer queues (Paine et al. 2016), measured
side by side on the ``wavenet-fsdd`` network (random weights: the cost does not depend
on them).

    python benchmarks/wavenet_speed.py [--samples 2048] [--batch 4] [--repeats 3]
        [--threads 1]

Without the cache each new sample runs the network over the last receptive field of
codes (2,047 for ``wavenet-small``): O(L x receptive field). With it, each layer keeps
its last ``dilation`` inputs and a sample costs one kernel-2 convolution per layer: O(L).
Both draw the same codes from the same seeds (checked here, and in
tests/models/test_wavenet.py). Reported: seconds (median of ``--repeats``), audio
seconds generated per wall second at 8 kHz, and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.models import build_model
from genlab.recipes import get_recipe
from genlab.sampling.tokens import generate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2048, help="codes generated per clip")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    _machine.report()
    exp = get_recipe("wavenet-fsdd")
    torch.manual_seed(0)
    model = build_model(exp.model).eval()
    seeds = list(range(args.batch))
    cond = {"class": torch.arange(args.batch) % 10, "speaker": torch.arange(args.batch) % 6}
    rate = exp.data.sample_rate
    times: dict[bool, list[float]] = {True: [], False: []}
    codes = {}
    for _ in range(args.repeats):
        for cached in (True, False):  # interleaved, so load changes hit both
            tic = time.perf_counter()
            codes[cached] = generate(model, args.samples, seeds, cond, use_cache=cached)
            times[cached].append(time.perf_counter() - tic)
    same = torch.equal(codes[True], codes[False])
    audio = args.batch * args.samples / rate
    print(f"\nwavenet-small: receptive field {exp.model.receptive_field()} samples; "
          f"{args.batch} clips x {args.samples} samples; same codes: {same}")  # fmt: skip
    print("| generation | seconds (median) | audio s / s |")
    print("|---|---|---|")
    for cached, name in ((False, "no cache (last receptive field)"), (True, "queues (cached)")):
        t = statistics.median(times[cached])
        print(f"| {name} | {t:.1f} | {audio / t:.3f} |")
    ratio = statistics.median(times[False]) / statistics.median(times[True])
    print(f"\nspeed-up of the cache: {ratio:.1f}x")


if __name__ == "__main__":
    main()
