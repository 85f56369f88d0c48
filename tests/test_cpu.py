"""Process settings for shared CPUs (genlab.cpu): sleeping OpenMP waits set before torch
loads, "auto" threads from the free cores, the allocator settings, the bf16 warning."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings

import pytest

from genlab import cpu
from genlab.experiment import TrainConfig
from genlab.train import loop


def run_py(code: str, **env) -> str:
    drop = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "GENLAB_MALLOPT")
    full = {k: v for k, v in os.environ.items() if k not in drop}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**full, **env}
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_prepare_process_picks_the_wait_policy_unless_given_or_too_late():
    """A short spin when every core is free, PASSIVE when one is busy (the cores are set
    in the probe), nothing when the user chose, nothing once torch has read its env."""
    probe = (
        "import genlab.cpu as c, os; c.usable_cores = lambda: 2; c.free_cores = lambda: {}; "
        "d = c.prepare_process(); "
        "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'), d)"
    )
    assert run_py(probe.format(2)) == ("None 20000 {'GOMP_SPINCOUNT': '20000', 'malloc': 'tuned'}")
    assert run_py(probe.format(1)) == (
        "PASSIVE None {'OMP_WAIT_POLICY': 'PASSIVE', 'malloc': 'tuned'}"
    )
    assert run_py(probe.format(1), OMP_WAIT_POLICY="ACTIVE") == "ACTIVE None {'malloc': 'tuned'}"
    assert run_py(probe.format(2), GOMP_SPINCOUNT="0") == "None 0 {'malloc': 'tuned'}"
    late = "import torch; " + probe.format(2)
    assert run_py(late).startswith("None None {")  # torch already read its environment


def test_allocator_is_tuned_on_glibc_unless_switched_off():
    probe = "from genlab.cpu import tune_allocator; print(tune_allocator())"
    assert run_py(probe) == "True"
    assert run_py(probe, GENLAB_MALLOPT="0") == "False"
    assert run_py(probe, MALLOC_ARENA_MAX="2") == "False"  # the user's own malloc settings


def test_pick_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpu.pick_threads(3) == 3
    assert 1 <= cpu.pick_threads(0) <= cpu.usable_cores()
    monkeypatch.setattr(cpu, "busy_cores", lambda: 50.0)
    assert cpu.pick_threads(0) == 1  # every core busy: one thread
    monkeypatch.setattr(cpu, "busy_cores", lambda: 0.2)
    assert cpu.pick_threads(0) == cpu.usable_cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # torchrun's per-process setting wins
    assert cpu.pick_threads(0) is None
    with pytest.raises(ValueError, match=">= 0"):
        cpu.pick_threads(-1)


def test_busy_cores_sees_a_spinning_process_now():
    """A process spinning during the window shows as about one busy core (more than 0.5);
    the count is 0 .. the CPU count."""
    import subprocess
    import sys

    idle = cpu.busy_cores(0.2, fresh=True)
    assert 0.0 <= idle <= (os.cpu_count() or 1)
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert cpu.busy_cores(0.5, fresh=True) > 0.5
        assert cpu.busy_cores() == cpu.busy_cores()  # cached: measured once per process
    finally:
        spin.kill()
        spin.wait()


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_without_bf16_instructions_warns_once(monkeypatch, native):
    monkeypatch.setattr(loop, "cpu_has_bf16", lambda: native)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        loop.setup_process(TrainConfig(bf16=True, device="cpu", threads=1))
    hits = [w for w in seen if "bfloat16 instructions" in str(w.message)]
    assert len(hits) == (0 if native else 1)
