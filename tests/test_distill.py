"""The distill family end to end on tiny real runs: reflow pairs are deterministic per
seed; every student trains from its teacher's weights, records the teacher (location and
fingerprint) and samples through ``genlab sample --steps``; progressive rounds chain; a
resumed student reproduces the uninterrupted one; a missing teacher, a teacher that is
not a diffusion run or one with another network is a clear error."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from genlab.cli import main
from genlab.errors import CheckpointError, ConfigError
from genlab.experiment import Experiment
from genlab.families import distill
from genlab.objectives import configs as O
from genlab.runs import fit, load_model, sample
from genlab.sampling.configs import DiffusionSamplerConfig
from tests.conftest import tiny_overrides

TRAIN = dict(steps=4, batch_size=32, log_every=1, sample_every=0, num_samples=8, ckpt_every=2,
             warmup_steps=1, tensorboard=False, threads=1)  # fmt: skip


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A class-conditional rectified flow on two moons, trained for 20 steps."""
    from genlab.recipes import get_recipe
    from genlab.runs import override

    out = tmp_path_factory.mktemp("teacher") / "rf-moons"
    ov = tiny_overrides(20, **{"data.n": 512, "model.hidden": 32, "model.depth": 2})
    fit(override(get_recipe("rf-moons"), ov), out)
    return out


def student(teacher, config, sampler=None, cfg=1.0, **train) -> Experiment:
    t = load_model(teacher)[0]
    return Experiment(
        recipe="student",
        data=t.data,
        model=t.model,
        objective=config(teacher=str(teacher), teacher_cfg=cfg),
        sampler=sampler or DiffusionSamplerConfig(steps=1),
        train=dataclasses.replace(t.train, **{**TRAIN, **train}),
    )


def test_reflow_pairs_are_deterministic_per_seed(teacher):
    exp = student(teacher, lambda **k: O.ReflowConfig(pair_steps=4, **k))
    six = distill.make_pairs(exp, 6, batch=4)
    three = distill.make_pairs(exp, 3)
    for key in ("x", "noise", "seed", "class"):
        assert torch.equal(six[key][:3], three[key])
    exp.objective.pair_seed += 1  # shifting the seeds shifts the rows
    shifted = distill.make_pairs(exp, 3)
    assert torch.equal(shifted["x"][:2], six["x"][1:3])
    assert torch.equal(six["class"], (six["seed"] % 2))
    # the pair's noise is the noise `genlab sample` starts the same seed from
    x = sample(teacher, 1, int(six["seed"][0]), cls=int(six["class"][0]), name="dpmpp_2m",
               steps=4, cfg=1.0)  # fmt: skip
    assert torch.allclose(x[0], six["x"][0], atol=1e-5)


@pytest.mark.parametrize(
    "kind,config,sampler",
    [
        ("reflow", lambda **k: O.ReflowConfig(pairs=64, pair_steps=4, **k), "euler"),
        ("consistency", lambda **k: O.ConsistencyConfig(steps_start=2, steps_end=8, **k),
         "consistency"),
        ("progressive", lambda **k: O.ProgressiveConfig(student_steps=2, **k), "euler"),
    ],
)  # fmt: skip
def test_a_student_trains_records_its_teacher_and_samples_in_few_steps(
    teacher, tmp_path, kind, config, sampler
):
    exp = student(teacher, config, DiffusionSamplerConfig(name=sampler, steps=1))
    out = fit(exp, tmp_path / kind)
    pins = json.loads((out / "dependencies.json").read_text())["objective.teacher"]
    assert pins["weights"] == "ema" and len(pins["fingerprint"]) == 16
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(log) == 4 and all(np.isfinite(r["loss"]) for r in log)
    # the student started from the teacher: its first checkpoint is close to, not equal to, it
    s_exp, s_net = load_model(out, "model")
    t_net = load_model(teacher, "ema")[1]
    drift = [(a - b).abs().max() for a, b in zip(s_net.parameters(), t_net.parameters())]
    assert 0 < max(drift) < 0.05
    for steps in (1, 2, 4):
        code = main(["sample", str(out), "--n", "6", "--steps", str(steps), "--out",
                     str(tmp_path / f"s{steps}.npz")])  # fmt: skip
        assert code == 0
    one, four = (np.load(tmp_path / f"s{k}.npz")["x"] for k in (1, 4))
    assert one.shape == (6, 2) and np.isfinite(one).all() and not np.allclose(one, four)


