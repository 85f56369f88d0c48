"""Start-up time of the first commands a user runs, against importing torch alone.

Each command runs as a fresh process (``python -m genlab ...``) ``--repeats`` times,
interleaved with the peer (``python -c "import torch"``: what every command paid before
the configs moved to torch-free modules); the table gives the median and min wall time,
whether the command imported torch, and the load average while it ran (the machine is
shared: times are upper bounds).

    python benchmarks/startup.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)

COMMANDS = {
    "genlab --help": ["--help"],
    "genlab list": ["list"],
    "genlab list --json": ["list", "--json"],
    "genlab train rf-grid25 --dry-run": ["train", "rf-grid25", "--dry-run"],
    "genlab train ddpm-mnist --dry-run model.arch=dit": [
        "train",
        "ddpm-mnist",
        "--dry-run",
        "model.arch=dit",
    ],
}
PROBE = (
    "import sys, runpy; sys.argv = ['genlab', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('genlab', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "sys.stderr.write('TORCH=%d' % ('torch' in sys.modules))\n"
)


def timed(argv: list[str]) -> tuple[float, bool]:
    tic = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True)
    secs = time.perf_counter() - tic
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {out.stderr.strip()[-300:]}")
    return secs, "TORCH=1" in out.stderr


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="2 repeats (smoke check)")
    args = p.parse_args()
    _machine.report()
    if args.quick:
        args.repeats = 2
    rows = {name: [] for name in [*COMMANDS, "peer: python -c 'import torch'"]}
    torch_seen = {}
    load = []
    for _ in range(args.repeats):
        for name, cmd in COMMANDS.items():
            secs, torch_seen[name] = timed([sys.executable, "-c", PROBE, *cmd])
            rows[name].append(secs)
        secs, _ = timed([sys.executable, "-c", "import torch"])
        rows["peer: python -c 'import torch'"].append(secs)
        torch_seen["peer: python -c 'import torch'"] = True
        load.append(os.getloadavg()[0])
    print(
        f"\nstart-up, wall s over {args.repeats} runs each (interleaved); "
        f"load average {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} CPUs\n"
    )
    print("| command | median s | min s | imports torch |")
    print("|---|---|---|---|")
    for name, v in rows.items():
        print(
            f"| {name} | {statistics.median(v):.2f} | {min(v):.2f} | "
            f"{'yes' if torch_seen[name] else 'no'} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
