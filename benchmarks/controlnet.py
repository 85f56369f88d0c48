"""ControlNet adherence over training: does a sample follow its control image?

    python benchmarks/controlnet.py --run runs/controlnet-mnist
        [--classifier runs/eval-mnist-classifier] [--n 64] [--steps 15]
        [--figure docs/img/controlnet_mnist.png] [--jsonl rows.jsonl]

The first ``--n`` held-out images (MNIST test [8000, 10000); shapes from the held-out
seed) give the controls, made as in training (``model.control``: ``edges`` = outlines,
``position`` = a blob where the object is; ``genlab.data.pairs``). For the run's step-0
network (the base alone: the zero convolutions output nothing) and every checkpoint in
``RUN/checkpoints``, one sample per control is drawn with the run's sampler. Columns:

- ``iou``: intersection over union of the sample's ink (pixels above mid-grey, any
  channel) with the ink of the image the control came from (mask-IoU adherence);
- MNIST, sampled with the **null class** so only the outline says which digit to draw:
  ``label``, the classifier's agreement with that digit's label, and ``outline``, the
  share of the control's outline pixels the sample inks;
- shapes, sampled with the source image's **colour class** (the control is colourless):
  ``color``, the classifier's agreement with that class, and ``shape``, ``size``,
  ``position``, its agreement with the source image's attributes.

The ControlNet paper reports a "sudden convergence": adherence stays near the base
model's, then jumps within a few hundred steps. The step where ``iou`` (or ``position``
for a position control) first passes half of the way from step 0 to its last value is
printed as the jump.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.checkpoint import load_into
from genlab.data import build_dataset, heldout_config
from genlab.data.pairs import make_source
from genlab.errors import GenlabError
from genlab.evaluate import EXTRACTOR_FOR
from genlab.families import family_of
from genlab.families.diffusion import control_channels
from genlab.metrics.features import get_extractor
from genlab.runs import load_model, sampler_config
from genlab.viz import save_grid


def ink(x: torch.Tensor) -> torch.Tensor:
    """Pixels above mid-grey in any channel ``(N, H, W)`` bool (images in [-1, 1])."""
    return x.amax(1) > 0


def scores(x, target, control, cond, ext) -> dict:
    a, b = ink(x), ink(target)
    iou = (a & b).flatten(1).sum(1) / (a | b).flatten(1).sum(1).clamp(min=1)
    out = {"iou": float(iou.mean())}
    if "class" in ext.heads:  # MNIST: one label head
        line = control.amax(1) > 0
        outline = (a & line).flatten(1).sum(1) / line.flatten(1).sum(1).clamp(min=1)
        out["label"] = float((ext.logits(x).argmax(1) == cond["class"]).float().mean())
        out["outline"] = float(outline.mean())
        return out
    heads = ext.all_logits(x)
    for k in ("color", "shape", "size", "position"):
        out[k] = float((heads[k].argmax(1) == cond[k]).float().mean())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a ControlNet run (controlnet-mnist)")
    ap.add_argument("--classifier", help="the data's classifier run (default runs/eval-mnist-...)")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--steps", type=int, help="sampler steps (default: the run's)")
    ap.add_argument("--figure", help="controls, base samples and last samples, as rows")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jsonl")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    _machine.report()
    try:
        exp, model = load_model(Path(a.run))
    except GenlabError as e:
        print(f"controlnet.py: error: {e}", file=sys.stderr)
        return 2
    if exp.model.arch != "controlnet":
        print(f"controlnet.py: error: {a.run} is not a ControlNet run", file=sys.stderr)
        return 2
    ref_cfg, desc = heldout_config(exp.data)
    data = build_dataset(ref_cfg)
    target, labels = data.x[: a.n], {k: v[: a.n] for k, v in data.cond.items()}
    control = control_channels(exp, make_source(exp.model.control, target))
    ext = get_extractor(EXTRACTOR_FOR[exp.data.name], path=a.classifier, device="cpu")
    scfg = sampler_config(exp, steps=a.steps)
    if "class" in ext.heads:  # the control alone says which digit
        null = family_of(exp.objective.kind).null_cond(exp)
        cond, what = {k: v.expand(a.n) for k, v in null.items()}, "null class"
    else:  # the class says the colour, the control where and which shape
        cond, what = {"class": labels["class"]}, f"the source's {exp.data.label} as class"
    cond["control"] = control
    sample = family_of(exp.objective.kind).sample
    seeds = list(range(a.n))
    print(f"{a.run}: {a.n} {exp.model.control} controls of {desc}; {what}; "
          f"{scfg.name} {scfg.steps} steps")  # fmt: skip

    rows, pictures = [], [control]
    ckpts = sorted(Path(a.run, "checkpoints").glob("step_*"), key=lambda p: int(p.name[5:]))
    for step, path in [(0, None)] + [(int(p.name[5:]), p / "ema.safetensors") for p in ckpts]:
        if path is None:
            model.conditioning_scale = 0.0  # the base alone
        else:
            model.conditioning_scale = 1.0
            load_into(model, path)
        x = sample(model, exp, seeds, cond, scfg)
        rows.append({"step": step, **scores(x, target, control, labels, ext)})
        print(rows[-1], flush=True)
        if step == 0 or path == ckpts[-1] / "ema.safetensors":
            pictures.append(x)
    pictures.append(target)
    cols = [k for k in rows[0] if k != "step"]
    print("| step | " + " | ".join(cols) + " |\n" + "|---" * (1 + len(cols)) + "|")
    for r in rows:
        print(f"| {r['step']} | " + " | ".join(f"{r[k]:.3f}" for k in cols) + " |")
    key = "position" if exp.model.control == "position" else "iou"
    first, last = rows[0][key], rows[-1][key]
    jump = next((r["step"] for r in rows if r[key] >= first + (last - first) / 2), None)
    print(f"{key} passes half way ({first:.3f} -> {last:.3f}) at step {jump}")
    if a.figure:
        k = min(a.n, 12)
        c = target.shape[1]  # a one-channel control shows grey
        save_grid(torch.cat([p[:k].expand(-1, c, -1, -1) for p in pictures]), a.figure, nrow=k)
        print(f"wrote {a.figure} (rows: controls, base, step {rows[-1]['step']}, sources)")
    if a.jsonl:
        with open(a.jsonl, "a") as f:
            for r in rows:
                f.write(json.dumps({"run": a.run, **r}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