def test_progressive_rounds_chain_and_a_resumed_student_matches(teacher, tmp_path):
    first = fit(student(teacher, lambda **k: O.ProgressiveConfig(student_steps=4, **k)),
                tmp_path / "pd4")  # fmt: skip
    same = student(first, lambda **k: O.ProgressiveConfig(student_steps=4, **k), cfg=0.0)
    with pytest.raises(ConfigError, match="a progressive round halves its teacher's steps"):
        fit(same, tmp_path / "not-halved")
    round2 = lambda **k: O.ProgressiveConfig(student_steps=2, **k)  # noqa: E731
    # a student's guidance is built in (it never learned the null class): not guided again
    with pytest.raises(ConfigError, match="objective.teacher_cfg: the teacher .* is a distilled"):
        fit(student(first, round2), tmp_path / "guided")
    assert not (tmp_path / "guided").exists()
    second = student(first, round2, cfg=0.0)
    whole = fit(second, tmp_path / "pd2")
    part = fit(dataclasses.replace(second, train=dataclasses.replace(second.train, stop_after=2)),
               tmp_path / "pd2-resumed")  # fmt: skip
    fit(second, part, resume=True)
    a, b = (load_model(d, "model")[1].state_dict() for d in (whole, part))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_adversarial_student_trains_on_images(tmp_path):
    from genlab.recipes import get_recipe
    from genlab.runs import override

    small = {"model.channels": 8, "train.threads": 1}
    t = fit(override(get_recipe("rf-digits"), tiny_overrides(2, **small)), tmp_path / "rf")
    exp = student(t, lambda **k: O.AdversarialConfig(pairs=32, pair_steps=2, disc_channels=8,
                                                     **k))  # fmt: skip
    out = fit(exp, tmp_path / "adv")
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"d_loss", "g_loss", "mse"} <= set(log[-1]) and np.isfinite(log[-1]["g_loss"])
    assert (out / "pairs.safetensors").is_file()
    assert main(["sample", str(out), "--n", "4", "--steps", "1", "--out",
                 str(tmp_path / "a.npz")]) == 0  # fmt: skip
    assert np.load(tmp_path / "a.npz")["x"].shape == (4, 1, 8, 8)


