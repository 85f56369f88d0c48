"""Process settings for shared CPUs (genlab.cpu): sleeping OpenMP waits set before torch
loads, "auto" threads from the free cores, the allocator settings, the bf16 warning."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from genlab import cpu
from genlab.experiment import TrainConfig
from genlab.train import loop


def run_py(code: str, **env) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GENLAB_MALLOPT")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**full, **env}
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_prepare_process_sets_passive_waits_unless_given_or_too_late():
    probe = "from genlab.cpu import prepare_process; import os; d = prepare_process(); "
    assert run_py(probe + "print(os.environ['OMP_WAIT_POLICY'], d)") == (
        "PASSIVE {'OMP_WAIT_POLICY': 'PASSIVE', 'malloc': 'tuned'}"
    )
    assert run_py(probe + "print(os.environ['OMP_WAIT_POLICY'])", OMP_WAIT_POLICY="ACTIVE") == (
        "ACTIVE"
    )
    late = "import torch; " + probe + "print(os.environ.get('OMP_WAIT_POLICY'))"
    assert run_py(late) == "None"  # torch already read its environment: changing it lies


def test_allocator_is_tuned_on_glibc_unless_switched_off():
    probe = "from genlab.cpu import tune_allocator; print(tune_allocator())"
    assert run_py(probe) == "True"
    assert run_py(probe, GENLAB_MALLOPT="0") == "False"
    assert run_py(probe, MALLOC_ARENA_MAX="2") == "False"  # the user's own malloc settings


def test_pick_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpu.pick_threads(3) == 3
    assert 1 <= cpu.pick_threads(0) <= cpu.usable_cores()
    monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 0.0, 0.0))
    assert cpu.pick_threads(0) == 1  # every core busy: one thread
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert cpu.pick_threads(0) == cpu.usable_cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # torchrun's per-process setting wins
    assert cpu.pick_threads(0) is None
    with pytest.raises(ValueError, match=">= 0"):
        cpu.pick_threads(-1)


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_without_bf16_instructions_warns_once(monkeypatch, native):
    monkeypatch.setattr(loop, "cpu_has_bf16", lambda: native)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        loop.setup_process(TrainConfig(bf16=True, device="cpu", threads=1))
    hits = [w for w in seen if "bfloat16 instructions" in str(w.message)]
    assert len(hits) == (0 if native else 1)
