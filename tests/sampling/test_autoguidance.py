"""Autoguidance (Karras et al. 2024): the closed form, its interval, and the guiding
network's checks: an earlier checkpoint of the same run loads, a run that predicts
something else is one clear error, and an unconditional run accepts ``--cfg`` with it."""

from __future__ import annotations

import pytest
import torch

from genlab.cli import main
from genlab.errors import ConfigError
from genlab.runs import fit, load_model, override, sampler_config
from genlab.sampling.configs import DiffusionSamplerConfig
from genlab.sampling.guidance import autoguidance
from tests.conftest import tiny_overrides


def test_autoguidance_is_one_plus_w_model_minus_w_guide_inside_its_interval():
    def model(x, t, cond):
        return 2 * x + cond["c"]

    def guide(x, t, cond):
        return x - cond["c"]

    x, t, cond = torch.randn(4, 3), torch.tensor([0.1, 0.4, 0.6, 0.9]), {"c": torch.ones(4, 3)}
    out = autoguidance(model, guide, 1.5, None)(x, t, cond)
    assert torch.allclose(out, 2.5 * model(x, t, cond) - 1.5 * guide(x, t, cond))
    inner = autoguidance(model, guide, 1.5, (0.3, 0.7))(x, t, cond)
    inside = torch.tensor([False, True, True, False])
    assert torch.allclose(inner[inside], out[inside])
    assert torch.equal(inner[~inside], model(x, t, cond)[~inside])
    assert autoguidance(model, guide, 0.0) is model


def _unconditional_run(tmp_path):
    from genlab.recipes import get_recipe

    ov = tiny_overrides(
        4, **{"data.n": 64, "model.hidden": 16, "model.depth": 2, "model.num_classes": 0,
              "objective.cond_drop": 0, "train.ckpt_every": 2, "train.keep_last": 5}
    )  # fmt: skip
    return fit(override(get_recipe("rf-moons"), ov), tmp_path / "run")


def test_an_earlier_checkpoint_guides_an_unconditional_run(tmp_path, capsys):
    from genlab.families import family_of

    run = _unconditional_run(tmp_path)
    early = run / "checkpoints" / "step_00000002"
    assert (early / "ema.safetensors").is_file()
    exp, model = load_model(run)
    fam = family_of(exp.objective.kind)
    plain = fam.sample(model, exp, [0, 1, 2], {}, exp.sampler)
    for w in (0.5, 2.0):
        scfg = sampler_config(exp, [f"autoguidance={early}", f"cfg={w}"])
        x = fam.sample(model, exp, [0, 1, 2], {}, scfg)
        assert x.shape == plain.shape and not torch.allclose(x, plain)
    # guided by itself, the difference is zero: plain sampling
    same = sampler_config(exp, [f"autoguidance={run}", "cfg=3"])
    assert torch.allclose(fam.sample(model, exp, [0, 1, 2], {}, same), plain, atol=1e-5)
    # the command line: --cfg on an unconditional run needs the guide
    out = tmp_path / "s.npz"
    assert main(["sample", str(run), "--n", "2", "--cfg", "1", "--out", str(out),
                 f"sampler.autoguidance={early}"]) == 0  # fmt: skip
    assert out.is_file()
    assert main(["sample", str(run), "--n", "2", "--cfg", "1", "--out", str(out)]) == 2
    assert "sampler.autoguidance" in capsys.readouterr().err


def test_a_guide_that_predicts_something_else_or_is_missing_is_one_error(tmp_path):
    from genlab.families import family_of
    from genlab.recipes import get_recipe

    run = _unconditional_run(tmp_path)
    ov = tiny_overrides(2, **{"data.n": 64, "model.hidden": 16, "model.depth": 2})
    other = fit(override(get_recipe("rf-moons"), ov), tmp_path / "classes")  # 2 classes
    exp, model = load_model(run)
    fam = family_of(exp.objective.kind)
    scfg = sampler_config(exp, [f"autoguidance={other}", "cfg=1"])
    with pytest.raises(ConfigError, match="has model.num_classes 2, this run 0"):
        fam.sample(model, exp, [0], {}, scfg)
    scfg = sampler_config(exp, [f"autoguidance={tmp_path / 'nowhere'}", "cfg=1"])
    with pytest.raises(ConfigError, match="sampler.autoguidance: .*nowhere: no such run"):
        fam.sample(model, exp, [0], {}, scfg)


def _tiny(tmp_path, recipe: str, name: str, **extra):
    from genlab.recipes import get_recipe

    ov = tiny_overrides(2, **{"data.n": 64, "model.hidden": 16, "model.depth": 2, **extra})
    if recipe.startswith("gan"):  # no sampler steps, no depth
        ov = [o for o in ov if not o.startswith(("sampler.steps", "model."))]
    return fit(override(get_recipe(recipe), ov), tmp_path / name)


def test_a_guide_for_another_task_is_refused_naming_the_key(tmp_path):
    """Another family (a GAN), another dataset of the same shape, another time path:
    each one error naming the key, before anything is sampled."""
    from genlab.families import family_of

    run = _unconditional_run(tmp_path)
    exp, model = load_model(run)
    fam = family_of(exp.objective.kind)
    cases = {
        "objective.kind": _tiny(tmp_path, "gan-grid25", "gan"),
        "data.name": _tiny(tmp_path, "rf-grid25", "grid", **{"model.num_classes": 0}),
        "objective.path": _tiny(tmp_path, "ddpm-grid25", "ddpm"),
    }
    for key, guide in cases.items():
        scfg = sampler_config(exp, [f"autoguidance={guide}", "cfg=1"])
        with pytest.raises(ConfigError, match=f"sampler.autoguidance: .* has {key} "):
            fam.sample(model, exp, [0], {}, scfg)


def test_a_guide_config_that_leaves_out_defaults_is_read_with_them(tmp_path):
    """A config.yaml written without default-valued keys (an older run) is compared
    after the defaults are filled in, as the run itself is read."""
    import shutil

    import genlab.config as C
    from genlab.families import family_of

    run = _unconditional_run(tmp_path)
    old = tmp_path / "old"
    shutil.copytree(run, old)
    raw = C.load_yaml(old / "config.yaml")
    del raw["objective"]["target"], raw["objective"]["precond"], raw["text"]
    (old / "config.yaml").write_text(__import__("yaml").safe_dump(raw))
    exp, model = load_model(run)
    scfg = sampler_config(exp, [f"autoguidance={old}", "cfg=3"])
    plain = family_of(exp.objective.kind).sample(model, exp, [0, 1], {}, exp.sampler)
    guided = family_of(exp.objective.kind).sample(model, exp, [0, 1], {}, scfg)
    assert torch.allclose(guided, plain, atol=1e-5)  # the same weights: no change


def test_training_refuses_a_stored_guide(tmp_path):
    from genlab.recipes import get_recipe

    exp = override(get_recipe("rf-moons"), tiny_overrides(2))
    with pytest.raises(ConfigError, match="sampler.autoguidance: a setting for genlab sample"):
        fit(exp, tmp_path / "r", overrides=["sampler.autoguidance=x"])
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"autoguidance": "runs/x"}, "sampler.autoguidance: guides with weight sampler.cfg"),
        ({"autoguidance": "runs/x", "cfg": 1.0, "guidance_rescale": 0.7}, "no negative prompt"),
    ],
)
def test_autoguidance_settings_that_cannot_apply_are_refused(fields, message):
    with pytest.raises(ConfigError, match=message):
        DiffusionSamplerConfig(**fields)
