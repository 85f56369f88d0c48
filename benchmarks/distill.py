"""Few-step students against their teacher: FID, precision, recall and class accuracy
per network evaluation, sampling speed and training cost, in one table.

    python benchmarks/distill.py --teacher runs/rf-mnist \\
        --students runs/reflow-distill-mnist runs/cd-mnist@1,2,4 runs/pd1-mnist@1 \\
        [--teacher-grid dpmpp_2m:10,dpmpp_2m:20] [--ref-pairs PAIRS.npz] \\
        [--gan runs/cdcgan-mnist] [--steps 1,2,4,8] [--n 2000] [--seed 20000] \\
        [--classifier runs/eval-mnist-classifier] [--pairs-nfe 200] [--jsonl rows.jsonl] \\
        [--figure docs/img/distill_mnist.png]

Every row draws ``--n`` samples from seeds ``--seed ...`` (class ``seed % 10``) and
scores them with the data's classifier against the held-out images (MNIST test images
[8000, 10000)); seeds start far from 0 because students trained on teacher pairs saw the
noise of seeds 0, 1, ... ``RUN@1,2`` samples that run at those step counts only (with its
own sampler); other runs at ``--steps``. ``--ref-pairs`` scores the teacher's reference
samples from a pairs file (``sampler_defaults.py --save-ref``) instead of drawing them
again: the 100-step teacher row on a CPU. ``ratio`` is FID over the reference row's FID
(the first row, or ``--ref-fid`` taken from an earlier run with the same ``--n`` and
``--seed``).

Training cost: teacher network evaluations (the pairs, or the teacher calls of each
step, with CFG counted twice, through every distillation run in the student's chain)
and the students' optimizer steps. Pairs read from a file cost ``--pairs-nfe`` each
(Euler 100 with CFG: 200). ``--figure`` saves the first 10 samples of every row (one per
class when ``--seed`` is a multiple of 10), a row of the picture per table row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch
from sampler_defaults import RowCounter, parse_grid, score

from genlab.errors import GenlabError
from genlab.evaluate import EXTRACTOR_FOR, heldout_config
from genlab.families import KINDS, distill
from genlab.metrics.features import get_extractor
from genlab.runs import class_cond, draw, load_experiment, load_model, sampler_config
from genlab.train.log import read_metrics

STUDENT_KINDS = tuple(k for k, v in KINDS.items() if v.family == "distill")


def training_cost(run: Path, pairs_nfe: int) -> tuple[int, list[int]]:
    """``(teacher evaluations, [optimizer steps of each run in the chain])`` of a
    student and every distillation run it descends from."""
    exp = load_experiment(run, accept_changed=True, missing_ok=True)
    o = exp.objective
    if o.kind not in STUDENT_KINDS:
        return 0, []
    rows = read_metrics(run / "metrics.jsonl")
    steps, seen = (rows[-1]["step"], rows[-1]["samples_seen"]) if rows else (0, 0)
    guided = 2 if o.teacher_cfg and getattr(exp.model, "num_classes", 0) else 1
    if o.kind in ("reflow", "adversarial"):
        per = pairs_nfe if o.pairs_file else o.pair_steps * guided * (
            2 if o.pair_sampler in ("heun", "midpoint") else 1)  # fmt: skip
        evals = o.pairs * per
    else:  # progressive: two teacher steps per sample; consistency: one
        evals = seen * guided * (2 if o.kind == "progressive" else 1)
    up, chain = training_cost(Path(o.teacher), pairs_nfe)
    return evals + up, [*chain, steps]


def speed_table(models: dict[str, tuple], seeds: list[int], cond: dict, reps: int) -> None:
    """Images/s of each one-evaluation sampler on ``len(seeds)`` samples: the runs take
    turns, ``reps`` rounds, medians (the machine's load moves; turns share it)."""
    import statistics

    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(reps):
        for label, (model, exp, scfg, conditional) in models.items():
            tic = time.perf_counter()
            draw(model, exp, seeds, cond if conditional else {}, scfg)
            times[label].append(len(seeds) / (time.perf_counter() - tic))
    gans = [k for k in models if k.endswith("G(z)")]
    print(
        f"\n| one evaluation | images/s (median of {reps}) |"
        + "".join(f" vs {g.split()[0]} |" for g in gans)
        + "\n|---|---|"
        + "---|" * len(gans)
    )
    for label, ts in times.items():
        med = statistics.median(ts)
        ratios = "".join(f" {med / statistics.median(times[g]):.3f}x |" for g in gans)
        print(f"| {label} | {med:.0f} |{ratios}", flush=True)


def main() -> int:
    try:
        return measure()
    except GenlabError as e:
        print(f"distill.py: error: {e}", file=sys.stderr)
        return 2


def measure() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", help="the teacher run")
    ap.add_argument("--teacher-grid", default="dpmpp_2m:10,dpmpp_2m:20")
    ap.add_argument("--ref-pairs", help="score the teacher's reference samples from this file")
    ap.add_argument("--ref-label", default="euler:100", help="the reference file's sampler")
    ap.add_argument(
        "--ref-fid", type=float, metavar="FID",
        help="ratios against this FID (an earlier run's reference row, same --n and --seed) "
        "instead of this run's first row",
    )  # fmt: skip
    ap.add_argument("--students", nargs="*", default=[], help="RUN or RUN@steps,steps")
    ap.add_argument("--gan", nargs="*", default=[], help="GAN runs to compare")
    ap.add_argument("--steps", default="1,2,4,8")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--classifier", help="the feature classifier run")
    ap.add_argument("--pairs-nfe", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--jsonl", help="append each row here as JSON")
    ap.add_argument("--figure", help="save the first 10 samples of each row here (.png)")
    ap.add_argument(
        "--speed", type=int, default=0, metavar="REPS",
        help="then time every one-evaluation row against the GANs, interleaved, REPS rounds",
    )  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="(make bench) --n 200")
    a = ap.parse_args()
    if not a.teacher:  # `make bench` runs every script without arguments
        print("distill: no --teacher given; it scores trained runs (see its docstring)")
        return 0
    if a.quick:
        a.n = min(a.n, 200)
    if a.threads:
        torch.set_num_threads(a.threads)
    _machine.report()
    t_exp = load_experiment(Path(a.teacher), accept_changed=True)
    ref_cfg, desc = heldout_config(t_exp.data)
    ext = get_extractor(EXTRACTOR_FOR[t_exp.data.name], path=a.classifier, device="cpu")
    k = getattr(t_exp.model, "num_classes", 0)
    cond, _ = class_cond(k, a.n, None, a.seed)
    seeds = list(range(a.seed, a.seed + a.n))
    print(f"{a.n} samples per row, seeds {a.seed}..{a.seed + a.n - 1}; reference: {desc}")
    head = ("method", "run", "sampler", "evals", "fid", "ratio", "precision", "recall", "acc",
            "images/s", "teacher evals", "student steps")  # fmt: skip
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head), flush=True)
    if a.ref_fid is not None and not a.ref_fid > 0:
        raise GenlabError(f"--ref-fid: must be a positive FID, got {a.ref_fid}")
    ref_fid = [a.ref_fid]
    firsts: list[torch.Tensor] = []

    def emit(row: dict, x: torch.Tensor) -> None:
        firsts.append(x[:10])
        if ref_fid[0] is None:
            ref_fid[0] = row["fid"]
        row["ratio"] = row["fid"] / ref_fid[0]
        cells = [row["method"], row["run"], row["sampler"], f"{row['nfe']:g}",
                 f"{row['fid']:.1f}", f"{row['ratio']:.2f}", f"{row['precision']:.3f}",
                 f"{row['recall']:.3f}", f"{row['acc']:.3f}",
                 "-" if row["per_s"] is None else f"{row['per_s']:.0f}",
                 f"{row['teacher_evals']:,}",
                 " + ".join(map(str, row["steps"])) or "-"]  # fmt: skip
        print("| " + " | ".join(cells) + " |", flush=True)
        if a.jsonl:
            with open(a.jsonl, "a") as out:
                out.write(json.dumps(row) + "\n")

    if a.ref_pairs:
        import numpy as np

        f = np.load(a.ref_pairs)
        x, y = torch.from_numpy(f["x"][: a.n]).float(), torch.from_numpy(f["class"][: a.n])
        name, steps = parse_grid(a.ref_label)[0]
        s = score(x, y, ref_cfg, desc, ext, None)
        emit(dict(method="teacher", run=Path(a.teacher).name, sampler=f"{name} {steps}",
                  nfe=steps * (2 if k else 1), per_s=None, teacher_evals=0, steps=[],
                  note=f"samples from {a.ref_pairs}", **s), x)  # fmt: skip

    one_step: dict[str, tuple] = {}  # label -> (model, exp, sampler config)

    def rows_of(run: Path, method: str, grid: list[tuple[str, int]], cost) -> None:
        exp, model = load_model(run, "ema", "cpu", accept_changed=True)
        seen = RowCounter()
        hook = model.register_forward_hook(seen)
        for name, steps in grid:
            scfg = sampler_config(exp, [], name=name, steps=steps) if name else exp.sampler
            seen.rows = 0
            tic = time.perf_counter()
            c = cond if getattr(exp.model, "num_classes", 0) else {}  # (unconditional GANs)
            x = draw(model, exp, seeds, c, scfg, a.batch)
            sec = time.perf_counter() - tic
            s = score(x, c.get("class"), ref_cfg, desc, ext, None)  # acc NaN unconditional
            label = f"{name} {steps}" if name else "G(z)"
            emit(dict(method=method, run=run.name, sampler=label, nfe=seen.rows / a.n,
                      per_s=a.n / sec, teacher_evals=cost[0], steps=cost[1], **s), x)  # fmt: skip
            if seen.rows == a.n:
                one_step[f"{run.name} {label}"] = (model, exp, scfg, bool(c))
        hook.remove()

    if a.teacher_grid:  # "" for none (the reference file's row alone)
        rows_of(Path(a.teacher), "teacher", parse_grid(a.teacher_grid), (0, []))
    default_steps = [int(s) for s in a.steps.split(",")]
    for spec in a.students:
        run, _, only = spec.partition("@")
        run = Path(run)
        exp = load_experiment(run, accept_changed=True)
        steps = [int(s) for s in only.split(",")] if only else default_steps
        cost = training_cost(run, a.pairs_nfe)
        method = exp.objective.kind + (" (DCGAN G)" if distill.is_generator(exp) else "")
        rows_of(run, method, [(exp.sampler.name, s) for s in steps], cost)
    for run in a.gan:
        log = read_metrics(Path(run) / "metrics.jsonl")
        rows_of(Path(run), "gan", [("", 1)], (0, [log[-1]["step"]] if log else []))
    if a.speed:
        speed_table(one_step, seeds[: a.batch], {k: v[: a.batch] for k, v in cond.items()},
                    a.speed)  # fmt: skip
    if a.figure:
        from genlab.viz import save_grid

        where = save_grid(torch.cat(firsts), Path(a.figure), nrow=10)
        print(f"wrote {where}: one row of the picture per table row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
