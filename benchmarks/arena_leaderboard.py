"""A leaderboard of MNIST runs from the classifier judge, beside their FIDs: do the orders agree?

Runs, in separate processes (the judge beside the FIDs), the commands a user would:

    genlab arena judge RUNS --db DB --classifier RUNS/eval-mnist-classifier --runs A,B,... \
        --votes V --seed 0
    genlab arena rate DB --json
    genlab eval RUNS/A --n N --metrics fid --extractor RUNS/eval-mnist-classifier --json F

and prints one table: Bradley-Terry rating with its 95% interval, rank, votes, FID (MNIST
classifier features, N samples against the 2,000 held-out test images) and the Spearman
rank correlation between the two orders (rating high = FID low, so agreement is -1).

    python benchmarks/arena_leaderboard.py --runs RUNS --models cdcgan-mnist,vae-mnist,... \
        [--votes 300] [--fid-n 1000] [--db judge.sqlite] [--skip-judge]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import _machine
from scipy.stats import spearmanr


def genlab(*argv: str) -> str:
    r = subprocess.run([sys.executable, "-m", "genlab", *argv], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"genlab {' '.join(argv)} failed: {r.stderr.strip()[-400:]}")
    return r.stdout


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder holding the runs and the classifier")
    p.add_argument("--models", required=True, help="comma-separated run names (contestants)")
    p.add_argument("--classifier", default="eval-mnist-classifier")
    p.add_argument("--votes", type=int, default=300)
    p.add_argument("--fid-n", type=int, default=1000)
    p.add_argument("--db", help="vote database (default: a fresh temporary one)")
    p.add_argument("--skip-judge", action="store_true", help="rate the votes already in --db")
    p.add_argument("--seed", type=int, default=0, help="the judge's pair and prompt draws")
    p.add_argument("--quick", action="store_true", help="20 votes, 200 samples (smoke run)")
    args = p.parse_args()
    _machine.report()
    sys.stdout.reconfigure(line_buffering=True)
    if args.quick:
        args.votes, args.fid_n = 20, 200
    runs, cls = Path(args.runs), str(Path(args.runs) / args.classifier)
    db = args.db or str(Path(tempfile.mkdtemp(prefix="genlab-arena-")) / "judge.sqlite")
    judge = None
    if not args.skip_judge:  # the judge votes in its own process while the FIDs are computed
        argv = ["arena", "judge", str(runs), "--db", db, "--classifier", cls, "--runs",
                args.models, "--votes", str(args.votes), "--seed", str(args.seed),
                "--threads", "1"]  # fmt: skip
        judge = subprocess.Popen(
            [sys.executable, "-m", "genlab", *argv], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    fid = {}
    for name in args.models.split(","):
        out = Path(tempfile.mkdtemp()) / "fid.json"
        genlab("eval", str(runs / name), "--n", str(args.fid_n), "--metrics", "fid",
               "--extractor", cls, "--json", str(out), "--threads", "1")  # fmt: skip
        fid[name] = json.loads(out.read_text())["metrics"]["fid"]
        print(f"fid {name}: {fid[name]:.1f}")
    if judge is not None:
        _, err = judge.communicate()
        if judge.returncode:
            raise SystemExit(f"genlab arena judge failed: {err.strip()[-400:]}")
    boards = json.loads(genlab("arena", "rate", db, "--json"))
    if len(boards) != 1:
        raise SystemExit(f"expected one task in {db}, found {', '.join(boards) or 'none'}")
    ((task, board),) = boards.items()
    rows = [r for r in board["models"] if r["model"] in fid]
    print(f"\n{task}: {board['votes']} judge votes (database {db}); FID at {args.fid_n} samples\n")
    print("| rank | run | rating | 95% interval | votes | W-T-L | FID |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['rank']} | {r['model']} | {r['rating']:.0f} | {r['lo']:.0f} - {r['hi']:.0f} "
            f"| {r['votes']} | {r['wins']}-{r['ties']}-{r['losses']} | {fid[r['model']]:.1f} |"
        )
    rho = spearmanr([r["rating"] for r in rows], [fid[r["model"]] for r in rows]).statistic
    bias = board["left_win_rate"]
    print(
        f"\nSpearman correlation of rating and FID: {rho:.2f} (-1: the orders agree); "
        f"left side won {bias:.1%} of decisive votes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
