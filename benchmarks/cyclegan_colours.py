"""Does a CycleGAN on shapes keep the colour? Per input colour, the mean colour each
generator paints, and how far each output channel ever gets before its tanh.

    python benchmarks/cyclegan_colours.py --run runs/cyclegan-shapes [--n 300]

For held-out circles (domain A) and squares (B), drawn with the next seed: ``a2b`` is G
on circles (the translation), ``b2a`` F on squares; ``G on B`` and ``F on A`` are the
identity terms' inputs (a generator fed its own target domain should change nothing).
Each row gives the input's mean object colour, the output's mean colour over its inked
pixels (any channel above -0.3) and the inked fraction of the output against the
input's. Below: each generator's largest pre-activation per output channel over the
batch. A channel whose largest value stays well below 0 never lights a pixel: its tanh
is saturated at -1, where the gradient vanishes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data.shapes import make_shapes
from genlab.errors import GenlabError
from genlab.runs import load_model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", help="a CycleGAN run on shapes (circle <-> square)")
    ap.add_argument("--n", type=int, default=300, help="held-out images drawn (both shapes)")
    ap.add_argument("--weights", default="ema")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if not a.run:
        print("cyclegan_colours: no --run given; it reads a trained CycleGAN (see its docstring)")
        return 0
    torch.set_num_threads(a.threads)
    _machine.report()
    try:
        exp, model = load_model(Path(a.run), a.weights)
    except GenlabError as e:
        print(f"cyclegan_colours.py: error: {e}", file=sys.stderr)
        return 2
    if exp.objective.kind != "cyclegan" or exp.data.name != "shapes":
        print(f"cyclegan_colours.py: error: {a.run} is not a CycleGAN on shapes", file=sys.stderr)
        return 2
    data = make_shapes(dataclasses.replace(exp.data, seed=exp.data.seed + 1, n=a.n))
    names = data.attributes["color"]
    model.eval()
    gens = {"a2b": model.g_ab, "b2a": model.g_ba}
    print("\n| generator | input | input colour | output colour | ink out / in |")
    print("|---|---|---|---|---|")
    for label, gen, domain in (
        ("G (a2b)", "a2b", exp.objective.domain_a), ("F (b2a)", "b2a", exp.objective.domain_b),
        ("G on B (identity)", "a2b", exp.objective.domain_b),
        ("F on A (identity)", "b2a", exp.objective.domain_a),
    ):  # fmt: skip
        sel = data.cond["shape"] == domain
        x, colour = data.x[sel], data.cond["color"][sel]
        with torch.no_grad():
            y = gens[gen](x)
        ink_in, ink_out = (x > -0.5).any(1, keepdim=True), (y > -0.3).any(1, keepdim=True)
        for k, name in enumerate(names):
            s = colour == k
            if not s.any():
                continue
            c_in = (x[s] * ink_in[s]).sum((0, 2, 3)) / ink_in[s].sum()
            c_out = (y[s] * ink_out[s]).sum((0, 2, 3)) / ink_out[s].sum().clamp(min=1)
            ratio = float(ink_out[s].float().mean() / ink_in[s].float().mean())
            rgb = ", ".join(f"{v:+.2f}" for v in c_out.tolist()) if ink_out[s].any() else "-"
            print(f"| {label} | {name} | {', '.join(f'{v:+.2f}' for v in c_in.tolist())} "
                  f"| {rgb} | {ratio:.2f} |")  # fmt: skip
    print("\n| generator | largest pre-activation per output channel (R, G, B) |")
    print("|---|---|")
    for gen, net in gens.items():
        body = torch.nn.Sequential(*list(net.net)[:-1])  # all but the final tanh
        with torch.no_grad():
            pre = body(data.x).amax((0, 2, 3))
        print(f"| {gen} | {', '.join(f'{v:+.1f}' for v in pre.tolist())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
