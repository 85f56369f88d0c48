"""Image-to-image translation (Pix2Pix, CycleGAN) scored with the data's classifier: the
FCN-score idea of Isola et al. (2017, Sec. 4.2), a network trained on real images judging
translated ones, with the real images' score printed beside as the ceiling.

    python benchmarks/translation.py --run runs/pix2pix-shapes [--run runs/cyclegan-shapes ...]
        [--classifier runs/eval-shapes-classifier] [--n 500] [--figures docs/img]
        [--jsonl rows.jsonl]

Every run is measured on the first ``--n`` images of its data's held-out part (MNIST test
[8000, 10000); ``shapes`` drawn with the next seed), never trained on.

**Pix2Pix.** Sources are made from the held-out targets as in training (``edges``:
outlines; ``break``: two bands erased, seeded by image). Rows: ``source`` (the classifier
on the sources themselves: what the input alone tells it), ``pix2pix`` (on the
translations) and ``real`` (on the targets: the ceiling). Columns: each attribute's
accuracy against the image's true labels (``shapes``: shape, colour, size, position;
MNIST: the digit), and the mean absolute error and PSNR to the target.

**CycleGAN.** Held-out images of domain A are translated to B (``a2b``) and of B to A
(``b2a``). Columns: ``target`` is the share the classifier puts in the target domain (e.g.
a circle's translation read as a square); the other attributes' accuracy against the
*source* image's labels measures what the translation preserves. Rows ``a2b then b2a``
(and back) score the cycle's reconstructions against the source (``target``: back in
the source's domain), which shows whether what a translation lost is hidden in it or
gone. Rows ``real A`` / ``real B`` give the classifier on real images of each domain
(the ceiling of each column).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import build_dataset, heldout_config
from genlab.errors import GenlabError
from genlab.evaluate import EXTRACTOR_FOR
from genlab.families import family_of
from genlab.families.translate import sources_of
from genlab.metrics.features import get_extractor
from genlab.runs import load_model
from genlab.viz import save_grid


def accuracy(ext, x: torch.Tensor, labels: dict[str, torch.Tensor]) -> dict[str, float]:
    """The classifier's accuracy per head on ``x`` against ``labels`` (heads it has)."""
    heads = ext.all_logits(x)
    return {k: float((heads[k].argmax(1) == v).float().mean()) for k, v in labels.items()}


