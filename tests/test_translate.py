"""Pix2Pix and CycleGAN runs end to end on tiny shapes: the L1 term falls on a tiny
overfit, resume is exact (dropout, redrawn sources and the pool of fakes included),
samples depend on their seed alone, and `genlab edit` translates a file (bad input: one
error line, exit 2, nothing written)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.checkpoint import load_tensors
from genlab.cli import main
from genlab.edit import read_image
from genlab.errors import ConfigError
from genlab.families import family_of
from genlab.recipes import get_recipe
from genlab.runs import draw, fit, load_model, override, sampler_config
from genlab.train.log import read_metrics

TIMING = ("samples_per_s", "mfu", "lr_scale")


def tiny(recipe: str, steps: int, **extra):
    ov = {
        "train.steps": steps,
        "train.batch_size": 16,
        "train.log_every": 1,
        "train.sample_every": 0,
        "train.ckpt_every": steps,
        "train.tensorboard": "false",
        "data.n": 64,
        "data.image_size": 16,
        "model.image_size": 16,
        "model.generator.channels": 8,
        "model.generator.depth": 2 if recipe.startswith("cyclegan") else 4,
        "model.generator.blocks": 1,
        "model.discriminator.channels": 8,
        **extra,
    }
    return override(get_recipe(recipe), [f"{k}={v}" for k, v in ov.items()])


def _strip(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def test_pix2pix_l1_falls_on_a_tiny_overfit(tmp_path):
    exp = tiny("pix2pix-shapes", 60, **{"data.n": 16, "objective.g_lr": 2e-3})
    fit(exp, tmp_path / "run")
    l1 = [r["l1"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    assert np.mean(l1[-5:]) < 0.5 * np.mean(l1[:5])


@pytest.mark.parametrize(
    "recipe,extra",
    [("pix2pix-mnist-like", {}), ("cyclegan-shapes", {"objective.pool_size": 6})],
)
def test_resume_continues_exactly(tmp_path, recipe, extra):
    """4 steps == 2 steps + resume 2: identical logs and G, EMA and D weights (D holds
    CycleGAN's pools; Pix2Pix draws dropout and the broken-stroke sources each step)."""
    if recipe == "pix2pix-mnist-like":  # MNIST's source on shapes (no data files needed)
        recipe, extra = "pix2pix-shapes", {"objective.source": "break"}
    exp = tiny(recipe, 4, **extra, **{"train.ckpt_every": 2})
    full = read_metrics(fit(exp, tmp_path / "full") / "metrics.jsonl")
    fit(override(exp, ["train.stop_after=2"]), tmp_path / "half")
    fit(exp, tmp_path / "half", resume=True, overrides=["train.stop_after=0"])
    assert _strip(read_metrics(tmp_path / "half" / "metrics.jsonl")) == _strip(full)
    for name in ("model", "ema", "disc"):
        x = load_tensors(tmp_path / "full" / f"{name}.safetensors")
        y = load_tensors(tmp_path / "half" / f"{name}.safetensors")
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    if "pool_size" in str(extra):
        assert int(load_tensors(tmp_path / "full" / "disc.safetensors")["pool_a.count"]) == 6


def test_cyclegan_batches_missing_a_domain_train_every_parameter():
    """A batch with images of one domain only: finite losses, and a (zero) gradient for
    every parameter (DDP all-reduces them all)."""
    from genlab.families.translate import build, build_discriminator, cyclegan_losses

    exp = tiny("cyclegan-shapes", 2)
    g, d = build(exp), build_discriminator(exp)
    g_loss, d_loss = cyclegan_losses(exp)
    batch = {"x": torch.rand(3, 3, 16, 16) * 2 - 1, "cond": {"class": torch.zeros(3).long()}}
    for loss_fn, net in ((d_loss, d), (g_loss, g)):
        loss, _ = loss_fn(g, d, batch, torch.Generator().manual_seed(0), 0, 0)
        assert torch.isfinite(loss)
        loss.backward()
        assert all(p.grad is not None for p in net.parameters())


def test_eval_scores_a_cyclegan_against_its_target_domain():
    from genlab.families.translate import reference
    from genlab.sampling.configs import TranslateSamplerConfig

    exp = tiny("cyclegan-shapes", 2)
    cfg, desc = reference(exp, TranslateSamplerConfig("a2b"))
    assert cfg.shapes == ("square",) and "a2b target domain" in desc
    assert reference(exp, TranslateSamplerConfig("b2a"))[0].shapes == ("circle",)
    exp = override(exp, ["data.label=color"])
    with pytest.raises(ConfigError, match="cannot draw"):
        reference(exp, TranslateSamplerConfig("a2b"))


def test_cyclegan_needs_both_domains_in_the_data(tmp_path):
    exp = tiny("cyclegan-shapes", 2, **{"objective.domain_b": 4})
    with pytest.raises(ConfigError, match="objective.domain_b: class 4 has no images"):
        fit(exp, tmp_path / "run")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("translate")
    for recipe in ("pix2pix-shapes", "cyclegan-shapes"):
        fit(tiny(recipe, 2), d / recipe)
    return d


@pytest.mark.parametrize("recipe", ["pix2pix-shapes", "cyclegan-shapes"])
def test_samples_depend_on_their_seed_alone(runs, recipe):
    exp, model = load_model(runs / recipe)
    scfg = sampler_config(exp)
    x = draw(model, exp, [0, 1, 2, 3], {}, scfg)
    assert x.shape == (4, 3, 16, 16)
    assert torch.equal(draw(model, exp, [2, 3], {}, scfg), x[2:])
    sources = draw(model, exp, [0, 1, 2, 3], {}, sampler_config(exp, ["sources=true"]))
    assert torch.equal(family_of(exp.objective.kind).translate(model, exp, sources, "a2b"), x)


def test_edit_translates_a_file_both_ways(runs, tmp_path):
    run = runs / "cyclegan-shapes"
    src = tmp_path / "x.png"
    assert main(["sample", str(run), "--n", "1", "--out", str(src)]) == 0
    before = src.read_bytes()
    for direction in ("a2b", "b2a"):
        out = tmp_path / f"{direction}.png"
        args = ["edit", str(run), "--image", str(src), "--out", str(out)]
        assert main([*args, f"sampler.direction={direction}"]) == 0
        exp, model = load_model(run)
        x = read_image(src, (3, 16, 16))[None]
        with torch.no_grad():
            y = family_of("cyclegan").translate(model, exp, x, direction)
        want = ((y[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        assert np.array_equal(np.asarray(Image.open(out)), want)
    assert src.read_bytes() == before


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--strength", "0.5"], "--strength: .* translates the whole image"),
        (["--class", "1"], "--class: "),
        (["--class", "0"], "--class: "),
        (["--n", "2"], "--n: translation is deterministic"),
        (["sampler.direction=b2a"], "a Pix2Pix run translates one way"),
        (["--steps", "4"], "sampler.steps: does not apply"),
        (["--resample", "1"], "--resample: .* translates the whole image"),
        (["--jump-length", "1"], "--jump-length: .* translates the whole image"),
    ],
)
def test_edit_refuses_options_a_translation_cannot_take(runs, tmp_path, capsys, extra, message):
    run = runs / "pix2pix-shapes"
    src, out = tmp_path / "x.png", tmp_path / "y.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(src)
    assert main(["edit", str(run), "--image", str(src), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and __import__("re").search(message, err[0]), err
    assert not out.exists()


def test_edit_refuses_an_image_of_another_size(runs, tmp_path, capsys):
    src, out = tmp_path / "x.png", tmp_path / "y.png"
    Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(src)
    args = ["edit", str(runs / "pix2pix-shapes"), "--image", str(src), "--out", str(out)]
    assert main(args) == 2
    assert "is 28x28 pixels but the run makes 16x16" in capsys.readouterr().err
    assert not out.exists()
