"""Training-free editing with a diffusion/flow run: inpainting (plain replacement vs
RePaint resampling) and SDEdit, scored with the data's classifier on held-out images.

    python benchmarks/editing.py --run runs/rf-mnist [--classifier runs/eval-mnist-classifier]
        [--n 64] [--steps 20] [--jump-length 5] [--resample 4] [--sdedit-n 128]
        [--strengths 0.25,0.5,0.75,1] [--inpaint-run runs/inpaint-mnist]
        [--figure docs/img/editing_mnist.png] [--outpaint-figure docs/img/outpaint_mnist.png]
        [--jsonl rows.jsonl]

**Inpainting.** The first ``--n`` held-out images (MNIST test [8000, 10000), digits test
split), each with two masks: ``box`` (the centre square of half the side) and ``half``
(the bottom half). Each image is completed twice (seeds ``i`` and ``n + i``) with the run's
null class (no label given: the known pixels alone must carry the digit) and no guidance.
Columns: PSNR on the known pixels (``inf`` = kept exactly), ``label``: the classifier's
agreement with the image's true label on the completions, ``diversity``: RMS difference
between the two completions inside the mask (0 would be a deterministic fill), network
evaluations per completion, seconds per completion. Beside them, the classifier on the
originals (the ceiling) and on the masked input with the hole filled black.
``--inpaint-run`` adds the trained inpainting model (``inpaint-DATA``: the same network
and sampler, reading the mask and masked image, no replacement) on the same images.

**SDEdit** (Meng et al. 2022): the guide is a held-out image average-pooled by 4 (by 2 on
8x8 digits) and blown back up (a blocky "stroke painting"), edited at each strength with
the null class. Columns: RMS distance to the guide (faithfulness), FID, precision and
recall against the held-out images with the classifier's features (realism; at
``--sdedit-n`` samples, so biased upwards; compare within the table), and ``label kept``:
the classifier's agreement with the guide's source label (on shapes: the run's class
attribute, read by that head). Strength 0 is the guide itself.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch
from sampler_defaults import score

from genlab.data import build_dataset
from genlab.errors import GenlabError
from genlab.evaluate import EXTRACTOR_FOR, heldout_config
from genlab.families import family_of
from genlab.metrics.features import get_extractor
from genlab.runs import load_model, sampler_config
from genlab.sampling.edit import extend_canvas, outpaint
from genlab.viz import save_grid


def masks(h: int, w: int) -> dict[str, torch.Tensor]:
    """``(1, 1, h, w)`` masks, 1 = regenerate."""
    box = torch.zeros(1, 1, h, w)
    box[..., h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2] = 1
    half = torch.zeros(1, 1, h, w)
    half[..., h // 2 :, :] = 1
    return {"box": box, "half": half}


def guide(x: torch.Tensor) -> torch.Tensor:
    """A blocky version of ``x``: average-pooled by 4 (2 for images under 16 px), upsampled."""
    f = 4 if x.shape[-1] >= 16 else 2
    return torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, f), scale_factor=f)


class Counter:
    """Network evaluations per image (rows seen by the networks' forward)."""

    def __init__(self, models):
        self.rows = 0
        for model in models:
            model.register_forward_hook(
                lambda m, a, o: setattr(self, "rows", self.rows + len(a[0]))
            )


def main() -> int:
    try:
        return measure()
    except GenlabError as e:
        print(f"editing.py: error: {e}", file=sys.stderr)
        return 2


def measure() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a trained diffusion/flow run on images")
    ap.add_argument("--inpaint-run", help="a trained inpainting run (inpaint-DATA) to compare")
    ap.add_argument("--classifier", help="the data's classifier run (default: runs/eval-DATA-...)")
    ap.add_argument("--n", type=int, default=64, help="held-out images to inpaint")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--sampler", default="euler")
    ap.add_argument("--jump-length", type=int, default=5)
    ap.add_argument("--resample", type=int, default=4)
    ap.add_argument("--sdedit-n", type=int, default=128)
    ap.add_argument("--strengths", default="0.25,0.5,0.75,1", help="'' skips SDEdit")
    ap.add_argument("--head", help="classifier head for 'label' on shapes (default: shape)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--figure", help="save a picture of the edits here")
    ap.add_argument("--jsonl", help="append one JSON line per row here")
    ap.add_argument("--outpaint-figure", help="save a picture of outpainted images here")
    ap.add_argument("--quick", action="store_true", help="(make bench) --n 8 --sdedit-n 16")
    a = ap.parse_args()
    if not a.run:  # `make bench` runs every script without arguments
        print("editing: no --run given; it edits with a trained run (see its docstring)")
        return 0
    if a.quick:
        a.n, a.sdedit_n = min(a.n, 8), min(a.sdedit_n, 16)
    if a.threads:
        torch.set_num_threads(a.threads)
    _machine.report()
    exp, model = load_model(Path(a.run), "ema", "cpu")
    nets = {"base": (exp, model)}
    if a.inpaint_run:
        nets["trained"] = load_model(Path(a.inpaint_run), "ema", "cpu")
    for e, _ in nets.values():
        if family_of(e.objective.kind).edit is None:
            raise GenlabError(f"{e.recipe}: a {e.objective.kind} run; editing needs diffusion")
    ref_cfg, desc = heldout_config(exp.data)
    data = build_dataset(ref_cfg)
    ext = get_extractor(EXTRACTOR_FOR[exp.data.name], path=a.classifier, device="cpu")
    counter = Counter([net for _, net in nets.values()])
    rows: list[dict] = []
    pictures: list[torch.Tensor] = []

    def edit(x, mask, seeds, strength=1.0, resample=1, which="base", key=()):
        e, net = nets[which]
        k = e.model.num_classes
        scfg = sampler_config(e, [], name=a.sampler, steps=a.steps, cfg=0.0)
        null = {"class": torch.full((len(x),), k, dtype=torch.int64)} if k else {}
        out = []
        for lo in range(0, len(x), a.batch):
            c = {key: v[lo : lo + a.batch] for key, v in null.items()}
            out.append(family_of(e.objective.kind).edit(
                net, e, seeds[lo : lo + a.batch], c, scfg, x[lo : lo + a.batch], mask,
                strength=strength, jump_length=a.jump_length, resample=resample, key=key,
            ))  # fmt: skip
        return torch.cat(out)

    # shapes: the label is the classifier's --head (default shape) against that attribute
    head = a.head or ("shape" if "shape" in ext.heads else None)

    def predict(x):
        return ext.logits(x, head).argmax(1)

    x, y = data.x[: a.n], data.cond[head if head in data.cond else "class"][: a.n]
    n = len(x)
    print(f"\n## Inpainting: {exp.recipe} ({a.run}), {n} held-out images ({desc}), "
          f"{a.sampler} {a.steps} steps, null class, no guidance\n")  # fmt: skip
    label_col = f"label ({head})" if head else "label"
    print(f"| mask | method | PSNR known | {label_col} | diversity | NFE / image | s / image |")
    print("|---|---|---|---|---|---|---|")
    ceiling = float((predict(x) == y).float().mean())
    for mname, m in masks(*x.shape[-2:]).items():
        holed = torch.where(m.bool().expand_as(x), torch.full_like(x, -1.0), x)
        floor = float((predict(holed) == y).float().mean())
        print(f"| {mname} | original (ceiling) | - | {ceiling:.3f} | - | - | - |")
        print(f"| {mname} | hole left black | - | {floor:.3f} | - | - | - |")
        pictures += [torch.where(m.bool().expand_as(x), torch.zeros_like(x), x)[:10], x[:10]]
        methods = [("replacement", 1, "base")]
        methods.append((f"RePaint j={a.jump_length} r={a.resample}", a.resample, "base"))
        if "trained" in nets:
            methods.append((f"trained: {nets['trained'][0].recipe}", 1, "trained"))
        for method, r, which in methods:
            counter.rows, tic = 0, time.perf_counter()
            outs = [edit(x, m, [s + i for i in range(n)], resample=r, which=which) for s in (0, n)]
            sec = (time.perf_counter() - tic) / (2 * n)
            nfe = counter.rows / (2 * n)
            keep = ~m.bool().expand_as(x)
            mse = max(float(((outs[0] - x)[keep] ** 2).mean()), 0.0)
            psnr = math.inf if mse == 0 else 10 * math.log10(4 / mse)  # peak-to-peak 2
            label = float(torch.stack([(predict(o) == y).float() for o in outs]).mean())
            hole = m.bool().expand_as(x)
            div = float(((outs[0] - outs[1])[hole] ** 2).mean().sqrt())
            row = dict(part="inpaint", run=exp.recipe, mask=mname, method=method, psnr_known=psnr,
                       label=label, diversity=div, nfe=nfe, s_per_image=sec, n=n)  # fmt: skip
            rows.append(row)
            print(f"| {mname} | {method} | {psnr:.1f} | {label:.3f} | {div:.3f} | {nfe:.0f} "
                  f"| {sec:.2f} |")  # fmt: skip
            pictures.append(outs[0][:10])

    if a.strengths:
        # "label kept" reads the run's class attribute (shapes: the head of data.label)
        class_head = getattr(exp.data, "label", None)
        class_head = class_head if class_head in ext.heads else None
        sdedit_table(a, data, ref_cfg, desc, ext, edit, rows, pictures, class_head)
    if a.outpaint_figure:
        outpaint_figure(a, data.x[:10], edit)
    finish(a, rows, pictures)
    return 0


def outpaint_figure(a, x, edit) -> None:
    """Each image grown by half its width on the left and right and a quarter of its
    height at the bottom, two seeds, beside the original on the grown canvas."""
    h, w = x.shape[-2:]
    grow = {"left": w // 2, "right": w // 2, "bottom": h // 4}
    outs = [
        outpaint(
            lambda win, m, k, s=s: edit(win, m, [s + i for i in range(len(x))], key=(k,)),
            x.clone(),
            grow,
            (h, w),
        )  # fmt: skip
        for s in (0, len(x))
    ]
    canvas, new = extend_canvas(x, grow)
    for o in outs:  # the original pixels, exactly
        assert torch.equal(o[..., :h, grow["left"] : grow["left"] + w], x)
    shown = torch.where(new.bool().expand_as(canvas), torch.zeros_like(canvas), canvas)
    save_grid(torch.cat([shown, *outs]), Path(a.outpaint_figure), nrow=len(x))
    print(f"wrote {a.outpaint_figure}: the originals on the grown canvas (grey = new), then "
          f"two outpaintings ({', '.join(f'{k}={v}' for k, v in grow.items())})")  # fmt: skip


def sdedit_table(a, data, ref_cfg, desc, ext, edit, rows, pictures, class_head=None) -> None:
    xs, ys = data.x[: a.sdedit_n], data.cond["class"][: a.sdedit_n]
    g = guide(xs)
    print(f"\n## SDEdit: {len(xs)} blocky guides of held-out images, null class, "
          f"{a.sampler} {a.steps}-step grid\n")  # fmt: skip
    kept = f"label kept ({class_head})" if class_head else "label kept"
    print(f"| strength | steps run | RMS to guide | FID | precision | recall | {kept} |")
    print("|---|---|---|---|---|---|---|")
    ones = torch.ones(1, 1, *xs.shape[-2:])
    strengths = [0.0] + [float(s) for s in a.strengths.split(",")]
    strip = [g[:10]]
    for s in strengths:
        out = g if s == 0 else edit(g, ones, list(range(len(g))), strength=s)
        rms = float(((out - g) ** 2).mean().sqrt())
        sc = score(out, ys, ref_cfg, desc, ext, None)
        if class_head:  # the class is one attribute of several: read it with its own head
            sc["acc"] = float((ext.logits(out, class_head).argmax(1) == ys).float().mean())
        run_steps = math.floor(a.steps * s + 1e-9)
        row = dict(part="sdedit", strength=s, steps_run=run_steps, rms=rms,
                   n=len(xs), **sc)  # fmt: skip
        rows.append(row)
        print(f"| {s:g} | {run_steps} | {rms:.3f} | {sc['fid']:.1f} | {sc['precision']:.3f} "
              f"| {sc['recall']:.3f} | {sc['acc']:.3f} |")  # fmt: skip
        if s:
            strip.append(out[:10])
    pictures += strip


def finish(a, rows, pictures) -> None:
    if a.jsonl:
        with open(a.jsonl, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    if a.figure:
        save_grid(torch.cat(pictures), Path(a.figure), nrow=10)
        rows_per_mask = "replacement, RePaint" + (", trained" if a.inpaint_run else "")
        print(f"\nwrote {a.figure}: per mask, rows = input with the hole grey, original, "
              f"{rows_per_mask}; then SDEdit: guide, strengths {a.strengths}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
