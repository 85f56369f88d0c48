"""train/sharding.py: ddp and fsdp (FSDP2) on CPU with gloo against one process.

The distributed tests share one ``torchrun --nproc_per_node=2`` launch of
``sharding_worker.py`` (a tiny DiT, MSE loss, fixed random data, 3 AdamW steps, gradient
accumulation over 2 micro-batches per process) and compare what it saved.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from genlab.train import sharding

_spec = importlib.util.spec_from_file_location(
    "sharding_worker", Path(__file__).with_name("sharding_worker.py")
)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)

RTOL = 1e-5


def assert_same_tensors(a: dict, b: dict, rtol=RTOL, atol=1e-7):
    assert list(a) == list(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=rtol, atol=atol, msg=lambda m, k=k: f"{k}: {m}")


# ---- one process: no launch needed -------------------------------------------------------


def test_unknown_strategy_is_a_value_error_naming_the_key():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"train.strategy: unknown strategy 'zero3'"):
        sharding.wrap(model, "zero3", 2, torch.device("cpu"))
    with pytest.raises(ValueError, match="train.strategy"):
        sharding.wrap(model, "zero3", 1, torch.device("cpu"))
    with pytest.raises(ValueError, match="train.strategy"):
        sharding.no_sync(model, "zero3", True)


def test_fsdp_units_are_the_blocks_innermost_first():
    dit = worker.build(0)
    assert sharding.fsdp_units(dit) == list(reversed(list(dit.blocks)))

    class Net(nn.Module):  # U-Net-like: lists of lists, a parameter-free Identity
        def __init__(self):
            super().__init__()
            self.levels = nn.ModuleList([nn.ModuleList([nn.Linear(2, 2), nn.Identity()])])
            self.head = nn.Linear(2, 2)

    net = Net()
    assert sharding.fsdp_units(net) == [net.levels[0][0]]
    net.fsdp_units = lambda: [net.head, net.levels[0][0]]  # the model's own choice wins
    assert sharding.fsdp_units(net) == [net.head, net.levels[0][0]]
    net.fsdp_units = lambda: [net]
    with pytest.raises(ValueError, match="proper submodule"):
        sharding.fsdp_units(net)


def test_one_process_wraps_nothing_and_state_round_trips():
    model = worker.build(0)
    for strategy in ("ddp", "fsdp"):
        assert sharding.wrap(model, strategy, 1, torch.device("cpu")) is model
        assert sharding.unsharded_copy(model) is model
    opt = worker.optimizer(model)
    x, t, y = worker.DATA
    with sharding.no_sync(model, "fsdp", True):
        (model(x, t, {}) - y).square().mean().backward()
    opt.step()
    state = sharding.full_state_dict(model)
    assert_same_tensors(state, model.state_dict(), rtol=0, atol=0)
    assert all(state[k].data_ptr() != v.data_ptr() for k, v in model.state_dict().items())
    saved = sharding.optimizer_state(opt, model)
    assert saved["param_groups"] == opt.state_dict()["param_groups"]

    fresh = worker.build(3)
    fresh_opt = worker.optimizer(fresh)
    sharding.load_full_state_dict(fresh, state)
    sharding.load_optimizer_state(fresh_opt, fresh, saved)
    assert_same_tensors(fresh.state_dict(), model.state_dict(), rtol=0, atol=0)
    for i, s in opt.state_dict()["state"].items():
        assert_same_tensors(fresh_opt.state_dict()["state"][i], s, rtol=0, atol=0)
    with pytest.raises(ValueError, match="build it after sharding.wrap"):
        sharding.optimizer_state(fresh_opt, model)


# ---- two processes (gloo) --------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("sharding")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*cmd, str(Path(__file__).with_name("sharding_worker.py")), str(out)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return torch.load(out / "results.pt", weights_only=True), out


@pytest.mark.slow
def test_losses_equal_ddp_and_one_process(runs):
    """(a) the same global batch: per-step losses and gradient norms agree."""
    r, _ = runs
    single = r["single"]
    assert len(single["losses"]) == worker.STEPS
    assert single["losses"][-1] < single["losses"][0]  # it trains: the steps differ
    for strategy in ("ddp", "fsdp"):
        for key in ("losses", "grad_norms"):
            torch.testing.assert_close(r[strategy][key], single[key], rtol=RTOL, atol=0)
    torch.testing.assert_close(r["fsdp"]["losses"], r["ddp"]["losses"], rtol=RTOL, atol=0)
    for strategy in ("ddp", "fsdp"):  # and so the same weights after 3 steps
        assert_same_tensors(r[strategy]["model"], single["model"], atol=1e-5)


@pytest.mark.slow
def test_micro_batches_before_the_last_do_not_communicate(runs):
    r, _ = runs
    local = r["ddp"]["ddp_local_grads"]  # (processes, ...): not yet averaged, so different
    assert not torch.allclose(local[0], local[1])
    assert r["fsdp"]["fsdp_grads_none"]  # no reduce-scatter yet: no sharded gradient


@pytest.mark.slow
def test_full_state_dict_loads_into_a_plain_model(runs):
    """(b) original keys and shapes; strict load into one process; the same outputs."""
    r, _ = runs
    x, t, _ = worker.DATA
    reference = worker.build(0).state_dict()
    for strategy in ("ddp", "fsdp"):
        state = r[strategy]["model"]
        assert list(state) == list(reference)
        assert all(
            state[k].shape == v.shape and state[k].device.type == "cpu"
            for k, v in reference.items()
        )
        plain = worker.build(5)
        plain.load_state_dict(state, strict=True)
        with torch.no_grad():
            torch.testing.assert_close(
                plain(x, t, {}), r[strategy]["net_out"], rtol=RTOL, atol=1e-6
            )
    assert_same_tensors(r["fsdp"]["model"], r["ddp"]["model"])


@pytest.mark.slow
def test_optimizer_state_round_trip_resumes_exactly(runs):
    """(c) save at step 2, rebuild from another init, load, step 3 == the uninterrupted run."""
    r, out = runs
    for strategy in ("ddp", "fsdp"):
        rec = r[strategy]
        torch.testing.assert_close(
            rec["resumed_losses"], rec["losses"][worker.SAVE_AT :], rtol=1e-6, atol=0
        )
        assert_same_tensors(rec["resumed_model"], rec["model"], rtol=1e-6, atol=1e-8)
        assert_same_tensors(rec["resumed_ema"], rec["ema"], rtol=1e-6, atol=1e-8)
        for i, s in rec["optimizer"]["state"].items():
            assert_same_tensors(rec["resumed_optimizer"]["state"][i], s, rtol=1e-6, atol=1e-8)
        for i, s in rec["optimizer"]["state"].items():  # also after an evaluation forward
            assert_same_tensors(rec["optimizer_after_eval"]["state"][i], s, rtol=0, atol=0)
        saved = torch.load(out / f"{strategy}_optimizer.pt", weights_only=True)
        assert saved["param_groups"] == rec["optimizer_at_save"]["param_groups"]
    fsdp, ddp = r["fsdp"]["optimizer"], r["ddp"]["optimizer"]  # fsdp saves what ddp saves
    assert fsdp["param_groups"] == ddp["param_groups"]
    assert (
        list(fsdp["state"])
        == list(ddp["state"])
        == list(range(len(list(worker.build(0).parameters()))))
    )
    for i, s in ddp["state"].items():
        assert_same_tensors(fsdp["state"][i], s)
        assert all(type(v) is torch.Tensor for v in fsdp["state"][i].values())


@pytest.mark.slow
def test_ema_under_fsdp_equals_ddp(runs):
    """(d) the sharded EMA copy lerps like the replicated one."""
    r, _ = runs
    assert_same_tensors(r["fsdp"]["ema"], r["ddp"]["ema"])
    assert_same_tensors(r["fsdp"]["ema"], r["single"]["ema"], atol=1e-5)
    ema, model = r["fsdp"]["ema"], r["fsdp"]["model"]
    assert not torch.allclose(ema["blocks.0.ada.weight"], model["blocks.0.ada.weight"])


@pytest.mark.slow
def test_preview_copy_is_a_plain_module_with_the_full_ema(runs):
    r, _ = runs
    x, t, _ = worker.DATA
    rec = r["fsdp"]
    assert rec["preview_is_plain"] and not rec["preview_training"]
    plain = worker.build(5)
    plain.load_state_dict(rec["ema"], strict=True)
    with torch.no_grad():
        torch.testing.assert_close(rec["preview_out"], plain(x, t, {}), rtol=RTOL, atol=1e-6)
