"""MFU: a step's FLOPs counted exactly (closed forms, the CPU attention kernel included),
the peak measured once and cached, and mfu logged by both loops."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils import flop_counter as fc

from genlab.errors import ConfigError
from genlab.runs import fit
from genlab.train import flops as F
from genlab.train.log import read_metrics


def test_a_linear_layer_step_counts_its_closed_form():
    b, n_in, n_out = 8, 16, 32
    layer = torch.nn.Linear(n_in, n_out, bias=False)
    counter = F.StepFlops(torch.device("cpu"))
    with counter.count():
        layer(torch.randn(b, n_in)).square().sum().backward()
    assert counter.per_step == 2 * (2 * b * n_in * n_out)  # forward + weight gradient
    with counter.count():  # counted once: later steps are not counted again
        layer(torch.randn(3 * b, n_in)).sum().backward()
    assert counter.per_step == 4 * b * n_in * n_out
    assert counter.mfu(0.0) == 0.0


def test_count_flops_of_an_inference_call_under_no_grad():
    """A forward pass of Linear(16, 8) on 4 rows is 2 * 4 * 16 * 8 FLOPs (matmul), where
    FlopCounterMode's module tracker fails under no_grad."""
    layer = torch.nn.Linear(16, 8)
    with torch.no_grad():
        out, n = F.count_flops(layer, torch.randn(4, 16))
    assert out.shape == (4, 8) and n == 2 * 4 * 16 * 8


def test_cpu_attention_is_counted_with_the_sdpa_formulas():
    q = torch.randn(2, 4, 64, 32, requires_grad=True)
    counter = F.StepFlops(torch.device("cpu"))
    with counter.count():
        torch.nn.functional.scaled_dot_product_attention(q, q, q).sum().backward()
    shape = tuple(q.shape)
    want = fc.sdpa_flop_count(shape, shape, shape)
    want += fc.sdpa_backward_flop_count(shape, shape, shape, shape)
    assert want == 4 * 2 * 4 * 64 * 64 * 32 * 3.5  # forward 4BHLSE, backward 2.5x
    assert counter.per_step == want


def test_peak_keeps_the_best_measurement_and_refuses_a_bad_override(tmp_path, monkeypatch):
    monkeypatch.delenv("GENLAB_PEAK_FLOPS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(F, "_PEAKS", {})
    rates, real = [5e10, 3e10, 7e10], F.measure_peak
    monkeypatch.setattr(F, "measure_peak", lambda d, t: rates.pop(0))  # noqa: ARG005
    cpu = torch.device("cpu")
    assert F.peak_flops(cpu) == 5e10 and F.peak_flops(cpu) == 5e10  # once per process
    monkeypatch.setattr(F, "_PEAKS", {})  # a new process on a busier machine measures 3e10
    assert F.peak_flops(cpu) == 5e10  # the cached best stands
    cache = tmp_path / "genlab" / "peak_flops.json"
    (key,) = json.loads(cache.read_text())
    assert "float32" in key and f"threads={torch.get_num_threads()}" in key
    cache.write_text("[]")  # damaged: measured again, not a crash
    monkeypatch.setattr(F, "_PEAKS", {})
    assert F.peak_flops(cpu) == 7e10 and json.loads(cache.read_text()) == {key: 7e10}
    if not F.cpu_has_bf16():  # emulated bf16 is measured against the float32 peak
        assert F.peak_flops(cpu, torch.bfloat16) == 7e10
    for bad in ("abc", "0", "-5", "nan"):
        monkeypatch.setenv("GENLAB_PEAK_FLOPS", bad)
        with pytest.raises(ConfigError, match="GENLAB_PEAK_FLOPS: must be a positive"):
            F.StepFlops(cpu)
    monkeypatch.setenv("GENLAB_PEAK_FLOPS", "1e9")
    assert F.peak_flops(cpu) == 1e9
    assert real(cpu, torch.float32, n=64, reps=2) > 0


def test_both_loops_log_mfu(tiny_moons, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_PEAK_FLOPS", "1e11")
    fit(tiny_moons(steps=3), tmp_path / "one")
    rows = read_metrics(tmp_path / "one" / "metrics.jsonl")
    assert all(r["mfu"] > 0 for r in rows)
    from train.test_gan_loop import tiny

    fit(tiny(steps=2), tmp_path / "gan")
    rows = read_metrics(tmp_path / "gan" / "metrics.jsonl")
    assert all(r["mfu"] > 0 for r in rows)
