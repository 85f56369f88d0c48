"""Process settings for shared CPUs: OpenMP waiting, the thread count, the allocator and
bfloat16 support. Importing this module does not import torch.

Why (measured on a 2-core machine by ``benchmarks/perf.py``, docs/performance.md):

- **OpenMP waiting.** torch's OpenMP threads spin while they wait for work. When another
  job holds a core, a spinning thread steals the time slices the working one needs: with
  one core busy, 2 spinning threads trained the demo 2.08x slower than 1 thread. Sleeping
  at once (``OMP_WAIT_POLICY=PASSIVE``) fixes that but costs a wake-up between every two
  small operators: on a quiet machine 2 such threads were no faster than 1. So
  :func:`prepare_process` (before torch is imported, in every command that computes)
  sets a short spin, ``GOMP_SPINCOUNT=20000``, when every core is free, and PASSIVE when
  one is busy, unless the user set either variable. Demo training with the defaults
  (``benchmarks/perf.py --only threads``): quiet, 1.04x the time of the best setting;
  one core busy, 0.96x that of ``train.threads=1``.
- **Threads.** :func:`pick_threads` turns ``0`` ("auto") into the number of cores not
  busy now (``len(sched_getaffinity)`` minus the busy cores measured from ``/proc/stat``
  over 0.25 s, at least 1), unless ``OMP_NUM_THREADS`` is set (torchrun sets it to 1 per
  process). The 1-minute load average, used before, still counted genlab's own previous
  run for a minute, so a quiet machine got 1 thread.
- **The allocator.** glibc serves large blocks with ``mmap`` and unmaps them on
  ``free``, so the activation buffers of every network call are mapped, faulted in page
  by page and unmapped again (3.0 M page faults for 100 MNIST samples in 5 steps).
  :func:`tune_allocator` serves every block from the heap (``M_MMAP_MAX = 0``) and
  returns free heap memory to the system only above 512 MiB (``M_TRIM_THRESHOLD``), so
  freed buffers are reused: 0.24 M faults, 1.30x faster, +273 MB peak RSS, identical
  output (``mallopt``, glibc only; skipped if any ``MALLOC_*`` variable is set or
  ``GENLAB_MALLOPT=0``).
- **bfloat16** on a CPU without native bf16 instructions (no AVX512-BF16 / AMX) is
  emulated and many times slower; :func:`cpu_has_bf16` tells the training loop to warn.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_MAX = -4
TRIM_THRESHOLD = 512 * 1024 * 1024  # bytes of free heap kept before returning memory


SHORT_SPIN = "20000"  # GOMP_SPINCOUNT on a free machine: spin briefly, then sleep


def prepare_process() -> dict[str, str]:
    """Call before torch is imported: choose how idle OpenMP threads wait, and tune the
    allocator. When every core is free now, threads spin briefly before sleeping
    (``GOMP_SPINCOUNT=20000``: a thread waiting between two small operators wakes at
    once); when another process holds a core, they sleep at once
    (``OMP_WAIT_POLICY=PASSIVE``: a spinning thread would steal that core's time slices).
    Nothing is set when the user set either variable. Returns what it changed, e.g.
    ``{"GOMP_SPINCOUNT": "20000", "malloc": "tuned"}``."""
    done = {}
    user_set = "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ
    if "torch" not in sys.modules and not user_set:
        if free_cores() >= usable_cores():
            os.environ["GOMP_SPINCOUNT"] = done["GOMP_SPINCOUNT"] = SHORT_SPIN
        else:
            os.environ["OMP_WAIT_POLICY"] = done["OMP_WAIT_POLICY"] = "PASSIVE"
    if tune_allocator():
        done["malloc"] = "tuned"
    return done


def tune_allocator() -> bool:
    """Keep freed buffers in glibc's heap instead of unmapping them (see the module
    docstring). Returns whether the settings were applied; False off glibc, if the user
    set ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``, or ``GENLAB_MALLOPT=0``."""
    if os.environ.get("GENLAB_MALLOPT", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    """``(busy, total)`` jiffies of all CPUs since boot (``/proc/stat``), None elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


_BUSY: list[float] = []  # this process's measurement (taken once, at its start)


def busy_cores(window: float = 0.25, fresh: bool = False) -> float:
    """How many cores other processes keep busy *now*: ``/proc/stat`` sampled over
    ``window`` seconds (this process sleeps meanwhile), times the CPU count; measured once
    per process (``fresh`` measures again). Unlike the 1-minute load average it does not
    remember genlab's own earlier runs. Falls back to the load average where
    ``/proc/stat`` is missing."""
    if _BUSY and not fresh:
        return _BUSY[0]
    first = _cpu_times()
    if first is None:
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0
    time.sleep(window)
    second = _cpu_times()
    busy, total = second[0] - first[0], second[1] - first[1]
    _BUSY[:] = [(os.cpu_count() or 1) * busy / total if total > 0 else 0.0]
    return _BUSY[0]


def free_cores() -> int:
    """Usable cores minus the cores busy now (:func:`busy_cores`, rounded), at least 1."""
    n = usable_cores()
    return max(1, min(n, n - round(busy_cores())))


def pick_threads(requested: int) -> int | None:
    """The intra-op thread count for ``requested`` (``train.threads`` / ``--threads``):
    itself when positive; for 0 ("auto"), :func:`free_cores`, or None (leave torch's
    default) when ``OMP_NUM_THREADS`` is set. Raises ValueError when negative."""
    if requested < 0:
        raise ValueError(f"threads must be >= 0, got {requested}")
    if requested:
        return requested
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    return free_cores()


def set_threads(requested: int) -> int | None:
    """Apply :func:`pick_threads` to torch (the ``--threads`` flag of the commands);
    returns the count set (None: torch's default kept).

    Raises:
        ConfigError: ``requested`` is negative (named as ``--threads``).
    """
    from genlab.errors import ConfigError

    if requested < 0:
        raise ConfigError(f"--threads: must be >= 0, got {requested}")
    n = pick_threads(requested)
    if n:
        import torch

        torch.set_num_threads(n)
    return n


def cpuinfo(field: str) -> str | None:
    """The first value of ``field`` (e.g. ``"model name"``, ``"flags"``) in
    ``/proc/cpuinfo``; None where there is no such file or field."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16), from
    ``/proc/cpuinfo``'s flags; False where they cannot be read."""
    return bool(set((cpuinfo("flags") or "").split()) & {"avx512_bf16", "amx_bf16"})
