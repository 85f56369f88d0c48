"""Is the CLIP-style dual encoder a usable judge? Its CLIP score on real held-out shapes
images with their own captions and with shuffled ones, and caption retrieval.

    python benchmarks/clip_shapes.py --clip runs/clip-shapes [--n 1000]

Held-out images: ``--n`` drawn from the run's data config with the next seed. Rows:
matched captions, shuffled captions (a fixed permutation), and one attribute changed
(the colour: the next colour in the list). Columns: both CLIP-score scalings and the mean
cosine (``genlab.metrics.clip``). Below: the share of images whose best-matching caption,
among every caption the data can hold, is their own (top-1 retrieval), and per attribute
the share whose best caption gets that attribute right.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import build_dataset
from genlab.data.configs import ATTRIBUTES, all_captions, attribute_values
from genlab.errors import GenlabError
from genlab.metrics.clip import clip_cosines, clip_scores
from genlab.runs import load_model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", help="a dual-encoder run (genlab train clip-shapes)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if not a.clip:
        print("clip_shapes: no --clip given; it scores a trained dual encoder")
        return 0
    torch.set_num_threads(a.threads)
    _machine.report()
    try:
        exp, model = load_model(Path(a.clip))
    except GenlabError as e:
        print(f"clip_shapes.py: error: {e}", file=sys.stderr)
        return 2
    data = build_dataset(dataclasses.replace(exp.data, seed=exp.data.seed + 1, n=a.n))
    names = attribute_values(exp.data)
    caps = all_captions(exp.data)
    perm = torch.randperm(a.n, generator=torch.Generator().manual_seed(0))
    k = len(names["color"])
    colour = data.cond["color"]
    recoloured = []
    for i, c in enumerate(data.captions):
        old, new = names["color"][colour[i]], names["color"][(colour[i] + 1) % k]
        recoloured.append(c.replace(f" {old} ", f" {new} "))
    print(f"\n{a.clip}: {a.n} held-out images (seed {exp.data.seed + 1})\n")
    print("| captions | clip_score (100 cos) | clip_score_hessel (2.5 cos) | mean cos |")
    print("|---|---|---|---|")
    for name, texts in (
        ("their own", data.captions),
        ("one colour changed", recoloured),
        ("shuffled", [data.captions[i] for i in perm]),
    ):
        s = clip_scores(clip_cosines(model, data.x, texts))
        print(f"| {name} | {s['clip_score']:.1f} | {s['clip_score_hessel']:.3f} | "
              f"{s['clip_cos']:.3f} |")  # fmt: skip
    ids, mask = model.tokenize(caps)
    with torch.no_grad():
        best = (model.encode_image(data.x) @ model.encode_text(ids, mask).T).argmax(1)
    print(f"\ntop-1 caption among all {len(caps)}: "
          f"{float((best == data.cond['caption']).float().mean()):.3f}")  # fmt: skip
    sizes = [len(names[x]) for x in ATTRIBUTES]
    rest = best.clone()
    for i in range(len(ATTRIBUTES) - 1, -1, -1):  # caption index -> attribute ids
        got = rest % sizes[i]
        rest = rest // sizes[i]
        right = float((got == data.cond[ATTRIBUTES[i]]).float().mean())
        print(f"  {ATTRIBUTES[i]} of the best caption right: {right:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
