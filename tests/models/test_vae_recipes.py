"""The VAE and token recipes end to end on tiny shapes: train through the CLI, sample
through the CLI for every family, the KL autoencoder's measured scale/shift, config round
trips, and the clear error when a token recipe's tokenizer run is missing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab import config as C
from genlab.cli import main
from genlab.recipes import RECIPES, get_recipe
from genlab.runs import experiment_from as experiment_from_dict
from genlab.runs import load_experiment, load_model

TINY = [
    "data.n=64",
    "data.image_size=16",
    "train.batch_size=16",
    "train.log_every=1",
    "train.sample_every=0",
    "train.num_samples=8",
    "train.tensorboard=false",
    "train.warmup_steps=1",
    "train.threads=1",
]
MINE = [
    n
    for n in RECIPES
    if n.split("-")[0] in ("vae", "beta", "cvae", "klae", "vqvae", "msvq", "vq", "var")
]


def train(recipe: str, out, steps: int, *extra: str) -> None:
    args = ["train", recipe, f"train.steps={steps}", f"train.ckpt_every={steps}", *TINY, *extra]
    if recipe.split("-")[0] not in ("vq", "var"):
        args.append("model.image_size=16")
    assert main([*args, "--out", str(out)]) == 0


def sample(run, tmp_path, *extra: str) -> np.ndarray:
    out = tmp_path / f"{run.name}.npz"
    assert main(["sample", str(run), "--n", "4", "--out", str(out), *extra]) == 0
    return np.load(out)["x"]


@pytest.mark.parametrize("name", MINE)
def test_recipes_round_trip(name):
    exp = get_recipe(name)
    assert experiment_from_dict(C.to_dict(exp)) == exp


def test_missing_tokenizer_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "gpt"
    code = main(
        [
            "train",
            "vq-gpt-shapes",
            "objective.tokenizer=" + str(tmp_path / "nope"),
            *TINY,
            "--out",
            str(out),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "objective.tokenizer" in err and "nope" in err and "genlab train" in err
    assert not out.exists()  # nothing half-made is left behind


def test_vq_then_gpt_then_sample(tmp_path):
    vq = tmp_path / "vq"
    train("vqvae-shapes", vq, 6, "model.codebook_size=32", "model.channels=8")
    x = sample(vq, tmp_path)
    assert x.shape == (4, 3, 16, 16) and np.abs(x).max() <= 1
    gpt = tmp_path / "gpt"
    train(
        "vq-gpt-shapes",
        gpt,
        4,
        f"objective.tokenizer={vq}",
        "model.vocab_size=32",
        "model.seq_len=16",
        "model.n_embd=32",
        "model.n_layer=1",
    )
    a = sample(gpt, tmp_path, "--class", "2")
    b = sample(gpt, tmp_path, "--class", "2", "use_cache=false")
    assert a.shape == (4, 3, 16, 16) and np.array_equal(a, b)
    # the tokenizer must fit the model
    code = main(
        [
            "train",
            "vq-gpt-shapes",
            f"objective.tokenizer={vq}",
            *TINY,
            "--out",
            str(tmp_path / "bad"),
        ]
    )
    assert code == 2


def test_msvq_then_var_then_sample(tmp_path):
    vq = tmp_path / "msvq"
    train("msvq-shapes", vq, 4, "model.scales=1,2,4", "model.codebook_size=32", "model.channels=8")
    var = tmp_path / "var"
    train(
        "var-shapes",
        var,
        3,
        f"objective.tokenizer={vq}",
        "model.vocab_size=32",
        "model.scales=1,2,4",
        "model.n_embd=32",
        "model.n_layer=1",
    )
    x = sample(var, tmp_path, "--cfg", "0.5")
    assert x.shape == (4, 3, 16, 16)
    _, model = load_model(var)
    _, tok = load_model(vq, "model")
    torch.testing.assert_close(model.codes, tok.books[0].codes)  # the codebook travels


def test_klae_measures_scale_and_shift(tmp_path):
    run = tmp_path / "klae"
    train("klae-shapes", run, 5, "model.channels=8", "objective.disc_weight=0")  # shared loop
    exp = load_experiment(run)
    assert exp.model.scale != 1.0 and exp.model.shift != 0.0
    _, model = load_model(run)
    from genlab.data import build_dataset

    with torch.no_grad():
        z = model.encode(build_dataset(exp.data).x)
    assert abs(float(z.mean())) < 1e-3 and abs(float(z.std()) - 1) < 1e-3
    assert sample(run, tmp_path).shape == (4, 3, 16, 16)


def test_vae_and_cvae_train_and_sample(tmp_path):
    run = tmp_path / "cvae"
    train("cvae-shapes", run, 3, "model.channels=8")
    x = sample(run, tmp_path, "--class", "1")
    assert x.shape == (4, 3, 16, 16)
    from genlab.figures import latent_figures

    paths = latent_figures(run, tmp_path / "latent", rows=3)
    assert [p.name for p in paths] == [
        "traversal.png",
        "linear.png",
        "linear.gif",
        "spherical.png",
        "spherical.gif",
    ]
    assert all(p.stat().st_size > 0 for p in paths)


def test_klae_with_patch_discriminator_resumes_exactly(tmp_path):
    from genlab.checkpoint import load_tensors

    adv = [
        "objective.disc_weight=1.0",
        "objective.disc_start=1",
        "model.channels=8",
        "objective.disc_channels=8",
        "model.image_size=16",
    ]
    a, b = tmp_path / "a", tmp_path / "b"
    base = ["train", "klae-shapes", "train.steps=4", "train.ckpt_every=2", *TINY, *adv]
    assert main([*base, "--out", str(a)]) == 0
    assert main([*base, "train.stop_after=2", "--out", str(b)]) == 0
    assert main(["train", "klae-shapes", "--resume", "--out", str(b)]) == 0
    for name in ("model", "disc"):
        wa, wb = load_tensors(a / f"{name}.safetensors"), load_tensors(b / f"{name}.safetensors")
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name
    rows = [r for r in (a / "metrics.jsonl").read_text().splitlines() if "d_loss" in r]
    assert len(rows) == 4
    assert load_experiment(a).model.scale != 1.0
