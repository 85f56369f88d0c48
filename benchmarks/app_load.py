"""``genlab serve`` under load, over loopback: time to first image, and a vote storm.

1. **Time to first image**: for each ``--first RUN``, a fresh ``genlab serve`` process;
   seconds from launch until the page answers, until the first ``/sample`` of 16 images
   returns (the network loaded on first use) and for a second, warm ``/sample``.
2. **Load test**: ``--clients`` gradio clients (default 20) each cast ``--votes`` votes
   (default 10) on comparisons recorded beforehand, while ``--samplers`` clients (default
   5) each ask for one sample grid at the same time. Checks that every vote is in the
   database exactly once and the server still answers; prints latency percentiles and
   votes/s, beside the peer: the same number of votes written straight to the SQLite
   store from the same number of threads (no HTTP, no queue).

    python benchmarks/app_load.py --runs DIR --first demo --first rf-mnist
    python benchmarks/app_load.py --quick          # tiny digits runs trained here

The machine is shared: the load average and torch threads are printed with the table.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
from gradio_client import Client

from genlab.app.store import VoteStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(root: Path, db: Path | None = None, threads: int = 1):
    port = free_port()
    cmd = [sys.executable, "-m", "genlab", "serve", str(root), "--port", str(port)]
    cmd += ["--threads", str(threads)] + (["--db", str(db)] if db else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()[-500:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url, time.perf_counter() - t0, t0
        except OSError:
            time.sleep(0.2)


def stop(proc) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def sample_args(run: str, n: int = 16) -> tuple:
    return (run, 0, n, "", "", "", "any", "", "")  # blank sampler, steps, cfg: the run's


def first_image(root: Path, runs: list[str]) -> None:
    print("\n## Time to first image (fresh server, 16 samples, the run's default sampler)\n")
    print("| run | page answers s | first /sample s (from launch) | warm /sample s | load |")
    print("|---|---|---|---|---|")
    for run in runs:
        proc, url, boot, t0 = launch(root)
        try:
            c = Client(url, verbose=False)
            c.predict(*sample_args(run), api_name="/sample")
            first = time.perf_counter() - t0
            tic = time.perf_counter()
            c.predict(*sample_args(run), api_name="/sample")
            warm = time.perf_counter() - tic
        finally:
            stop(proc)
        print(f"| {run} | {boot:.1f} | {first:.1f} | {warm:.2f} | {os.getloadavg()[0]:.1f} |")


def run_threads(threads: list[threading.Thread]) -> float:
    """Start all, wait for all; the wall time in seconds."""
    tic = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - tic


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))]


def load_test(root: Path, clients: int, votes: int, samplers: int, run: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="genlab-load-"))
    db = tmp / "votes.sqlite"
    store = VoteStore(db)
    names = sorted(p.parent.name for p in root.glob("*/config.yaml"))
    cids = [
        [store.add_comparison("t", names[0], names[-1], "any", i * votes + j) for j in range(votes)]
        for i in range(clients)
    ]
    proc, url, _, _ = launch(root, db)
    vote_lat, sample_lat, errors = [], [], []
    lock = threading.Lock()

    def voter(i: int) -> None:
        try:
            c = Client(url, verbose=False)
            for cid in cids[i]:
                tic = time.perf_counter()
                c.predict(cid, api_name="/vote_A")
                with lock:
                    vote_lat.append(time.perf_counter() - tic)
        except Exception as e:  # counted, reported
            errors.append(repr(e))

    def sampler() -> None:
        try:
            c = Client(url, verbose=False)
            tic = time.perf_counter()
            c.predict(*sample_args(run), api_name="/sample")
            with lock:
                sample_lat.append(time.perf_counter() - tic)
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=voter, args=(i,)) for i in range(clients)]
    threads += [threading.Thread(target=sampler) for _ in range(samplers)]
    wall = run_threads(threads)
    with urllib.request.urlopen(url, timeout=5) as r:
        alive = r.status == 200
    stop(proc)
    stored = store.votes()  # UNIQUE(comparison, voter): a repeat could not be stored
    voters = {v["voter"] for v in stored}
    exactly_once = len(stored) == clients * votes and len(voters) == clients

    # the peer: the same votes straight into a fresh store from as many threads
    peer = VoteStore(tmp / "peer.sqlite")
    pc = [
        [peer.add_comparison("t", "a", "b", "any", i * votes + j) for j in range(votes)]
        for i in range(clients)
    ]
    direct = [
        threading.Thread(target=lambda i=i: [peer.vote(c, f"v{i}", "A") for c in pc[i]])
        for i in range(clients)
    ]
    peer_wall = run_threads(direct)

    print(
        f"\n## Load test: {clients} clients x {votes} votes + {samplers} concurrent sample "
        f"requests ({run}, 16 images)\n"
    )
    print("| requests | n | p50 s | p90 s | p99 s | max s |")
    print("|---|---|---|---|---|---|")
    for name, xs in (("vote", vote_lat), ("sample", sample_lat)):
        if xs:
            print(
                f"| {name} | {len(xs)} | {pct(xs, 50):.3f} | {pct(xs, 90):.3f} | "
                f"{pct(xs, 99):.3f} | {max(xs):.3f} |"
            )
    print(
        f"\nvotes stored: {len(stored)} of {clients * votes} (exactly once per voter and "
        f"comparison: {exactly_once}); errors: {len(errors)}; server up after: {alive}"
    )
    print(
        f"votes/s through the server: {len(vote_lat) / wall:.1f} (wall {wall:.1f} s, samples "
        f"included); peer, straight to SQLite from {clients} threads: "
        f"{clients * votes / peer_wall:.0f} votes/s"
    )
    if errors:
        print("first error:", errors[0])


def tiny_runs(root: Path) -> None:
    from genlab.recipes import get_recipe
    from genlab.runs import fit, override

    common = ["train.steps=200", "train.tensorboard=false", "train.sample_every=0"]
    common += ["train.log_every=100", "train.threads=1"]
    for name in ("rf-digits", "cdcgan-digits", "dcgan-digits"):
        fit(override(get_recipe(name), common), root / name)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", help="folder of runs (default: tiny digits runs trained here)")
    p.add_argument("--first", action="append", default=[], help="run for time to first image")
    p.add_argument("--load-run", help="run the sample requests use (default: the first run)")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--votes", type=int, default=10)
    p.add_argument("--samplers", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="tiny runs, 5 clients x 4 votes")
    args = p.parse_args()
    _machine.report()
    sys.stdout.reconfigure(line_buffering=True)
    root = Path(args.runs) if args.runs else Path(tempfile.mkdtemp(prefix="genlab-app-")) / "runs"
    if not args.runs:
        tiny_runs(root)
    if args.quick:
        args.clients, args.votes, args.samplers = 5, 4, 2
    runs = sorted(p.parent.name for p in root.glob("*/config.yaml"))
    first = args.first or runs[:1]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; server threads 1")
    first_image(root, first)
    load_test(root, args.clients, args.votes, args.samplers, args.load_run or first[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
