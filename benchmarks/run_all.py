"""Run every benchmark script in this folder, one after another, and print their tables.

    python benchmarks/run_all.py [--quick] [--only NAME ...]

Each script is standalone (``python benchmarks/NAME.py --help``); this runner passes
``--quick`` through (skipping the scripts that have no quick form), prints each table
as it comes and exits non-zero if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke-check runs")
    ap.add_argument("--only", nargs="*", default=None, help="script names (without .py)")
    args = ap.parse_args()
    scripts = sorted(
        p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.stem.startswith("_")
    )
    if args.only:
        unknown = set(args.only) - {p.stem for p in scripts}
        if unknown:
            print(f"run_all: no benchmark named {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        scripts = [p for p in scripts if p.stem in args.only]
    failed = []
    for p in scripts:
        print(f"\n## {p.stem}\n", flush=True)
        tic = time.perf_counter()
        if args.quick and '"--quick"' not in p.read_text():
            print(f"({p.stem}: skipped; it has no --quick form)", flush=True)
            continue
        r = subprocess.run([sys.executable, str(p), *(["--quick"] if args.quick else [])])
        print(f"\n({p.stem}: {time.perf_counter() - tic:.0f} s, exit {r.returncode})", flush=True)
        if r.returncode:
            failed.append(p.stem)
    if failed:
        print(f"run_all: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