def psnr(mse: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2) from the per-image MSE."""
    m = float(mse.mean())
    return math.inf if m == 0 else 10 * math.log10(4.0 / m)


def heads_for(exp, ext) -> dict[str, str]:
    """``{classifier head: data cond key}`` for the attributes both know."""
    if "class" in ext.heads:  # MNIST-like: one head over the class label
        return {"class": "class"}
    return {h: h for h in ext.heads}


def pix2pix_rows(name, exp, model, ext, x, cond, n_fig) -> tuple[list[dict], list]:
    family = family_of(exp.objective.kind)
    src = sources_of(exp, x, list(range(len(x))))
    with torch.no_grad():
        y = torch.cat([family.translate(model, exp, s, "a2b") for s in src.split(256)])
    labels = {h: cond[k] for h, k in heads_for(exp, ext).items()}
    rows = []
    for row, images in (("source", src), ("pix2pix", y), ("real", x)):
        err = (images - x).flatten(1)
        rows.append({
            "run": name, "row": row, **accuracy(ext, images, labels),
            "mae": float(err.abs().mean()), "psnr": psnr(err.square().mean(1)),
        })  # fmt: skip
    return rows, [src[:n_fig], y[:n_fig], x[:n_fig]]


def cyclegan_rows(name, exp, model, ext, x, cond, n_fig) -> tuple[list[dict], list]:
    o, family = exp.objective, family_of(exp.objective.kind)
    attrs = [h for h in ext.heads if h != "shape"]
    rows, pictures = [], []
    for direction, src_dom, dst_dom in (("a2b", o.domain_a, o.domain_b),
                                        ("b2a", o.domain_b, o.domain_a)):  # fmt: skip
        sel = cond["class"] == src_dom
        a = x[sel]
        with torch.no_grad():
            y = torch.cat([family.translate(model, exp, s, direction) for s in a.split(256)])
        shape = ext.all_logits(y)["shape"].argmax(1)
        keep = accuracy(ext, y, {h: cond[h][sel] for h in attrs})
        rows.append({
            "run": name, "row": direction, "n": len(a),
            "target": float((shape == dst_dom).float().mean()), **keep,
        })  # fmt: skip
        back = "b2a" if direction == "a2b" else "a2b"
        with torch.no_grad():  # the cycle: is what the translation lost still recoverable?
            r = torch.cat([family.translate(model, exp, s, back) for s in y.split(256)])
        rows.append({
            "run": name, "row": f"{direction} then {back}", "n": len(a),
            "target": float((ext.all_logits(r)["shape"].argmax(1) == src_dom).float().mean()),
            **accuracy(ext, r, {h: cond[h][sel] for h in attrs}),
        })  # fmt: skip
        real = accuracy(ext, a, {h: cond[h][sel] for h in attrs})
        real_shape = ext.all_logits(a)["shape"].argmax(1)
        rows.append({
            "run": name, "row": f"real {'A' if src_dom == o.domain_a else 'B'}", "n": len(a),
            "target": float((real_shape == src_dom).float().mean()), **real,
        })  # fmt: skip
        pictures += [a[:n_fig], y[:n_fig]]
    return rows, pictures


def table(rows: list[dict]) -> None:
    cols = [c for c in rows[0] if c != "run"]
    for r in rows[1:]:
        cols += [c for c in r if c not in cols and c != "run"]
    print("| run | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append(f"{v:.3f}" if isinstance(v, float) and c not in ("psnr",) else
                         f"{v:.1f}" if isinstance(v, float) else str(v))  # fmt: skip
        print(f"| {r['run']} | " + " | ".join(cells) + " |")


def measure(a) -> int:
    torch.set_num_threads(a.threads)
    _machine.report()
    all_rows = []
    for run in a.run:
        exp, model = load_model(Path(run))
        if exp.objective.kind not in ("pix2pix", "cyclegan"):
            raise GenlabError(f"{run}: a {exp.objective.kind} run; this benchmark is for Pix2Pix "
                              "and CycleGAN runs")  # fmt: skip
        ref_cfg, desc = heldout_config(exp.data)
        data = build_dataset(ref_cfg)
        x = data.x[: a.n] if exp.objective.kind == "pix2pix" else data.x
        cond = {k: v[: len(x)] for k, v in data.cond.items()}
        if exp.objective.kind == "cyclegan":  # the first n of each domain
            keep = torch.zeros(len(x), dtype=torch.bool)
            for dom in (exp.objective.domain_a, exp.objective.domain_b):
                keep[(cond["class"] == dom).nonzero().squeeze(1)[: a.n]] = True
            x, cond = x[keep], {k: v[keep] for k, v in cond.items()}
        extractor = EXTRACTOR_FOR[exp.data.name]
        ext = get_extractor(extractor, path=a.classifier.get(extractor), device="cpu")
        print(f"{run}: {len(x)} images of {desc}", flush=True)
        fn = pix2pix_rows if exp.objective.kind == "pix2pix" else cyclegan_rows
        rows, pictures = fn(Path(run).name, exp, model, ext, x, cond, a.fig_n)
        all_rows += rows
        if a.figures:
            out = Path(a.figures) / f"{Path(run).name}.png"
            save_grid(torch.cat(pictures), out, nrow=a.fig_n)
            print(f"wrote {out} (rows: {', '.join(fn_rows(exp))})")
    table(all_rows)
    if a.jsonl:
        with open(a.jsonl, "a") as f:
            for r in all_rows:
                f.write(json.dumps(r) + "\n")
    return 0


def fn_rows(exp) -> list[str]:
    if exp.objective.kind == "pix2pix":
        return ["sources", "translations", "targets"]
    return ["A", "A -> B", "B", "B -> A"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True, help="a Pix2Pix or CycleGAN run")
    ap.add_argument(
        "--classifier",
        action="append",
        default=[],
        metavar="RUN",
        help="classifier run(s), e.g. runs/eval-shapes-classifier (default: runs/eval-DATA-...)",
    )
    ap.add_argument("--n", type=int, default=500, help="held-out images (per domain: CycleGAN)")
    ap.add_argument("--figures", help="folder for one picture per run (source/output rows)")
    ap.add_argument("--fig-n", type=int, default=10, help="columns of each picture")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jsonl", help="append the rows to this file")
    a = ap.parse_args()
    by_data = {}
    for c in a.classifier:
        name = Path(c).name.removeprefix("eval-").removesuffix("-classifier")
        by_data[name] = c
    a.classifier = by_data
    try:
        return measure(a)
    except GenlabError as e:
        print(f"translation.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
