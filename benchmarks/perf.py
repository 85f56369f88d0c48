"""Process settings on a shared CPU (genlab.cpu): thread count and OpenMP waiting, with
the machine quiet and with one core busy; the allocator; MFU as logged.

threads: ``genlab train demo train.steps=S`` as a fresh process per setting, settings
interleaved, ``--repeats`` each; "busy" runs a spinning Python process on one core for
the whole section (started 60 s ahead, so the load average the "auto" setting reads has
seen it). Settings: genlab's default (``threads=0``: the free cores, idle OpenMP threads
sleep), ``train.threads=1``, and 2 threads with OpenMP's spinning waits
(``OMP_WAIT_POLICY=ACTIVE``, what torch did before) and with sleeping ones.

allocator: ``genlab sample RUN --n 100 --steps 5 --threads 1`` on an rf-mnist U-Net (one
training step: the cost of sampling does not depend on the weights) and ``genlab train
rf-mnist train.steps=5``, with ``GENLAB_MALLOPT=0`` (glibc's defaults) and 1 (genlab's
settings): wall time, minor page faults and peak RSS of the child, and whether the
samples are byte-identical.

    python benchmarks/perf.py [--only threads|allocator] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)

GENLAB = [sys.executable, "-m", "genlab"]


def child_env(env: dict[str, str] | None) -> dict[str, str]:
    """This process's environment without the wait-policy variables (so genlab chooses),
    with ``env`` on top."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    return {**base, **(env or {})}


def child(argv: list[str], env: dict[str, str] | None = None) -> dict:
    """Run a command; its wall time, minor faults, system time and peak RSS (this child
    alone: ``os.wait4`` returns its own resource usage)."""
    with tempfile.TemporaryFile() as err:
        tic = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=child_env(env))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - tic
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed:\n{err.read().decode()[-800:]}")
    return {
        "wall": wall,
        "faults": usage.ru_minflt,
        "sys": usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
    }


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def threads_section(steps: int, repeats: int, tmp: Path) -> None:
    settings = {
        "genlab's default (auto threads and waits)": ([], {}),
        "train.threads=1": (["train.threads=1"], {}),
        "2 threads, genlab's waits": (["train.threads=2"], {}),
        "2 threads, spinning waits (torch's default)": (
            ["train.threads=2"],
            {"OMP_WAIT_POLICY": "ACTIVE"},
        ),
        "2 threads, sleeping waits (PASSIVE)": (
            ["train.threads=2"],
            {"OMP_WAIT_POLICY": "PASSIVE"},
        ),
    }
    print(f"\n## threads: genlab train demo train.steps={steps}, wall s, median of {repeats}\n")
    print("| machine | setting | median s | x of threads=1 | load avg |")
    print("|---|---|---|---|---|")
    for scenario in ("quiet", "one core busy"):
        spinner = None
        if scenario == "one core busy":
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(60)
        try:
            times = {name: [] for name in settings}
            loads = []
            for r in range(repeats):
                for i, (name, (over, env)) in enumerate(settings.items()):
                    out = tmp / f"demo-{scenario[0]}-{r}-{i}"
                    argv = [*GENLAB, "train", "demo", f"train.steps={steps}", *over]
                    argv += ["train.sample_every=0", "train.tensorboard=false", "--out", str(out)]
                    times[name].append(child(argv, env)["wall"])
                    loads.append(float(load()))
            one = statistics.median(times["train.threads=1"])
            for name, v in times.items():
                m = statistics.median(v)
                print(
                    f"| {scenario} | {name} | {m:.1f} | {m / one:.2f} | "
                    f"{min(loads):.1f}-{max(loads):.1f} |"
                )
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()


def allocator_section(repeats: int, tmp: Path) -> None:
    run = tmp / "rfm"
    child([*GENLAB, "train", "rf-mnist", "train.steps=1", "train.sample_every=0",
           "train.tensorboard=false", "train.threads=1", "--out", str(run)])  # fmt: skip
    cases = {
        "sample --n 100 --steps 5": lambda tag: [
            *GENLAB,
            "sample",
            str(run),
            "--n",
            "100",
            "--steps",
            "5",
            "--threads",
            "1",
            "--out",
            str(tmp / f"s-{tag}.npz"),
        ],  # fmt: skip
        "train rf-mnist train.steps=5": lambda tag: [
            *GENLAB,
            "train",
            "rf-mnist",
            "train.steps=5",
            "train.sample_every=0",
            "train.tensorboard=false",
            "train.threads=1",
            "--out",
            str(tmp / f"t-{tag}"),
        ],  # fmt: skip
    }
    print(f"\n## allocator: medians of {repeats}, 1 thread, load avg {load()}\n")
    print("| command | malloc | wall s | minor faults | sys s | peak RSS MB | x of glibc |")
    print("|---|---|---|---|---|---|---|")
    for name, argv in cases.items():
        rows = {"0": [], "1": []}
        for r in range(repeats):
            for mode in ("0", "1"):
                tag = f"{mode}-{r}"
                rows[mode].append(child(argv(tag), {"GENLAB_MALLOPT": mode}))
        base = statistics.median(x["wall"] for x in rows["0"])
        for mode, label in (("0", "glibc defaults"), ("1", "genlab (mallopt)")):
            med = {k: statistics.median(x[k] for x in rows[mode]) for k in rows[mode][0]}
            print(
                f"| {name} | {label} | {med['wall']:.1f} | {med['faults']:,.0f} | "
                f"{med['sys']:.1f} | {med['rss_mb']:.0f} | {base / med['wall']:.2f} |"
            )
    same = (tmp / "s-0-0.npz").read_bytes() == (tmp / "s-1-0.npz").read_bytes()
    print(f"\nsamples byte-identical with and without: {same}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("threads", "allocator"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=30, help="demo steps in the threads section")
    p.add_argument("--quick", action="store_true", help="1 repeat, 5 steps (smoke check)")
    args = p.parse_args()
    _machine.report()
    if args.quick:
        args.repeats, args.steps = 1, 5
    sys.stdout.reconfigure(line_buffering=True)  # rows as they come, also into a file
    print(f"perf: {os.cpu_count()} CPUs, load average {load()} at start")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "allocator"):
            allocator_section(args.repeats, Path(tmp))
        if args.only in (None, "threads"):
            threads_section(args.steps, args.repeats, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
