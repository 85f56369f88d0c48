"""Text-to-image on shapes: do the prompts' attributes come out, on combinations seen in
training and on combinations the run never saw?

    python benchmarks/t2i_shapes.py --run runs/t2i-shapes [--run runs/t2i-shapes-words ...]
        [--classifier runs/eval-shapes-classifier] [--n 300] [--cfgs 0,1,3,6]
        [--interval 0.3,1] [--rescale 0.7] [--guidance-w 3] [--steps 15] [--sampler heun]
        [--set churn=10] [--clip runs/clip-shapes]
        [--autoguidance runs/t2i-shapes/checkpoints/step_00002000]
        [--figure docs/img/t2i_shapes.png] [--jsonl rows.jsonl]

For each run (a text run on ``shapes``, e.g. ``genlab train t2i-shapes``):

- **seen** prompts: the captions of ``--n`` held-out images drawn from the run's own data
  config with the next seed, so every one is a combination the run trained on (not the
  same images);
- **held-out** prompts: ``--n`` captions drawn uniformly among the combinations the run's
  ``data.exclude`` / ``data.keep`` left out (``t2i-shapes`` leaves out 5 shape x colour
  and 6 colour x position pairs), when there are any.

Each prompt is sampled once (seed = its row) with the run's sampler at each CFG weight of
``--cfgs``, then with ``--interval`` (guidance only for ``lo <= t <= hi``) and with
``--rescale`` (guidance rescale phi) at ``--guidance-w`` (default the run's own weight,
or w = 3 when the run's is 0, as for the text-to-image recipes now). The shapes classifier's four
heads read every sample. Columns: exact match (all four attributes right, GenEval's
count), the accuracy of each attribute, FID with the classifier's features against
held-out images (seen prompts only: biased upwards at small ``--n``; compare within the
table) and, with ``--clip``, the CLIP score (torchmetrics' scaling, ``max(100 cos, 0)``)
of each sample against its prompt. The real held-out images are the ceiling row.
``--autoguidance GUIDE`` adds a row per non-zero weight of ``--cfgs``, guided against a
worse network (an earlier checkpoint of the run) instead of the null prompt (Karras et
al. 2024; ``sampler.autoguidance``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import build_dataset
from genlab.data.configs import ATTRIBUTES, attribute_values
from genlab.data.shapes import all_captions, allowed_mask
from genlab.errors import GenlabError
from genlab.evaluate import heldout_config
from genlab.families.diffusion import load_guide, text_cond
from genlab.metrics.clip import clip_cosines, clip_scores
from genlab.metrics.features import get_extractor, reference_features
from genlab.metrics.fid import frechet_distance, gaussian_stats
from genlab.metrics.scores import attribute_accuracy
from genlab.runs import draw, load_model, sampler_config
from genlab.viz import save_grid


def heldout_combinations(data_cfg, n: int, seed: int = 0) -> tuple[list[str], dict]:
    """``n`` captions drawn uniformly (with replacement) among the attribute combinations
    ``data_cfg`` leaves out, and their labels; ``([], {})`` when it leaves none out."""
    names = attribute_values(data_cfg)
    sizes = [len(names[a]) for a in ATTRIBUTES]
    grid = torch.cartesian_prod(*(torch.arange(k) for k in sizes))  # (810, 4), caption order
    labels = {a: grid[:, i] for i, a in enumerate(ATTRIBUTES)}
    left_out = (~allowed_mask(data_cfg, labels)).nonzero().squeeze(1)
    if not len(left_out):
        return [], {}
    g = torch.Generator().manual_seed(seed)
    pick = left_out[torch.randint(len(left_out), (n,), generator=g)]
    captions = all_captions(data_cfg)
    return [captions[i] for i in pick.tolist()], {a: v[pick] for a, v in labels.items()}


def score(x, labels, ext, ref, clip=None, texts=None) -> dict:
    heads = ext.all_logits(x)
    out = attribute_accuracy(heads, labels)
    if clip is not None:
        out["clip_score"] = clip_scores(clip_cosines(clip, x, texts))["clip_score"]
    if ref is not None:
        out["fid"] = frechet_distance(
            ref["mu"], ref["sigma"], *gaussian_stats(ext.features(x).numpy())
        )
    return out


def confusion(x, labels, ext, attribute: str, names: dict) -> None:
    """Print the classifier's reading of ``attribute`` against the prompts' (rows: asked)."""
    read = ext.all_logits(x)[attribute].argmax(1).cpu()
    asked = labels[attribute].cpu()
    values = names[attribute]
    print(f"  {attribute}: asked (rows) x read (columns): | " + " | ".join(values) + " |")
    for i, v in enumerate(values):
        counts = [int(((asked == i) & (read == j)).sum()) for j in range(len(values))]
        print(f"  | {v} | " + " | ".join(str(c) for c in counts) + " |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", default=[], help="a text run on shapes (repeat)")
    ap.add_argument("--classifier", default="runs/eval-shapes-classifier")
    ap.add_argument("--n", type=int, default=300, help="prompts per set")
    ap.add_argument("--cfgs", default="0,1,3,6", help="guidance weights w")
    ap.add_argument("--interval", default="0.3,1", help="lo,hi of the guidance interval row")
    ap.add_argument("--rescale", type=float, default=0.7, help="phi of the rescale row")
    ap.add_argument("--guidance-w", type=float, help="w of the interval and rescale rows "
                    "(default: the run's sampler.cfg, or 3 when that is 0)")  # fmt: skip
    ap.add_argument("--steps", type=int, help="sampler steps (default: the run's)")
    ap.add_argument("--sampler", help="sampler name, e.g. euler, heun (default: the run's)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a sampler setting for every row, e.g. churn=10 (repeat)")  # fmt: skip
    ap.add_argument("--confusion", choices=ATTRIBUTES,
                    help="also print this attribute's confusion matrix for each row")  # fmt: skip
    ap.add_argument("--guidance-rows", action=argparse.BooleanOptionalAction, default=True,
                    help="add the guidance interval and rescale rows")  # fmt: skip
    ap.add_argument("--autoguidance", help="a guide (RUN or RUN/checkpoints/step_N): adds "
                    "one row per non-zero weight of --cfgs, autoguided instead of CFG")  # fmt: skip
    ap.add_argument("--clip", help="a dual-encoder run (clip-shapes) for the CLIP score")
    ap.add_argument("--batch", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--figure", help="prompts x seeds at the first weight of --cfgs, then "
                    "one prompt at each weight")  # fmt: skip
    ap.add_argument("--jsonl")
    a = ap.parse_args()
    if not a.run:  # `make bench` runs every script without arguments
        print("t2i_shapes: no --run given; it scores trained text runs (see its docstring)")
        return 0
    check_args(ap, a)
    torch.set_num_threads(a.threads)
    _machine.report()
    try:
        return measure(a)
    except GenlabError as e:
        print(f"t2i_shapes.py: error: {e}", file=sys.stderr)
        return 2


# Sampler settings each row sets itself: not for --set
ROW_KEYS = ("cfg", "guidance_lo", "guidance_hi", "guidance_rescale", "autoguidance")


def floats(ap, flag: str, text: str, count: int = 0) -> list[float]:
    """``text`` as comma-separated finite numbers >= 0 (``count`` of them when given), or
    an argparse error naming ``flag``."""
    try:
        out = [float(v) for v in text.split(",")]
    except ValueError:
        ap.error(f"{flag}: expected comma-separated numbers, got {text!r}")
    if count and len(out) != count:
        ap.error(f"{flag}: expected {count} numbers, got {text!r}")
    if not all(math.isfinite(v) and v >= 0 for v in out):
        ap.error(f"{flag}: every value must be a finite number >= 0, got {text!r}")
    return out


def check_set(ap, pairs: list[str]) -> None:
    """``--set KEY=VALUE`` pairs: each has ``=``, no key twice (``churn`` and
    ``sampler.churn`` are one key), none of the :data:`ROW_KEYS`. Values are checked by
    the run's sampler config (:func:`genlab.runs.sampler_config`) before any sampling."""
    seen = set()
    for o in pairs:
        key = o.split("=", 1)[0].strip().removeprefix("sampler.")
        if "=" not in o or not key:
            ap.error(f"--set: expected KEY=VALUE, got {o!r}")
        if key in seen:
            ap.error(f"--set: sampler.{key} given twice")
        if key in ROW_KEYS:
            ap.error(f"--set: sampler.{key} is set by each row (--cfgs, --interval, "
                     "--rescale, --autoguidance), not by --set")  # fmt: skip
        seen.add(key)


