"""Why does the shapes classifier read text-to-image samples as too large? The faint
noise a sampler leaves on the black background, measured per sampler setting.

    python benchmarks/t2i_background.py --run runs/t2i-shapes-6k \
        [--classifier runs/eval-shapes-classifier] [--n 300] [--sampler heun] [--steps 30] \
        [--churn 0,10]

``shapes`` images are one shape on a background that is exactly -1 (black) on every
channel. A sample's **background** here is every pixel whose brightest channel is below
-0.9 (under 5% of the way from black to full); its residual is ``x + 1`` there. On real
images that is 0 but for the faintest anti-aliased rim pixels of the shape (sd under
0.001). For each setting (``--sampler`` with each ``--churn``, EDM's
``S_churn``; 0 is the deterministic ODE; each step raises the noise level by the
factor ``1 + min(churn / steps, sqrt(2) - 1)``, so churn above ``0.414 * steps`` changes
nothing more) the table gives, on the captions of ``--n``
held-out images (the run's "seen" combinations, the prompts of
``benchmarks/t2i_shapes.py``), unguided (w = 0):

- the background residual's standard deviation and mean absolute value;
- exact match and size accuracy as the classifier reads the samples;
- the same after **snapping** the background to -1 (every background pixel set to
  exactly black; the shape and its anti-aliased rim, brighter than -0.9, are untouched).

If snapping moves size accuracy, the classifier is reading the background's noise as
part of the shape. Real held-out images are the first row.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch
from t2i_shapes import check_classifier, floats

from genlab.data import build_dataset
from genlab.data.configs import ATTRIBUTES
from genlab.errors import GenlabError
from genlab.evaluate import heldout_config
from genlab.families.diffusion import text_cond
from genlab.metrics.features import get_extractor
from genlab.metrics.scores import attribute_accuracy
from genlab.runs import draw, load_model, sampler_config

DARK = -0.9  # a pixel whose brightest channel is below this is background


def background(x: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` bool: pixels of ``x (N, 3, H, W)`` whose brightest channel < DARK."""
    return x.amax(1) < DARK


def snapped(x: torch.Tensor) -> torch.Tensor:
    """``x`` with every background pixel set to exactly -1 (the data's black)."""
    return torch.where(background(x)[:, None], torch.tensor(-1.0), x)


def row(name: str, x: torch.Tensor, labels: dict, ext) -> str:
    resid = (x + 1).permute(1, 0, 2, 3)[:, background(x)]  # (3, pixels)
    raw = attribute_accuracy(ext.all_logits(x), labels)
    snap = attribute_accuracy(ext.all_logits(snapped(x)), labels)
    return (
        f"| {name} | {float(resid.std()):.4f} | {float(resid.abs().mean()):.4f} "
        f"| {raw['exact_match']:.3f} | {raw['acc_size']:.3f} "
        f"| {snap['exact_match']:.3f} | {snap['acc_size']:.3f} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a text run on shapes")
    ap.add_argument("--classifier", default="runs/eval-shapes-classifier")
    ap.add_argument("--n", type=int, default=300, help="prompts")
    ap.add_argument("--sampler", help="sampler name (default: the run's)")
    ap.add_argument("--steps", type=int, help="sampler steps (default: the run's)")
    ap.add_argument("--churn", help="EDM S_churn values, for heun, e.g. 0,10 (default: "
                    "the run's)")  # fmt: skip
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.n < 1 or a.threads < 1:
        ap.error(f"--n and --threads: must be at least 1, got {a.n} and {a.threads}")
    a.churn = floats(ap, "--churn", a.churn) if a.churn is not None else None
    torch.set_num_threads(a.threads)
    _machine.report()
    try:
        return measure(a)
    except GenlabError as e:
        print(f"t2i_background.py: error: {e}", file=sys.stderr)
        return 2


def measure(a) -> int:
    check_classifier(a.classifier)
    exp, model = load_model(Path(a.run))
    if not exp.text.encoder or exp.data.name != "shapes":
        raise GenlabError(f"{a.run}: not a text run on shapes (text.encoder, data.name)")
    base = sampler_config(exp, steps=a.steps, cfg=0.0, **({"name": a.sampler} if a.sampler else {}))
    a.churn = [base.churn] if a.churn is None else a.churn
    if base.name != "heun" and any(a.churn):
        raise GenlabError(f"--churn: only the heun sampler adds churn, not {base.name}")
    settings = [dataclasses.replace(base, churn=c) for c in a.churn]  # each one checked
    ext = get_extractor("shapes", path=a.classifier, device="cpu")
    ref_cfg, _ = heldout_config(exp.data)
    held = build_dataset(dataclasses.replace(ref_cfg, n=max(a.n, 1000)))
    texts = held.captions[: a.n]
    labels = {k: held.cond[k][: a.n] for k in ATTRIBUTES}
    print(f"\n## {exp.recipe} ({a.run}): {a.n} seen prompts, w = 0, {base.name} "
          f"{base.steps} steps\n")  # fmt: skip
    print("| samples | background residual: sd | mean abs | exact match | size "
          "| snapped: exact match | size |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    print(row("real held-out images", held.x[: a.n], labels, ext), flush=True)
    cond = text_cond(exp, texts)
    for scfg in settings:
        x = draw(model, exp, list(range(a.n)), cond, scfg)
        print(row(f"churn {scfg.churn:g}", x, labels, ext), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
