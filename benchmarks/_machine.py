"""The machine line every benchmark prints with its tables: this machine is shared, so a
table means little without the load it was measured under and the threads it used.

    import _machine; _machine.report()   # after parsing arguments
"""

from __future__ import annotations

import atexit
import os
import sys


def line(when: str) -> str:
    one, five, _ = os.getloadavg()
    threads = ""
    if "torch" in sys.modules:  # only report what the script itself set up
        threads = f"; torch threads {sys.modules['torch'].get_num_threads()}"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"machine ({when}): load average {one:.1f} (5 min {five:.1f}) on {cpus} CPUs{threads}"


def report() -> None:
    """Print the machine line now and again when the script ends."""
    print(line("start"), flush=True)
    atexit.register(lambda: print(line("end"), flush=True))
