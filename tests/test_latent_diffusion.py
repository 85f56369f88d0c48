"""Latent diffusion: a diffusion run names a trained KL autoencoder as its latent space
(``objective.autoencoder``): the latent round trip uses the stored scale and shift, a
tiny latent text-to-image run learns and samples images through the decoder, the run
pins its autoencoder, and every misfit is one clear error."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.cli import main
from genlab.data import build_dataset
from genlab.errors import ConfigError
from genlab.families.diffusion import build, load_autoencoder
from genlab.recipes import get_recipe
from genlab.runs import load_experiment, load_model, override

AE = [
    "data.n=64", "data.image_size=16", "model.image_size=16", "model.channels=8",
    "objective.disc_weight=0", "train.steps=6", "train.ckpt_every=6", "train.batch_size=16",
    "train.sample_every=0", "train.tensorboard=false", "train.warmup_steps=1",
]  # fmt: skip
LATENT = [
    "data.n=64", "data.image_size=16", "model.image_size=4", "model.channels=16",
    "model.channel_mult=[1]", "model.attn_levels=[0]", "text.encoder=words",
    "model.text_dim=128", "train.steps=40", "train.ckpt_every=40", "train.batch_size=16",
    "train.log_every=10", "train.sample_every=0", "train.tensorboard=false",
    "train.warmup_steps=0", "train.lr=3e-3", "sampler.steps=3",
]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("ldm")
    assert main(["train", "klae-shapes", *AE, "--out", str(d / "ae")]) == 0
    args = ["train", "t2i-shapes-latent", *LATENT, f"objective.autoencoder={d / 'ae'}"]
    assert main([*args, "--out", str(d / "ldm")]) == 0
    return d


def test_the_latent_round_trip_uses_the_stored_scale_and_shift(runs):
    exp, ae = load_model(runs / "ae")
    assert exp.model.scale != 1.0 and exp.model.shift != 0.0
    x = build_dataset(exp.data).x[:8]
    with torch.no_grad():
        mu = ae.posterior(x)[0]
        z = ae.encode(x)
        torch.testing.assert_close(z, (mu - exp.model.shift) * exp.model.scale)
        torch.testing.assert_close(ae.decode(z), ae.mean_image(ae.decoder(mu)))


def test_a_latent_run_learns_samples_images_and_pins_its_autoencoder(runs, tmp_path):
    lines = (runs / "ldm" / "metrics.jsonl").read_text().splitlines()
    losses = [json.loads(line)["loss"] for line in lines if '"loss"' in line]
    assert losses[-1] < 0.8 * losses[0], losses
    pins = json.loads((runs / "ldm" / "dependencies.json").read_text())
    assert (
        set(pins) == {"objective.autoencoder"} and pins["objective.autoencoder"]["weights"] == "ema"
    )
    out = tmp_path / "s.npz"
    args = ["sample", str(runs / "ldm"), "--n", "3", "--out", str(out), "--cfg", "1"]
    assert main([*args, "--prompt", "a large red square in the center"]) == 0
    import numpy as np

    x = np.load(out)["x"]
    assert x.shape == (3, 3, 16, 16) and x.min() >= -1 and x.max() <= 1  # decoded images


def test_latent_misfits_are_clear_errors(runs, tmp_path, capsys):
    exp = load_experiment(runs / "ldm")
    with pytest.raises(ConfigError, match=r"latents are 4x4x4 but the network takes 4x8x8"):
        build(override(exp, ["model.image_size=8"]))
    with pytest.raises(ConfigError, match="is not a trained run .no config.yaml"):
        load_autoencoder(override(exp, [f"objective.autoencoder={tmp_path / 'none'}"]))
    with pytest.raises(ConfigError, match="without a spatial latent; latent diffusion needs"):
        build(override(exp, [f"objective.autoencoder={runs / 'ldm'}"]))
    with pytest.raises(ConfigError, match="data.image_size: 32, but .* encodes 16-pixel"):
        build(override(exp, ["data.image_size=32"]))
    with pytest.raises(ConfigError, match="latent diffusion works with a plain network"):
        build(override(get_recipe("inpaint-shapes"), [f"objective.autoencoder={runs / 'ae'}"]))
    picture = tmp_path / "x.png"
    assert main(["sample", str(runs / "ldm"), "--n", "1", "--out", str(picture)]) == 0
    edit = ["edit", str(runs / "ldm"), "--image", str(picture), "--strength", "0.5"]
    assert main([*edit, "--out", str(tmp_path / "y.png")]) == 2
    assert "is a latent diffusion run" in capsys.readouterr().err
    assert main(["eval", str(runs / "ldm"), "--metrics", "bpd", "--n", "4"]) == 2
    assert "a latent diffusion run's likelihood is of its latents" in capsys.readouterr().err


def test_an_autoencoder_that_stopped_before_measuring_its_scale_is_refused(runs, tmp_path):
    # train.stop_after leaves the run unfinished: config.yaml keeps scale 1, shift 0
    half = tmp_path / "half"
    assert main(["train", "klae-shapes", *AE, "train.stop_after=2", "--out", str(half)]) == 0
    stored = load_experiment(half).model
    assert (stored.scale, stored.shift) == (1.0, 0.0)
    exp = load_experiment(runs / "ldm")
    with pytest.raises(ConfigError, match=r"no measured latent scale.*klae-shapes .*stop_after=0"):
        load_autoencoder(override(exp, [f"objective.autoencoder={half}"]))
