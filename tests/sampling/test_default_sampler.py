"""The default sampler of a recipe is the one its training previews use (issue 22: the
previews follow the measured default), and each diffusion recipe's default is the one
measured in docs/performance.md."""

from __future__ import annotations

import pytest
from conftest import tiny_overrides

import genlab.families.diffusion as diffusion
from genlab.recipes import get_recipe
from genlab.runs import fit, override

# docs/performance.md#default-samplers: recipe -> (sampler, steps, CFG weight)
MEASURED = {
    "rf-mnist": ("dpmpp_2m", 15, 1.0),
    "dit-mnist": ("dpmpp_2m", 15, 1.0),
    "edm-mnist": ("dpmpp_2m", 20, 1.0),
    "ddpm-mnist": ("dpmpp_2m", 10, 1.0),
    "demo": ("dpmpp_2m", 8, 1.0),
    "rf-digits": ("dpmpp_2m", 8, 1.0),
    "dit-digits": ("dpmpp_2m", 8, 1.0),
    "edm-digits": ("dpmpp_2m", 15, 1.0),
    "ddpm-digits": ("ddpm", 100, 1.0),
    "rf-grid25": ("dpmpp_2m", 20, 0.0),
    "ddpm-grid25": ("ddpm", 100, 0.0),
    "edm-grid25": ("dpmpp_2m", 20, 0.0),
    "rf-moons": ("dpmpp_2m", 30, 0.0),
    # the trained inpainting and ControlNet recipes keep their base recipe's default (not
    # measured again)
    "inpaint-mnist": ("dpmpp_2m", 15, 1.0),
    "controlnet-mnist": ("dpmpp_2m", 15, 1.0),
    "inpaint-digits": ("dpmpp_2m", 8, 1.0),
    # rf-shapes takes rf-mnist's default (not measured on shapes); its LoRA and ControlNet
    # recipes keep it
    "rf-shapes": ("dpmpp_2m", 15, 1.0),
    "lora-shapes": ("dpmpp_2m", 15, 1.0),
    "controlnet-shapes": ("dpmpp_2m", 15, 1.0),
    "controlnet-shapes-position": ("dpmpp_2m", 15, 1.0),
    "inpaint-shapes": ("dpmpp_2m", 15, 1.0),
    # text-to-image on shapes (docs/text_to_image.md, benchmarks/t2i_shapes.py): pixel
    # models unguided with stochastic Heun (churn 10); the latent one with rf-shapes's
    # default and CFG 1
    "t2i-shapes": ("heun", 30, 0.0),
    "t2i-shapes-words": ("heun", 30, 0.0),
    "t2i-dit-shapes": ("heun", 30, 0.0),
    "t2i-shapes-latent": ("dpmpp_2m", 15, 1.0),
    "t2i-shapes-attributes": ("heun", 30, 0.0),
    # the waveform flow on tones: not measured (the CLI tests' audio run; 20 steps)
    "rf-tones": ("dpmpp_2m", 20, 1.0),
    # the mel-spectrogram flow: its 20-step default is the one measured (docs/audio.md)
    "rf-mel-fsdd": ("dpmpp_2m", 20, 1.0),
    # self-conditioned on MFCC clusters: the same sampler, measured with it (docs/audio.md)
    "rf-mel-fsdd-selfcond": ("dpmpp_2m", 20, 1.0),
    # video (docs/video.md): 20 steps, not swept; unconditional Moving MNIST, no guidance;
    # text-to-video with CFG 3
    "dit-moving-mnist": ("dpmpp_2m", 20, 0.0),
    "dit-full-moving-mnist": ("dpmpp_2m", 20, 0.0),
    "dit-temporal-moving-mnist": ("dpmpp_2m", 20, 0.0),
    "dit-latent-moving-mnist": ("dpmpp_2m", 20, 0.0),
    # on the shifted grid (shift 4), as trained; docs/video.md
    "dit-moving-mnist-small": ("dpmpp_2m", 20, 0.0),
    "dit-full-moving-mnist-small": ("dpmpp_2m", 20, 0.0),
    "dit-temporal-moving-mnist-small": ("dpmpp_2m", 20, 0.0),
    "dit-predict-moving-mnist-small": ("dpmpp_2m", 20, 0.0),
    "dit-latent-moving-mnist-small": ("dpmpp_2m", 20, 0.0),  # plain grid, trained unshifted
    # shifted grid: FVD 290.2 against 348.9 on the uniform one (200 clips; docs/video.md)
    "dit-forcing-moving-mnist-small": ("dpmpp_2m", 20, 0.0),
    "t2v-moving-shapes": ("dpmpp_2m", 20, 3.0),
    "t2v-moving-shapes-words": ("dpmpp_2m", 20, 3.0),
}


def test_every_diffusion_recipe_has_its_measured_default():
    from genlab.recipes import RECIPES

    diffusion_recipes = {n for n in RECIPES if get_recipe(n).objective.kind == "denoise"}
    assert diffusion_recipes == set(MEASURED)
    for recipe, want in MEASURED.items():
        s = get_recipe(recipe).sampler
        assert (s.name, s.steps, s.cfg) == want, recipe
        assert s.churn == (10.0 if s.name == "heun" else 0.0), recipe


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
