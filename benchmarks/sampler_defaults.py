"""Which sampler should a diffusion recipe use by default? Quality per network evaluation.

For each trained run, samples ``--n`` images (seed i has class i % 10, the run's CFG
weight) with every (sampler, steps) of the grid, and reports FID, precision, recall and
class accuracy with the data's classifier (MNIST, digits) against its held-out images
(digits: the training images), plus the network evaluations per sample (counted by a
forward hook, so CFG's doubled batch counts twice). The reference row is the first of
the grid (100 steps); the pick is the cheapest row whose FID, precision, recall and
class accuracy are each within 5% of the reference's (issue 22). ``--floor`` adds
the real-data floor: the training images (MNIST ``[0, 8000)``) scored the same way.

    python benchmarks/sampler_defaults.py RUN [RUN ...] [--n 10000] [--device auto]
        [--classifier runs/eval-mnist-classifier] [--grid euler:100,dpmpp_2m:10,...]
        [--jsonl rows.jsonl] [--save-ref FILE.npz] [--floor]

``--save-ref`` keeps the reference row's samples (float16, with their seeds and classes)
of the first run: the (noise seed, sample) pairs of its ODE.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.evaluate import EXTRACTOR_FOR, evaluate, heldout_config
from genlab.metrics.features import get_extractor
from genlab.runs import class_cond, draw, load_model, sampler_config
from genlab.sampling import SAMPLER_INFO
from genlab.train.distributed import pick_device

# sampler:steps, the 100-step reference first, then the candidates, most informative
# first (a row stopped by a time limit loses the least)
GRIDS = {
    "rf": "euler:100,euler:50,dpmpp_2m:10,dpmpp_2m:20,dpmpp_2m:5,dpmpp_2m:8,dpmpp_2m:15,"
    "heun:10,heun:5,euler:20",
    "edm": "euler:100,heun:18,dpmpp_2m:10,dpmpp_2m:20,dpmpp_2m:5,dpmpp_2m:8,dpmpp_2m:15,"
    "heun:10,heun:5",
    "ddpm": "ddpm:100,dpmpp_2m:10,dpmpp_2m:20,dpmpp_2m:5,dpmpp_2m:8,dpmpp_2m:15,ddim:20,euler:100",
}


class RowCounter:
    """A forward hook counting the rows (samples) the network has been called on."""

    rows = 0

    def __call__(self, module, inputs, output) -> None:
        self.rows += inputs[0].shape[0]


def grid_for(exp) -> str:
    path = exp.objective.path
    return GRIDS["edm" if path == "edm" else "ddpm" if path == "ddpm" else "rf"]


def parse_grid(text: str) -> list[tuple[str, int]]:
    """``"euler:100,dpmpp_2m:10"`` -> ``[("euler", 100), ("dpmpp_2m", 10)]``; a
    :class:`ValueError` naming the bad entry otherwise."""
    grid = []
    for spec in text.split(","):
        name, _, steps = spec.strip().partition(":")
        if not name or not steps.isdigit() or int(steps) < 1:
            raise ValueError(f"'{spec}' is not sampler:steps (e.g. dpmpp_2m:10)")
        if name not in SAMPLER_INFO:
            raise ValueError(f"'{name}' is not a sampler ({', '.join(sorted(SAMPLER_INFO))})")
        grid.append((name, int(steps)))
    return grid


def within(row: dict, ref: dict) -> bool:
    """Whether ``row`` keeps 95% of the reference's quality: on images FID (lower is
    better) and precision, recall and class accuracy (higher is better); on a mode
    protocol (grid25) every mode, the high-quality share and W2; W2 on other points."""
    if "fid" in ref:
        higher = ("precision", "recall", "acc")
        higher = [k for k in higher if ref[k] == ref[k]]  # no class accuracy (NaN) unlabelled
        return row["fid"] <= 1.05 * ref["fid"] and all(row[k] >= 0.95 * ref[k] for k in higher)
    if "modes" in ref:
        return (
            row["modes"] >= ref["modes"]
            and row["high_quality"] >= 0.95 * ref["high_quality"]
            and row["w2"] <= 1.05 * ref["w2"]
        )
    return row["w2"] <= 1.05 * ref["w2"]


def pick(rows: list[dict]) -> dict | None:
    """The cheapest row within 5% of the reference (rows[0])."""
    ok = [r for r in rows if within(r, rows[0])]
    return min(ok, key=lambda r: r["nfe"]) if ok else None


# the columns each kind of data reports, in order; the first is the one compared
COLUMNS = {
    "image": ("fid", "precision", "recall", "acc"),
    "modes": ("high_quality", "modes", "reverse_kl", "w2"),
    "points": ("w2", "w1"),
}


def score(x, y, ref_cfg, desc, ext, cache) -> dict:
    """The figures of samples ``x`` (classes ``y``) against ``ref_cfg``; class accuracy is
    NaN for unlabelled samples (``y`` None)."""
    from genlab.metrics.modes import PROTOCOLS

    if ext is not None:
        metrics, kind = ["fid", "pr"] + (["acc"] if y is not None else []), "image"
    elif ref_cfg.name in PROTOCOLS:
        metrics, kind = ["modes", "w"], "modes"
    else:
        metrics, kind = ["w"], "points"
    m = evaluate(x, y, ref_cfg, desc, metrics, ext, cache, 0)["metrics"]
    return {k: float(m.get(k, float("nan"))) for k in COLUMNS[kind]}


def main() -> int:
    try:
        return measure()
    except GenlabError as e:  # a missing run or classifier, a run that is not diffusion
        msg = str(e).replace("--extractor RUN", "--classifier RUN")
        print(f"sampler_defaults.py: error: {msg}", file=sys.stderr)
        return 2


def measure() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", help="trained diffusion run directories")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--classifier", help="the feature classifier run (default: runs/eval-DATA-classifier)"
    )
    ap.add_argument("--grid", help="sampler:steps,... (default: per objective, see GRIDS)")
    ap.add_argument("--cache", default=None, help="reference-feature cache directory")
    ap.add_argument("--jsonl", help="append one JSON line per row here")
    ap.add_argument("--save-ref", help="keep the first run's reference samples here (.npz)")
    ap.add_argument("--floor", action="store_true", help="score the training images too")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
    ap.add_argument("--quick", action="store_true", help="(make bench) the same, at --n 200")
    a = ap.parse_args()
    if not a.runs:  # `make bench` runs every script without arguments
        print("sampler_defaults: no RUN given; it scores trained runs (see its docstring)")
        return 0
    if a.quick:
        a.n = min(a.n, 200)
    if a.n < 2:
        ap.error(f"--n: the metrics need at least 2 samples, got {a.n}")
    try:
        specs = parse_grid(a.grid) if a.grid else []
    except ValueError as e:
        ap.error(f"--grid: {e}")
    if a.threads:
        torch.set_num_threads(a.threads)
    _machine.report()
    dev = pick_device(a.device)
    if dev.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(dev)}, torch {torch.__version__}")
    exts: dict = {}
    out = open(a.jsonl, "a") if a.jsonl else None  # noqa: SIM115 (closed at the end)

    header = [None]

    def emit(row: dict, cols: tuple[str, ...]) -> None:
        if header[0] != cols:  # a table per kind of figures
            header[0] = cols
            print(f"\n| run | sampler | steps | NFE/sample | {' | '.join(cols)} | "
                  f"{cols[0]} / ref | seconds |\n" + "|---" * (len(cols) + 6) + "|")  # fmt: skip
        vals = " | ".join(f"{row[c]:.4g}" for c in cols)
        print(
            f"| {row['run']} | {row['sampler']} | {row['steps']} | {row['nfe']:.0f} | {vals} "
            f"| {row.get('ratio', 1.0):.3f} | {row['seconds']:.1f} |",
            flush=True,
        )
        if out:
            out.write(json.dumps(row) + "\n")
            out.flush()

    for i, run in enumerate(a.runs):
        exp, model = load_model(Path(run), "ema", dev, accept_changed=True)
        ref_cfg, desc = heldout_config(exp.data)
        domain = EXTRACTOR_FOR.get(exp.data.name)  # None: points, scored without features
        if domain and domain not in exts:
            exts[domain] = get_extractor(domain, path=a.classifier, device=dev)
        ext = exts.get(domain)
        if a.floor and i == 0:
            from genlab.data import build_dataset

            ds = build_dataset(exp.data)
            x, y = ds.x, ds.cond.get("class")
            tic = time.perf_counter()
            s = score(x.float(), y, ref_cfg, desc, ext, a.cache)
            emit(dict(run="training data", sampler="-", steps=0, nfe=0, **s, ratio=float("nan"),
                      seconds=time.perf_counter() - tic), tuple(s))  # fmt: skip
        rows = []
        seen = RowCounter()
        hook = model.register_forward_hook(seen)
        cond, _ = class_cond(getattr(exp.model, "num_classes", 0), a.n, None, 0)
        seeds = list(range(a.n))
        grid = specs or parse_grid(grid_for(exp))
        if grid[0][1] < 100:
            print(f"note: the reference row {grid[0][0]}:{grid[0][1]} has fewer than 100 steps")
        for name, steps in grid:
            scfg = sampler_config(exp, [], name=name, steps=steps)
            seen.rows = 0
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            tic = time.perf_counter()
            x = draw(model, exp, seeds, cond, scfg, a.batch)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            sec = time.perf_counter() - tic
            row = dict(run=Path(run).name, sampler=name, steps=steps,
                       nfe=seen.rows / a.n, cfg=scfg.cfg, n=a.n, seconds=sec)  # fmt: skip
            s = score(x, cond.get("class"), ref_cfg, desc, ext, a.cache)
            row.update(s)
            first = next(iter(s))
            if rows:
                row["ratio"] = row[first] / rows[0][first]
            rows.append(row)
            emit(row, tuple(s))
            if a.save_ref and i == 0 and len(rows) == 1:
                labels = {"class": cond["class"].numpy()} if "class" in cond else {}
                np.savez(a.save_ref, x=x.to(torch.float16).numpy(), seed=np.array(seeds),
                         **labels)  # fmt: skip
        hook.remove()
        best = pick(rows)
        if best is not None:
            d = exp.sampler  # the sampler the run was trained with (its config.yaml)
            mine = [r for r in rows if (r["sampler"], r["steps"]) == (d.name, d.steps)]
            vs = (
                f"{mine[0]['nfe'] / best['nfe']:.2f}x cheaper than the run's own {d.name} {d.steps}"
                if mine
                else f"the run's own {d.name} {d.steps} is not in the grid"
            )
            print(
                f"\n{Path(run).name}: pick {best['sampler']} {best['steps']} steps "
                f"({best['nfe']:.0f} evaluations/sample, {first} {best[first]:.4g} = "
                f"{best[first] / rows[0][first]:.3f}x the reference); {vs}\n",
                flush=True,
            )
    if out:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
