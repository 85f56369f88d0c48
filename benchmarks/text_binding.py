"""Can a pooled text vector bind attributes? MiniLM on swapped colour-shape pairs.

    python benchmarks/text_binding.py [--max-length 32]

A text-to-image model conditioned on the pooled vector alone (adaLN only) can tell
"a red circle and a blue square" from "a blue circle and a red square" only if the
pooled vectors of the two differ. For every ordered pair of two colours and two shapes
of the ``shapes`` data, this prints the cosine similarity of MiniLM's pooled (sentence)
vectors for three kinds of prompt pairs:

- ``swapped``: the colours swapped between the two objects (same words, other binding);
- ``one colour changed``: one object's colour replaced by a third colour;
- ``one shape changed``: one object's shape replaced by a third shape;

and how often the swapped pair is *closer* than the changed pairs (then the pooled vector
says less about which colour goes with which shape than about which words occur). The
token states, read by cross-attention, are compared the same way (mean over positions of
the per-token cosine) as the alternative.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.cond.text import FrozenMiniLM
from genlab.data.configs import ShapesConfig


def cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a, b, dim=-1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    _machine.report()
    enc = FrozenMiniLM(a.max_length)
    cfg = ShapesConfig()
    colours, shapes = cfg.colors, cfg.shapes

    def prompt(c1, s1, c2, s2):
        return f"a {c1} {s1} and a {c2} {s2}"

    rows = {"swapped": [], "one colour changed": [], "one shape changed": []}
    token_rows = {k: [] for k in rows}
    closer = {"one colour changed": 0, "one shape changed": 0}
    total = 0
    for (c1, c2), (s1, s2) in itertools.product(
        itertools.permutations(colours, 2), itertools.permutations(shapes, 2)
    ):
        c3 = next(c for c in colours if c not in (c1, c2))
        s3 = next(s for s in shapes if s not in (s1, s2))
        texts = [
            prompt(c1, s1, c2, s2),
            prompt(c2, s1, c1, s2),  # swapped
            prompt(c3, s1, c2, s2),  # one colour changed
            prompt(c1, s3, c2, s2),  # one shape changed
        ]
        e = enc(texts)
        sims = cos(e.pooled[:1], e.pooled[1:])  # (3,)
        tok = cos(e.states[:1], e.states[1:])  # (3, L), per position
        real = e.mask[:1] & e.mask[1:]
        tsims = (tok * real).sum(1) / real.sum(1)
        for k, v, t in zip(rows, sims.tolist(), tsims.tolist()):
            rows[k].append(v)
            token_rows[k].append(t)
        closer["one colour changed"] += int(sims[0] > sims[1])
        closer["one shape changed"] += int(sims[0] > sims[2])
        total += 1
    print(f"MiniLM pooled vectors, {total} prompt pairs of the form 'a C1 S1 and a C2 S2'")
    print("| pair | pooled cosine: median | min | max | token states: median cosine |")
    print("|---|---|---|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {statistics.median(v):.4f} | {min(v):.4f} | {max(v):.4f} "
              f"| {statistics.median(token_rows[k]):.4f} |")  # fmt: skip
    for k, n in closer.items():
        print(f"the swapped prompt is closer than '{k}' for {n}/{total} pairs ({n / total:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