def check_classifier(path: str) -> None:
    """A clear error when the shapes classifier run ``path`` is missing."""
    if not (Path(path) / "config.yaml").is_file():
        raise GenlabError(f"--classifier {path}: not a trained run; train it with `genlab "
                          f"train eval-shapes-classifier --out {path}`")  # fmt: skip


def check_args(ap, a) -> None:
    if min(a.n, a.batch, a.threads) < 1:
        ap.error(f"--n, --batch and --threads: must be at least 1, got {a.n}, {a.batch} and "
                 f"{a.threads}")  # fmt: skip
    if a.figure and Path(a.figure).suffix.lower() not in (".png", ".jpg", ".jpeg"):
        ap.error(f"--figure {a.figure}: expected a .png or .jpg file")
    a.cfgs = floats(ap, "--cfgs", a.cfgs)
    a.interval = floats(ap, "--interval", a.interval, count=2)
    if not a.interval[0] <= a.interval[1] <= 1:
        ap.error(f"--interval: need lo <= hi <= 1, got {a.interval}")
    check_set(ap, a.set)
    if not 0 <= a.rescale <= 1:
        ap.error(f"--rescale: phi must be in [0, 1], got {a.rescale}")
    if a.guidance_w is not None and not (math.isfinite(a.guidance_w) and a.guidance_w > 0):
        ap.error(f"--guidance-w: must be a finite number above 0, got {a.guidance_w}")
    if a.jsonl and Path(a.jsonl).is_dir():
        ap.error(f"--jsonl {a.jsonl}: is a directory; name a file to append the rows to")


