"""The training loop: learning, determinism, exact resume, checkpoints, EMA, LR
schedule, batch sharding and a clear stop on a non-finite loss."""

import json
import os
from pathlib import Path

import pytest
import torch

from genlab.checkpoint import checkpoints, load_tensors
from genlab.errors import GenlabError
from genlab.runs import fit, load_model, override
from genlab.train.batches import SampleStream
from genlab.train.ema import EMA, ema_beta
from genlab.train.log import read_metrics
from genlab.train.schedule import lr_at


def train(exp, out: Path, resume: bool = False, overrides=()) -> list[dict]:
    fit(exp, out, resume=resume, overrides=list(overrides))
    return read_metrics(out / "metrics.jsonl")


def test_loss_falls_on_a_tiny_overfit(tiny_moons, tmp_path):
    rows = train(tiny_moons(steps=120, **{"train.lr": 3e-3}), tmp_path / "run")
    first = sum(r["loss"] for r in rows[:10]) / 10
    last = sum(r["loss"] for r in rows[-10:]) / 10
    assert last < 0.75 * first, (first, last)
    assert [r["step"] for r in rows] == list(range(1, 121))
    assert all({"step", "loss", "lr", "samples_per_s", "grad_norm"} <= set(r) for r in rows)


def test_same_seed_same_losses_other_seed_differs(tiny_moons, tmp_path):
    a = train(tiny_moons(steps=5), tmp_path / "a")
    b = train(tiny_moons(steps=5), tmp_path / "b")
    c = train(override(tiny_moons(steps=5), ["seed=1"]), tmp_path / "c")
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert [r["loss"] for r in a] != [r["loss"] for r in c]


def test_resume_continues_exactly(tiny_moons, tmp_path):
    """2N steps in one go == N steps, stop, resume for N more: identical loss at every step."""
    n = 6
    exp = tiny_moons(steps=2 * n, **{"train.ckpt_every": n, "model.dropout": 0.1})
    full = train(exp, tmp_path / "full")
    half = train(override(exp, [f"train.stop_after={n}"]), tmp_path / "half")
    assert len(half) == n
    resumed = train(exp, tmp_path / "half", resume=True, overrides=["train.stop_after=0"])
    assert [r["loss"] for r in resumed] == [r["loss"] for r in full]
    for name in ("model", "ema"):
        x = load_tensors(tmp_path / "full" / f"{name}.safetensors")
        y = load_tensors(tmp_path / "half" / f"{name}.safetensors")
        assert all(torch.equal(x[k], y[k]) for k in x)


def test_checkpoint_layout_and_keep_last(tiny_moons, tmp_path):
    out = tmp_path / "run"
    train(tiny_moons(steps=10, **{"train.ckpt_every": 2, "train.keep_last": 2}), out)
    assert [s for s, _ in checkpoints(out)] == [8, 10]
    latest = out / "checkpoints" / "step_00000010"
    assert os.path.samefile(out / "model.safetensors", latest / "model.safetensors")
    assert os.path.samefile(out / "state", latest / "state")
    trainer = json.loads((out / "state" / "trainer.json").read_text())
    assert trainer["step"] == 10 and trainer["samples_seen"] == 10 * 32
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    exp, model = load_model(out, "ema")
    ema = load_tensors(out / "ema.safetensors")
    assert all(torch.equal(v, ema[k]) for k, v in model.state_dict().items())


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tiny_moons, tmp_path, monkeypatch):
    import genlab.families.diffusion as diffusion

    real, calls = diffusion.denoising_loss, {"n": 0}

    def flaky(*args, **kwargs):
        loss, logs = real(*args, **kwargs)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] > 4 else loss), logs

    monkeypatch.setattr(diffusion, "denoising_loss", flaky)
    out = tmp_path / "run"
    with pytest.raises(GenlabError, match="loss is nan at step 5; stopped.*step 4"):
        train(tiny_moons(steps=10, **{"train.ckpt_every": 2}), out)
    assert [s for s, _ in checkpoints(out)] == [2, 4]