def test_a_missing_or_wrong_teacher_is_a_clear_error(teacher, tmp_path, capsys):
    exp = student(teacher, O.ReflowConfig)
    exp.objective.teacher = str(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="no such run directory"):
        distill.load_teacher(exp)
    ov = [o for o in tiny_overrides(2, **{"data.n": 64}) if "sampler" not in o]
    gan = tmp_path / "gan"
    from genlab.recipes import get_recipe
    from genlab.runs import override

    fit(override(get_recipe("gan-grid25"), ov), gan)
    exp.objective.teacher = str(gan)
    with pytest.raises(ConfigError, match="is a 'gan' run, not a diffusion or flow run"):
        distill.load_teacher(exp)
    exp.objective.teacher = str(teacher)
    exp.model = dataclasses.replace(exp.model, hidden=64)
    with pytest.raises(ConfigError, match="must equal the teacher's"):
        distill.load_teacher(exp)
    # through the command line: one line naming the key, exit 2, no run directory left
    code = main(["train", "reflow-digits", f"objective.teacher={tmp_path / 'nowhere'}",
                 "--out", str(tmp_path / "s")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "objective.teacher" in err and not (tmp_path / "s").exists()


def test_a_student_samples_without_its_teacher_and_refuses_guidance(teacher, tmp_path, capsys):
    import shutil

    mine = shutil.copytree(teacher, tmp_path / "teacher")
    out = fit(student(mine, lambda **k: O.ReflowConfig(pairs=32, pair_steps=2, **k)),
              tmp_path / "reflow")  # fmt: skip
    args = ["sample", str(out), "--n", "3", "--steps", "1"]
    assert main([*args, "--out", str(tmp_path / "a.npz")]) == 0
    shutil.move(mine, tmp_path / "moved")  # the teacher is needed to train, not to sample
    assert main([*args, "--out", str(tmp_path / "b.npz")]) == 0
    assert np.array_equal(np.load(tmp_path / "a.npz")["x"], np.load(tmp_path / "b.npz")["x"])
    capsys.readouterr()
    assert main([*args, "--cfg", "1", "--out", str(tmp_path / "c.npz")]) == 2
    assert "sampler.cfg" in capsys.readouterr().err and not (tmp_path / "c.npz").exists()
    assert main(["eval", str(out), "--n", "50", "sampler.steps=1"]) == 0  # scored alone too


@pytest.fixture(scope="module")
def digits_teacher(tmp_path_factory):
    """``rf-digits`` at width 8, trained for 2 steps (a teacher only in shape)."""
    from genlab.recipes import get_recipe
    from genlab.runs import override

    out = tmp_path_factory.mktemp("digits") / "rf"
    return fit(override(get_recipe("rf-digits"), tiny_overrides(2, **{"model.channels": 8})), out)


def gan_student(teacher, steps: int, **objective) -> Experiment:
    from genlab.recipes import get_recipe
    from genlab.runs import override

    ov = {"objective.teacher": teacher, "objective.pairs": 32, "objective.pair_steps": 2,
          "objective.disc_channels": 8, "train.threads": 1, "sampler.steps": 1,
          **{f"objective.{k}": v for k, v in objective.items()}}  # fmt: skip
    return override(get_recipe("adv-dcgan-digits"), tiny_overrides(steps, **ov))


def test_a_dcgan_generator_student_learns_the_teachers_map_and_samples_in_one_pass(
    digits_teacher, tmp_path, capsys
):
    out = fit(gan_student(digits_teacher, 40), tmp_path / "gan")
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # from scratch (not the teacher's weights): the regression to the teacher's samples falls
    first, last = np.mean([r["mse"] for r in log[:5]]), np.mean([r["mse"] for r in log[-5:]])
    assert last < 0.6 * first, (first, last)
    exp, g = load_model(out, "ema")
    assert type(g).__name__ == "DCGANGenerator" and exp.model.generator.z_dim == 64
    # G(z) from the noise a diffusion sample of the same seed starts from, one seed alone
    noise = distill.first_noise(exp, [5, 6, 7])
    with torch.no_grad():
        direct = g(noise.flatten(1), {"class": torch.full((3,), 4)})
    x = sample(out, 3, 5, cls=4)
    assert x.shape == (3, 1, 8, 8) and torch.allclose(x, direct, atol=1e-6)
    assert torch.allclose(sample(out, 1, 6, cls=4)[0], x[1], atol=1e-6)
    capsys.readouterr()
    code = main(["sample", str(out), "--n", "2", "--steps", "2", "--out", str(tmp_path / "a.npz")])
    assert code == 2 and "sampler.steps: 2" in capsys.readouterr().err
    assert not (tmp_path / "a.npz").exists()
    arrays = tmp_path / "b.npz"  # (the seeds of x: 5, 6)
    assert (
        main(["sample", str(out), "--n", "2", "--class", "4", "--seed", "5", "--out", str(arrays)])
        == 0
    )
    assert np.allclose(np.load(arrays)["x"], x[:2].numpy(), atol=1e-6)
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["generator"]["z_dim"] == 64


def test_a_student_of_its_own_is_checked_against_the_teacher(digits_teacher, tmp_path):
    with pytest.raises(ConfigError, match="objective.init=scratch"):
        fit(gan_student(digits_teacher, 2, init="teacher"), tmp_path / "a")
    bad = gan_student(digits_teacher, 2)
    bad.model.generator.z_dim = 32
    with pytest.raises(ConfigError, match="model.generator.z_dim: 32; .* must be 64"):
        fit(bad, tmp_path / "b")
    wrong = gan_student(digits_teacher, 2)
    wrong.model = dataclasses.replace(wrong.model, num_classes=3)
    with pytest.raises(ConfigError, match=r"reads the teacher's noise and classes"):
        fit(wrong, tmp_path / "c")
    wide = student(digits_teacher, lambda **k: O.ReflowConfig(init="scratch", **k))
    wide.model = dataclasses.replace(wide.model, channels=4, out_channels=2)
    with pytest.raises(ConfigError, match=r"output channels\) \(\(1, 8, 8\), 10, 1\)"):
        fit(wide, tmp_path / "d")
    unused = gan_student(digits_teacher, 2, disc_channels=16)
    unused.model.discriminator.channels = 16
    with pytest.raises(ConfigError, match="model.discriminator: not used"):
        fit(unused, tmp_path / "e")
    # the run's own sampler is checked before any training, not at its end
    four = gan_student(digits_teacher, 2)
    four.sampler.steps = 4
    with pytest.raises(ConfigError, match="sampler.steps: 4; a GAN-generator student"):
        fit(four, tmp_path / "f")
    assert not any((tmp_path / k).exists() for k in "abcdef")
    # a smaller U-Net of its own: trained by reflow from scratch, not from the weights
    exp = student(digits_teacher, lambda **k: O.ReflowConfig(pairs=32, pair_steps=2,
                                                             init="scratch", **k))  # fmt: skip
    exp.model = dataclasses.replace(exp.model, channels=4)
    out = fit(exp, tmp_path / "small")
    assert load_model(out)[0].model.channels == 4