def measure(a) -> int:
    check_classifier(a.classifier)
    cfgs, (lo, hi) = a.cfgs, a.interval
    runs = []  # load and check every run and its sampler settings before any sampling
    for run in a.run:
        exp, model = load_model(Path(run))
        if not exp.text.encoder or exp.data.name != "shapes":
            raise GenlabError(f"{run}: not a text run on shapes (text.encoder, data.name)")
        base = sampler_config(
            exp, a.set, steps=a.steps, **({"name": a.sampler} if a.sampler else {})
        )
        if a.autoguidance:  # the guide is checked now, not after the first rows
            load_guide(exp, a.autoguidance, "cpu")
        runs.append((run, exp, model, base))
    ext = get_extractor("shapes", path=a.classifier, device="cpu")
    clip = None
    if a.clip:
        clip_exp, clip = load_model(Path(a.clip))
        if clip_exp.objective.kind != "contrastive":
            kind = clip_exp.objective.kind
            raise GenlabError(
                f"--clip {a.clip}: a '{kind}' run, not a dual encoder (train one with "
                "`genlab train clip-shapes`)"
            )
    rows = []
    for run, exp, model, base in runs:
        ref_cfg, desc = heldout_config(exp.data)
        held = build_dataset(dataclasses.replace(ref_cfg, n=max(a.n, 1000)))
        sets = {"seen": (held.captions[: a.n], {k: held.cond[k][: a.n] for k in ATTRIBUTES})}
        texts, labels = heldout_combinations(exp.data, a.n)
        if texts:
            sets["held-out"] = (texts, labels)
        ref = reference_features(ref_cfg, ext, None)
        real = score(held.x[: a.n], sets["seen"][1], ext, None, clip, sets["seen"][0])
        extra = "".join(f", {o.removeprefix('sampler.')}" for o in a.set)
        print(f"\n## {exp.recipe} ({run}): text encoder {exp.text.encoder}; {a.n} prompts "
              f"per set; reference {desc}; sampler {base.name}, {base.steps} steps"
              f"{extra}\n")  # fmt: skip
        print("| prompts | guidance | exact match | shape | colour | size | position | FID "
              "| CLIP score |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        cs = f"{real['clip_score']:.1f}" if "clip_score" in real else "-"
        accs = " | ".join(f"{real['acc_' + k]:.3f}" for k in ATTRIBUTES)
        print(f"| real held-out images (ceiling) | - | {real['exact_match']:.3f} | {accs} "
              f"| - | {cs} |")  # fmt: skip
        settings = [(f"w={w:g}", dataclasses.replace(base, cfg=w)) for w in cfgs]
        w0 = a.guidance_w or base.cfg or 3.0
        if a.guidance_rows:
            interval = dataclasses.replace(base, cfg=w0, guidance_lo=lo, guidance_hi=hi)
            settings.append((f"w={w0:g}, t in [{lo:g}, {hi:g}]", interval))
            rescaled = dataclasses.replace(base, cfg=w0, guidance_rescale=a.rescale)
            settings.append((f"w={w0:g}, rescale {a.rescale:g}", rescaled))
        if a.autoguidance:  # Karras et al. 2024: against a worse network, not the null prompt
            auto = dataclasses.replace(base, cfg=1.0, autoguidance=a.autoguidance)
            settings += [(f"w={w:g}, autoguidance", dataclasses.replace(auto, cfg=w))
                         for w in cfgs if w]  # fmt: skip
        pictures = {}
        for which, (texts, labels) in sets.items():
            cond = text_cond(exp, texts)
            for name, scfg in settings:
                x = torch.cat([
                    draw(model, exp, list(range(lo_, min(lo_ + a.batch, len(texts)))),
                         {k: v[lo_ : lo_ + a.batch] for k, v in cond.items()}, scfg)
                    for lo_ in range(0, len(texts), a.batch)
                ])  # fmt: skip
                s = score(x, labels, ext, ref if which == "seen" else None, clip, texts)
                row = {"run": run, "prompts": which, "guidance": name, "sampler": base.name,
                       "steps": base.steps, "set": a.set, **s}  # fmt: skip
                rows.append(row)
                fid = f"{s['fid']:.1f}" if "fid" in s else "-"
                cs = f"{s['clip_score']:.1f}" if "clip_score" in s else "-"
                print(f"| {which} | {name} | {s['exact_match']:.3f} | "
                      + " | ".join(f"{s['acc_' + k]:.3f}" for k in ATTRIBUTES)
                      + f" | {fid} | {cs} |", flush=True)  # fmt: skip
                pictures[(which, name)] = x
                if a.confusion:
                    confusion(x, labels, ext, a.confusion, attribute_values(exp.data))
        if a.figure:
            figure(a, exp, model, base, cfgs, sets, pictures, run)
    if a.jsonl:
        with open(a.jsonl, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    return 0


def figure(a, exp, model, base, cfgs, sets, pictures, run) -> None:
    """Rows: 8 prompts (4 seen, 4 held-out) x 8 seeds at the first weight of ``cfgs``;
    then one prompt at each weight of ``cfgs`` (8 seeds each)."""
    texts = sets["seen"][0][:4] + (sets["held-out"][0][:4] if "held-out" in sets else [])
    seeds = list(range(8))
    first = dataclasses.replace(base, cfg=cfgs[0])
    grid = [draw(model, exp, seeds, text_cond(exp, [t] * 8), first) for t in texts]
    one = texts[0]
    sweep = [draw(model, exp, seeds, text_cond(exp, [one] * 8), dataclasses.replace(base, cfg=w))
             for w in cfgs]  # fmt: skip
    out = (
        Path(a.figure)
        if len(a.run) == 1
        else Path(a.figure).with_stem(f"{Path(a.figure).stem}_{Path(run).name}")
    )
    save_grid(torch.cat(grid + sweep), out, nrow=8)
    print(f"wrote {out}: rows = {', '.join(repr(t) for t in texts)} (8 seeds each), then "
          f"{one!r} at w = {', '.join(f'{w:g}' for w in cfgs)}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
