"""LoRA: does a base that never saw one colour learn it, and do its other colours hold?

    python benchmarks/lora.py --base runs/rf-shapes-nocyan --lora runs/lora-shapes
        [--classifier runs/eval-shapes-classifier] [--n 200] [--scales 0,0.5,1]
        [--steps 15] [--figure docs/img/lora_shapes.png] [--jsonl rows.jsonl]

``--base`` is a colour-conditional shapes run trained without one colour
(``genlab train rf-shapes data.exclude=cyan``); ``--lora`` a LoRA run fine-tuned from it
on data with that colour (``genlab train lora-shapes``). For each adapter scale (0: the base
exactly; 1: as trained) ``--n`` samples per colour class are drawn with the same seeds
and the shapes classifier's colour head reads them. Columns: the new colour's accuracy,
the mean over the old colours and its change from the first scale (the issue's target: a
drop of at most 2 points) with the standard error of the paired per-seed differences (the
same seeds at every scale), and every colour's accuracy. Below the table: the adapter's trainable
parameters and file size as fractions of the base network's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.adapters.lora import ADAPTER_WEIGHTS, trainable_fraction
from genlab.checkpoint import load_network
from genlab.errors import GenlabError
from genlab.metrics.features import get_extractor
from genlab.runs import ADAPTER_DIR, LORA_BASE, draw, load_model, sampler_config
from genlab.viz import save_grid


def colour_correct(x: torch.Tensor, labels: torch.Tensor, ext) -> torch.Tensor:
    """``(N,)`` 1.0 where the classifier's colour head reads ``x[i]`` as ``labels[i]``."""
    return (ext.all_logits(x)["color"].argmax(1) == labels).float()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the base run, trained without one colour")
    ap.add_argument("--lora", required=True, help="the LoRA run fine-tuned from --base")
    ap.add_argument("--classifier", help="shapes classifier run (default runs/eval-shapes-...)")
    ap.add_argument("--n", type=int, default=200, help="samples per colour")
    ap.add_argument("--scales", default="0,0.5,1", help="adapter scales, comma-separated")
    ap.add_argument("--steps", type=int, help="sampler steps (default: the base run's)")
    ap.add_argument("--figure", help="8 samples per colour at scale 0 and the last scale")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jsonl")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    _machine.report()
    try:
        exp_l, tuned = load_model(Path(a.lora))
        exp = load_model(Path(a.base))[0]
    except GenlabError as e:
        print(f"lora.py: error: {e}", file=sys.stderr)
        return 2
    if exp.data.name != "shapes" or exp.data.label != "color" or not exp_l.lora.rank:
        print("lora.py: error: needs a colour-conditional shapes base and a LoRA run of it",
              file=sys.stderr)  # fmt: skip
        return 2
    names = exp.data.colors
    # the new colours: those the base's data left out (data.exclude), else those the
    # LoRA run kept (data.keep)
    new = [names.index(c) for c in exp.data.exclude if c in names]
    new = new or [names.index(c) for c in exp_l.data.keep if c in names]
    old = [c for c in range(len(names)) if c not in new]
    if not new or not old:
        print(f"lora.py: error: {a.base} must leave out some colours (data.exclude) that "
              f"{a.lora} learns", file=sys.stderr)  # fmt: skip
        return 2
    try:
        scales = [float(s) for s in a.scales.split(",")]
    except ValueError:
        print(f"lora.py: error: --scales: {a.scales!r} is not a list of numbers", file=sys.stderr)
        return 2
    pin = Path(a.lora, LORA_BASE)
    if pin.is_file():
        trained_on = json.loads(pin.read_text())["fingerprint"]
        if trained_on != load_network(a.base, "ema").fingerprint:
            print(f"lora.py: warning: {a.lora} was trained on other weights than {a.base}'s")
    ext = get_extractor("shapes", path=a.classifier, device="cpu")
    scfg = sampler_config(exp, steps=a.steps)
    labels = torch.arange(len(names)).repeat_interleave(a.n)
    seeds = list(range(len(labels)))
    print(f"{a.base} + {a.lora}: {a.n} samples per colour, {scfg.name} {scfg.steps} steps, "
          f"cfg {scfg.cfg}; new: {', '.join(names[c] for c in new)}")  # fmt: skip

    rows, pictures = [], []
    for scale in scales:
        _, model = load_model(Path(a.base), lora=[f"{a.lora}:{scale}"])
        x = torch.cat([draw(model, exp, seeds[i : i + 600], {"class": labels[i : i + 600]}, scfg)
                       for i in range(0, len(seeds), 600)])  # fmt: skip
        right = colour_correct(x, labels, ext)
        acc = [float(right[labels == c].mean()) for c in range(len(names))]
        is_old = torch.isin(labels, torch.tensor(old))
        if not rows:
            right0 = right
        # the old colours' change from the first scale, seed by seed: the same seeds are
        # drawn at every scale, so its standard error is that of the paired differences
        d = (right - right0)[is_old]
        row = {
            "scale": scale,
            "new": sum(acc[c] for c in new) / len(new),
            "old": sum(acc[c] for c in old) / len(old),
            "change": float(d.mean()),
            "change_se": float(d.std() / len(d) ** 0.5),
            **{names[c]: acc[c] for c in range(len(names))},
        }
        rows.append(row)
        print(row, flush=True)
        pick = torch.cat([(labels == c).nonzero().squeeze(1)[:8] for c in range(len(names))])
        pictures.append(x[pick])

    print("| scale | new colour | old colours | change (paired s.e.) | " + " | ".join(names) + " |")
    print("|---" * (4 + len(names)) + "|")
    for r in rows:
        cells = " | ".join(f"{r[c]:.3f}" for c in names)
        print(f"| {r['scale']:g} | {r['new']:.3f} | {r['old']:.3f} | "
              f"{100 * r['change']:+.1f} ({100 * r['change_se']:.1f}) pts | {cells} |")  # fmt: skip
    n_lora, n_base = trainable_fraction(tuned)
    adapter = Path(a.lora, ADAPTER_DIR, ADAPTER_WEIGHTS).stat().st_size
    base_file = Path(a.base, "ema.safetensors").stat().st_size
    print(f"adapter: {n_lora:,} trainable parameters = {n_lora / n_base:.1%} of the base's "
          f"{n_base:,}; {ADAPTER_WEIGHTS} {adapter / 1e3:.0f} kB = {adapter / base_file:.1%} "
          f"of the base's ema.safetensors ({base_file / 1e6:.2f} MB)")  # fmt: skip
    if a.figure:
        first, last = pictures[0], pictures[-1]
        grid = [torch.cat([first[8 * c : 8 * c + 8], last[8 * c : 8 * c + 8]])
                for c in range(len(names))]  # fmt: skip
        save_grid(torch.cat(grid), a.figure, nrow=16)
        print(f"wrote {a.figure} (a row per colour: 8 at scale {rows[0]['scale']:g}, "
              f"then 8 at {rows[-1]['scale']:g})")  # fmt: skip
    if a.jsonl:
        with open(a.jsonl, "a") as f:
            for r in rows:
                f.write(json.dumps({"base": a.base, "lora": a.lora, **r}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