def test_lr_schedule_warmup_then_cosine_to_floor():
    lr = [lr_at(s, 1.0, 110, 10, 0.1) for s in range(110)]
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0)
    assert lr[10] == pytest.approx(1.0)
    assert lr[60] == pytest.approx(0.1 + 0.9 * 0.5)  # half way through the cosine
    assert lr[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in zip(lr[10:], lr[11:]))


def test_ema_halflife_is_in_samples():
    # After `halflife` samples the old weights keep exactly half their weight.
    b, h = 32, 320.0
    beta = ema_beta(b, 10**9, h, rampup=0.0)
    assert beta ** (h / b) == pytest.approx(0.5)
    assert ema_beta(b, 100, h, rampup=0.5) < beta  # ramp-up: shorter half-life early on
    m = torch.nn.Linear(2, 2)
    e = EMA(m)
    with torch.no_grad():
        m.weight.add_(1.0)
    old = e.module.weight.clone()
    e.update(m, 0.75)
    assert torch.allclose(e.module.weight, 0.75 * old + 0.25 * m.weight)


def test_sample_stream_partitions_each_epoch_and_shards_split_a_batch():
    stream = SampleStream(n=100, seed=3)
    seen = torch.cat([stream.indices(g, 20) for g in range(0, 100, 20)]).tolist()
    assert sorted(seen) == list(range(100))  # one epoch: every row once
    batch = stream.indices(40, 20)
    shards = torch.cat([stream.indices(40 + 5 * j, 5) for j in range(4)])
    assert torch.equal(shards, batch)  # 4 shards of 5 == the batch of 20
    again = SampleStream(n=100, seed=3)
    assert torch.equal(again.indices(140, 10), stream.indices(140, 10))
    assert not torch.equal(stream.indices(100, 20), stream.indices(0, 20))  # a new shuffle
    straddle = stream.indices(90, 20)  # the last 10 of epoch 0, the first 10 of epoch 1
    assert torch.equal(straddle, torch.cat([stream.indices(90, 10), stream.indices(100, 10)]))


def test_data_order_depends_only_on_the_global_sample_index():
    """A run that changes its batch size mid-epoch continues the epoch: no row twice,
    none skipped (the order is a function of the samples consumed, not of the step)."""
    stream = SampleStream(n=96, seed=0)
    first = [stream.indices(g, 32) for g in (0, 32)]  # two steps of 32
    rest = [stream.indices(64 + g, 16) for g in (0, 16)]  # resumed at batch 16
    assert sorted(torch.cat(first + rest).tolist()) == list(range(96))


def test_resume_with_another_batch_size_continues_the_epoch(tiny_moons, tmp_path):
    exp = tiny_moons(steps=4, **{"data.n": 128, "train.ckpt_every": 2})
    half = train(override(exp, ["train.stop_after=2"]), tmp_path / "run")
    assert half[-1]["samples_seen"] == 64
    rows = train(exp, tmp_path / "run", resume=True, overrides=["train.stop_after=0",
                 "train.batch_size=16", "train.steps=6"])  # fmt: skip
    assert [r["samples_seen"] for r in rows[2:]] == [80, 96, 112, 128]
    assert [r["epoch"] for r in rows[2:]] == [0, 0, 0, 0]
    trainer = json.loads((tmp_path / "run" / "state" / "trainer.json").read_text())
    assert trainer["samples_seen"] == 128


def test_bigger_batch_than_data_is_a_config_error(tiny_moons, tmp_path):
    with pytest.raises(GenlabError, match="train.batch_size: 1024 is larger than the dataset"):
        train(tiny_moons(steps=2, **{"train.batch_size": 1024}), tmp_path / "run")


def test_a_warmup_longer_than_the_run_is_capped_with_a_warning(tiny_moons, tmp_path):
    with pytest.warns(UserWarning, match="train.warmup_steps=50 is longer than train.steps=4"):
        rows = train(tiny_moons(steps=4, **{"train.warmup_steps": 50}), tmp_path / "run")
    lrs = [r["lr"] for r in rows]  # the warm-up ends at the last step: lr reaches its peak
    assert lrs == pytest.approx([1e-3 * (s + 1) / 4 for s in range(4)])
