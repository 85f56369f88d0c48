"""The default sampler of a recipe is the one its training previews and `genlab sample`
use (issue 22: the previews follow the measured default), and each MNIST recipe's
default is the one measured in docs/performance.md."""

from __future__ import annotations

import pytest
from conftest import tiny_overrides

import genlab.families.diffusion as diffusion
from genlab.recipes import get_recipe
from genlab.runs import fit, override


@pytest.mark.parametrize(
    "recipe, name, steps",
    [
        ("rf-mnist", "dpmpp_2m", 15),
        ("dit-mnist", "dpmpp_2m", 15),
        ("edm-mnist", "dpmpp_2m", 20),
        ("ddpm-mnist", "dpmpp_2m", 10),
    ],  # fmt: skip
)
def test_mnist_defaults_are_the_measured_ones(recipe, name, steps):
    s = get_recipe(recipe).sampler
    assert (s.name, s.steps, s.cfg) == (name, steps, 1.0)


@pytest.mark.parametrize("sampler, steps", [("dpmpp_2m", 3), ("heun", 2)])
def test_training_previews_use_the_run_sampler(tmp_path, monkeypatch, sampler, steps):
    calls = []
    real = dict(diffusion.SAMPLERS)

    def spy(name):
        def run(f, x, grid, **kw):
            calls.append((name, len(grid) - 1))
            return real[name](f, x, grid, **kw)

        return run

    monkeypatch.setattr(diffusion, "SAMPLERS", {k: spy(k) for k in real})
    exp = override(
        get_recipe("rf-moons"),
        tiny_overrides(
            2,
            **{
                "data.n": 64,
                "model.hidden": 16,
                "model.depth": 1,
                "train.sample_every": 2,
                "train.num_samples": 4,
                "sampler.name": sampler,
                "sampler.steps": steps,
            },
        ),  # fmt: skip
    )
    fit(exp, tmp_path / "run")
    assert calls and set(calls) == {(sampler, steps)}
