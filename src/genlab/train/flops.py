"""Model FLOPs utilisation (MFU): the FLOPs of one training step, counted once, against
the peak matmul rate of this machine, measured once and cached.

``mfu = step_flops * steps_per_s / peak_flops`` (PaLM, Chowdhery et al. 2022, App. B,
with the step's FLOPs counted rather than estimated as ``6 N``). The step is counted by
:class:`torch.utils.flop_counter.FlopCounterMode` over the forward and backward passes of
the first step a process runs, using torch's FLOP formulas
(``torch.utils.flop_counter``) in a dispatch mode that only watches: torch's own
``FlopCounterMode`` decomposes operators it has no formula for, which changes the
step's numerics (and so exact resume), and its module tracking breaks
``autograd.grad`` (R1). torch's table has no entry for the fused CPU attention kernel
(``_scaled_dot_product_flash_attention_for_cpu`` and its backward); the two are added here
with torch's own SDPA formulas. The peak is the best of several square matmuls at
the process's thread count and dtype, cached in ``$XDG_CACHE_HOME/genlab/peak_flops.json``
(``~/.cache`` by default) per CPU model or GPU name and kept at the best ever measured;
``GENLAB_PEAK_FLOPS`` (FLOP/s) gives it instead.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils import flop_counter as fc
from torch.utils._python_dispatch import TorchDispatchMode

from genlab.cpu import cpu_has_bf16, cpuinfo
from genlab.errors import ConfigError

_aten = torch.ops.aten


def _sdpa_cpu(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return fc.sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_cpu_backward(
    grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs
) -> int:
    return fc.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


CPU_KERNELS = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_cpu_backward,
}
# operator -> flops(*args, **kwargs, out_val=out)
FORMULAS = {**fc.flop_registry, **{op: fc.shape_wrapper(f) for op, f in CPU_KERNELS.items()}}


class _Watch(TorchDispatchMode):
    """Runs every operator as it is and adds up the FLOPs of those with a formula."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = FORMULAS.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def count_flops(fn, *args, **kwargs) -> tuple[object, int]:
    """``(fn(*args, **kwargs), FLOPs it ran)``, counted with torch's formulas plus the CPU
    attention kernels (works under ``torch.no_grad``, where FlopCounterMode's module
    tracker fails)."""
    with _Watch() as watch:
        out = fn(*args, **kwargs)
    return out, watch.total


class StepFlops:
    """The FLOPs of one optimizer step of this process, counted on the first step run.

    Use ``with flops.count():`` around a step's forward and backward passes; the first
    time it records ``flops.per_step``, afterwards it does nothing. ``mfu(steps_per_s)``
    is None until counted, or when nothing was counted (e.g. under ``torch.compile``).
    """

    def __init__(self, device: torch.device, bf16: bool = False):
        self.device, self.dtype = device, torch.bfloat16 if bf16 else torch.float32
        self.per_step: int | None = None
        peak_flops(device, self.dtype)  # a bad GENLAB_PEAK_FLOPS fails before training starts

    @contextlib.contextmanager
    def count(self) -> Iterator[None]:
        if self.per_step is not None:
            yield
            return
        with _Watch() as watch:
            yield
        self.per_step = watch.total

    def mfu(self, steps_per_s: float) -> float | None:
        if not self.per_step:
            return None
        return self.per_step * steps_per_s / peak_flops(self.device, self.dtype)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu {cpuinfo('model name') or platform.processor() or platform.machine()}"


def cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "genlab" / "peak_flops.json"


def measure_peak(device: torch.device, dtype: torch.dtype, n: int = 0, reps: int = 10) -> float:
    """The best rate (FLOP/s) of ``reps`` ``n x n`` matmuls in ``dtype`` on ``device``."""
    n = n or (4096 if device.type == "cuda" else 512)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for i in range(reps + 2):  # the first two warm up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        tic = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 2:
            best = min(best, time.perf_counter() - tic)
    return 2 * n**3 / best


_PEAKS: dict[str, float] = {}


def peak_flops(device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    """This process's peak matmul rate (FLOP/s): ``GENLAB_PEAK_FLOPS`` if set, else the
    best of this process's measurement and every earlier one cached for this device, dtype
    and thread count (so one measurement on a busy machine does not stick). A bf16 peak on
    a CPU without bf16 instructions is the float32 one: emulated bf16 has no peak of its
    own. Raises :class:`ConfigError` for a ``GENLAB_PEAK_FLOPS`` that is not positive."""
    given = os.environ.get("GENLAB_PEAK_FLOPS")
    if given:
        try:
            value = float(given)
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"GENLAB_PEAK_FLOPS: must be a positive FLOP/s rate, got {given!r}")
        return value
    if device.type == "cpu" and dtype == torch.bfloat16 and not cpu_has_bf16():
        dtype = torch.float32
    threads = torch.get_num_threads() if device.type == "cpu" else 0
    key = f"{_device_name(device)}|{str(dtype).removeprefix('torch.')}|threads={threads}"
    if key in _PEAKS:
        return _PEAKS[key]
    path = cache_file()
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if not isinstance(cached, dict):  # a damaged cache is measured again
        cached = {}
    before = cached.get(key)
    best = measure_peak(device, dtype)
    if isinstance(before, (int, float)) and math.isfinite(before) and before > best:
        best = float(before)
    if best != before:
        cached[key] = best
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cached, indent=1) + "\n")
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home: measure again next time
    _PEAKS[key] = best
    return best
