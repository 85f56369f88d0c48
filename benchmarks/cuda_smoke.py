"""CUDA smoke check: every family trains a few steps, previews and samples on the GPU.

For a session that is lent a GPU (run it as one short script): for one recipe of each
family, train 3 steps with ``train.device=cuda`` (previews on, so the samplers run on the
device), then ``genlab sample`` on CUDA, and bf16 autocast on the one-objective loop.
Prints one row per check and the wall time; exits 1 if any check failed. Without CUDA it
says so and exits 0 (nothing to check on this machine).

    python benchmarks/cuda_smoke.py [--out DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

TINY = ["train.steps=3", "train.log_every=1", "train.sample_every=3", "train.ckpt_every=3",
        "train.tensorboard=false", "train.warmup_steps=1", "train.device=cuda"]  # fmt: skip
CHECKS = {
    "rf-digits (U-Net, CFG, euler)": [
        "rf-digits",
        "train.batch_size=32",
        "sampler.steps=4",
        "sampler.name=euler",
    ],
    "ddpm-digits (discrete table)": ["ddpm-digits", "train.batch_size=32", "sampler.steps=4"],
    "edm-digits (precond, heun)": [
        "edm-digits",
        "train.batch_size=32",
        "sampler.steps=4",
        "sampler.name=heun",
    ],
    "dit-digits bf16": ["dit-digits", "train.batch_size=32", "sampler.steps=4", "train.bf16=true"],
    "dcgan-digits (two-player)": ["dcgan-digits", "train.batch_size=32"],
    "cvae-digits": ["cvae-digits", "train.batch_size=32"],
    "pacgan-grid25 (R1)": ["pacgan-grid25", "train.batch_size=64", "objective.r1_gamma=1"],
}


def run(args: list[str]) -> tuple[bool, str]:
    p = subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True)
    return p.returncode == 0, (p.stderr.strip().splitlines() or [""])[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="keep the runs here (default: a temporary directory)")
    ap.add_argument("--quick", action="store_true", help="the same checks (already short)")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: nothing to check")
        return 0
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}\n")
    print("| check | train | sample | seconds | last line |\n|---|---|---|---|---|")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.out or tmp)
        for name, args in CHECKS.items():
            tic, out = time.perf_counter(), root / args[0]
            ok_t, msg = run(["train", *args, *TINY, "--out", str(out)])
            ok_s = False
            if ok_t:
                ok_s, msg = run(["sample", str(out), "--n", "8", "--device", "cuda",
                                 "--out", str(out / "s.npz")])  # fmt: skip
            failed += not (ok_t and ok_s)
            print(f"| {name} | {ok_t} | {ok_s} | {time.perf_counter() - tic:.1f} | {msg[:80]} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
