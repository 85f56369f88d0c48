"""The two-player loop: exact resume, NaN stop, per-seed samples, config round trip, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from genlab import config as C
from genlab.checkpoint import checkpoints, load_tensors
from genlab.cli import main as cli
from genlab.errors import ConfigError, GenlabError
from genlab.families import family_of
from genlab.recipes import get_recipe
from genlab.runs import experiment_from as experiment_from_dict
from genlab.runs import fit, load_model, override
from genlab.train.log import read_metrics

TIMING = ("samples_per_s", "mfu")


def tiny(recipe: str = "pacgan-grid25", steps: int = 8, **extra):
    ov = {
        "train.steps": steps,
        "train.batch_size": 32,
        "train.log_every": 1,
        "train.sample_every": 0,
        "train.num_samples": 16,
        "train.ckpt_every": steps,
        "train.tensorboard": "false",
        "data.n": 512,
        "model.generator.hidden": 16,
        "model.generator.depth": 2,
        "model.discriminator.hidden": 16,
        "model.discriminator.depth": 2,
        **extra,
    }
    return override(get_recipe(recipe), [f"{k}={v}" for k, v in ov.items()])


def train(exp, out: Path, resume: bool = False, overrides=()) -> list[dict]:
    fit(exp, out, resume=resume, overrides=list(overrides))
    return read_metrics(out / "metrics.jsonl")


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def test_resume_continues_exactly(tmp_path):
    """2N steps == N steps + resume N: identical logs (losses, D(x), D(G(z)), grad norms,
    modes) at every step, identical G, EMA and D weights."""
    n = 4
    extra = {
        "objective.n_critic": 2,
        "objective.r1_gamma": 1.0,
        "objective.r1_every": 3,
        "objective.gp_weight": 1.0,
        "objective.spectral_norm": "true",
        "model.generator.batch_norm": "true",
        "model.generator.mixture": 5,
        "objective.instance_noise": 0.5,
        "train.ckpt_every": n,
    }
    exp = tiny(steps=2 * n, **extra)
    full = train(exp, tmp_path / "full")
    half = train(override(exp, [f"train.stop_after={n}"]), tmp_path / "half")
    assert len(half) == n
    resumed = train(exp, tmp_path / "half", resume=True, overrides=["train.stop_after=0"])
    assert _strip(resumed) == _strip(full)
    assert {"d_real", "d_fake", "grad_norm_d", "grad_norm_g", "r1", "gp", "modes"} <= set(full[0])
    for name in ("model", "ema", "disc"):
        x = load_tensors(tmp_path / "full" / f"{name}.safetensors")
        y = load_tensors(tmp_path / "half" / f"{name}.safetensors")
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_instance_noise_decays_linearly():
    """sigma(step) = sigma_0 (1 - step / span), 0 after the span; the noise added has std
    sigma; a negative sigma_0 is refused."""
    from genlab.families import gan

    exp = tiny(steps=100, **{"objective.instance_noise": 0.4})
    std = [gan.noise_std(exp, s) for s in (0, 25, 50, 100)]
    assert std == pytest.approx([0.4, 0.3, 0.2, 0])
    exp = override(exp, ["objective.instance_noise_steps=40"])
    assert [gan.noise_std(exp, s) for s in (0, 20, 40, 60)] == pytest.approx([0.4, 0.2, 0, 0])
    x = torch.zeros(20_000, 2)
    y = gan._noisy(x, 0.3, torch.Generator().manual_seed(0))
    assert abs(y.std().item() - 0.3) < 0.01 and abs(y.mean().item()) < 0.01
    assert gan._noisy(x, 0.0, torch.Generator()) is x
    with pytest.raises(ConfigError, match="objective.instance_noise"):
        override(exp, ["objective.instance_noise=-1"])


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    import genlab.objectives.gan as L

    d_fn, g_fn = L.LOSSES["ns"]
    calls = {"n": 0}

    def flaky(r, f):
        calls["n"] += 1
        return d_fn(r, f) * (float("nan") if calls["n"] > 4 else 1.0)

    monkeypatch.setitem(L.LOSSES, "ns", (flaky, g_fn))
    out = tmp_path / "run"
    with pytest.raises(GenlabError, match="discriminator loss is nan at step 5; stopped"):
        train(tiny(steps=10, **{"train.ckpt_every": 2, "objective.n_critic": 1}), out)
    assert [s for s, _ in checkpoints(out)] == [2, 4]
    assert len(read_metrics(out / "metrics.jsonl")) == 4


def test_samples_depend_only_on_their_seed_and_cli_sample(tmp_path):
    exp = override(
        get_recipe("cdcgan-digits"),
        [
            "train.steps=2",
            "train.batch_size=32",
            "train.tensorboard=false",
            "train.num_samples=10",
            "model.generator.channels=8",
            "model.discriminator.channels=8",
        ],
    )
    out = tmp_path / "run"
    train(exp, out)
    exp, g = load_model(out, "ema")
    task = family_of(exp.objective.kind)
    label = torch.tensor([3, 7, 1])
    a = task.sample(g, exp, [10, 11, 12], {"class": label}, exp.sampler)
    b = task.sample(g, exp, [12], {"class": label[2:]}, exp.sampler)
    assert a.shape == (3, 1, 8, 8) and torch.allclose(a[2], b[0], atol=1e-6)
    assert not torch.equal(a[0], a[1])
    assert cli(["sample", str(out), "--n", "10", "--class", "4", "--out", str(out / "s.npz")]) == 0
    assert cli(["sample", str(out), "--n", "4", "--steps", "3"]) == 2  # not a GAN setting


def test_config_round_trip_and_typed_overrides():
    exp = override(
        get_recipe("stylegan-mnist"),
        [
            "model.generator.modulation=modconv",
            "objective.d_lr=1e-3",
            "model.discriminator.norm=none",
        ],
    )
    back = experiment_from_dict(C.to_dict(exp))
    assert back == exp and back.model.generator.modulation == "modconv"
    import yaml

    assert experiment_from_dict(yaml.safe_load(C.dump_yaml(exp))) == exp
    with pytest.raises(ConfigError, match="objective.n_critic: expected an integer"):
        override(exp, ["objective.n_critic=two"])
    with pytest.raises(ConfigError, match="model.generator.modulation"):
        override(exp, ["model.generator.modulation=film"])
    with pytest.raises(ConfigError, match="did you mean 'objective.gp_weight'"):
        override(exp, ["objective.gp_weigth=1"])
    with pytest.raises(ConfigError, match="objective.gp_weight"):
        override(get_recipe("gan-grid25"), ["objective.loss=wgan-gp"])


def test_latent_walks_of_a_stylegan_run(tmp_path):
    from genlab.figures import latent_walks

    ov = ["train.steps=1", "train.batch_size=8", "train.tensorboard=false", "data.n=16",
          "data.image_size=8", "model.image_size=8", "model.generator.channels=4",
          "model.discriminator.channels=4", "train.num_samples=4"]  # fmt: skip
    out = tmp_path / "run"
    train(override(get_recipe("stylegan-shapes"), ov), out)
    paths = latent_walks(out, tmp_path / "walks", steps=4)
    assert [p.name for p in paths] == [
        "linear.png",
        "linear.gif",
        "spherical.png",
        "spherical.gif",
        "mixing.png",
    ]
    assert all(p.is_file() for p in paths)


def test_lazy_r1_is_scaled_by_its_interval():
    """On sub-step 0 of every r1_every-th step the D loss gains gamma/2 * r1_every * R1
    (so the penalty's average over steps is gamma/2 * R1); on other steps it gains nothing."""
    from genlab.families.gan import build, build_discriminator, discriminator_loss
    from genlab.objectives.gan import pack, r1_penalty
    from genlab.rng import keyed

    gamma, every = 2.0, 4
    exp = tiny(**{"objective.r1_gamma": gamma, "objective.r1_every": every})
    plain = tiny(**{"objective.r1_gamma": 0.0})
    torch.manual_seed(0)
    g, d = build(exp), build_discriminator(exp)
    batch = {"x": torch.randn(32, 2, generator=keyed(5)), "cond": {}}
    with_r1, logs = discriminator_loss(exp)(g, d, batch, keyed(1), 8, 0)
    base, _ = discriminator_loss(plain)(g, d, batch, keyed(1), 8, 0)
    r1 = r1_penalty(lambda x: d(x, {}), pack(batch["x"], exp.objective.pack)).mean()
    torch.testing.assert_close(logs["r1"], r1.detach())
    torch.testing.assert_close(with_r1 - base, 0.5 * gamma * every * r1)
    for step, k in ((9, 0), (8, 1)):  # not an R1 step, or not the first sub-step
        a, logs = discriminator_loss(exp)(g, d, batch, keyed(1), step, k)
        b, _ = discriminator_loss(plain)(g, d, batch, keyed(1), step, k)
        assert "r1" not in logs and torch.equal(a, b)


def test_two_player_loop_honours_or_refuses_every_train_key(tmp_path):
    """compile and fsdp are refused with a clear error (nothing trained); bf16,
    grad_accum and weight_decay are honoured."""
    for key, value in (("train.compile", "true"), ("train.strategy", "fsdp")):
        with pytest.raises(ConfigError, match=key):
            train(tiny(steps=2, **{key: value}), tmp_path / key)
        assert not (tmp_path / key).exists()  # the refused new run left nothing behind
    rows = train(tiny(steps=2, **{"train.bf16": "true", "train.grad_accum": 2,
                                  "train.weight_decay": 0.01}), tmp_path / "ok")  # fmt: skip
    assert len(rows) == 2 and all(math.isfinite(r["d_loss"]) for r in rows)
