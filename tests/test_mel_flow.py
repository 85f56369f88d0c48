"""Mel-spectrogram flow matching: a vocoder run is the fixed autoencoder of latent
diffusion (normalised log-mel in, waveform out), the U-Net takes non-square
spectrograms, FSDD's digit x speaker classes, and a tiny run on tones trains, samples
WAVs and decodes with Griffin-Lim; a mismatched vocoder is one error line."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from data.test_audio import fake_fsdd
from test_cli import TINY, assert_user_error, run_cli

from genlab.cli import main
from genlab.data import DATASETS, build_dataset
from genlab.errors import ConfigError
from genlab.models import build_model, preset
from genlab.models.configs import HiFiGANConfig

VOCODER = [
    "data.name=tones", "data.n=32", "data.length=2048", "model.length=2048",
    "model.n_mels=16", "model.channels=16", "model.d_channels=4", "model.resblock_kernels=[3]",
    "model.resblock_dilations=[1]", "model.periods=[2]", "model.scales=1",
    "objective.segment=512", "train.steps=2", "train.batch_size=4", "train.log_every=1",
    "train.sample_every=0", "train.ckpt_every=2", "train.tensorboard=false",
]  # fmt: skip


def mel_flow(vocoder: Path, steps: int = 30) -> list[str]:
    return [
        "data.name=tones", "data.n=64", "data.length=2048",
        f"objective.autoencoder={vocoder}", "model.image_size=16", "model.frames=32",
        "model.num_classes=5", "model.channels=8", "model.channel_mult=[1,2]",
        "model.attn_levels=[1]", "model.heads=2", f"train.steps={steps}",
        "train.batch_size=16", "train.log_every=1", "train.sample_every=0",
        f"train.ckpt_every={steps}", "train.warmup_steps=2", "train.lr=3e-3",
        "train.tensorboard=false", "sampler.steps=4",
    ]  # fmt: skip


def test_non_square_unet():
    cfg = preset("unet-small", image_size=16, frames=40, channels=8, channel_mult=(1, 2),
                 attn_levels=(1,), heads=2)  # fmt: skip
    assert cfg.input_shape() == (1, 16, 40)
    x = torch.randn(2, 1, 16, 40)
    assert build_model(cfg)(x, torch.rand(2), {}).shape == x.shape
    with pytest.raises(ConfigError, match="model.frames"):
        preset("unet-small", dims=1, frames=40)


def test_fsdd_digit_speaker_classes(tmp_path):
    root = fake_fsdd(tmp_path / "fsdd")
    d = build_dataset(DATASETS["fsdd"].config(root=str(root), length=1024, label="digit_speaker"))
    assert d.num_classes == 20 and d.class_names[13] == "3 by bob"
    assert torch.equal(d.cond["class"], 10 * d.cond["speaker"] + d.cond["digit"])


def test_mel_autoencoder_normalisation_closed_form():
    from genlab.families.vocoder import MelAutoencoder
    from genlab.models.hifigan import HiFiGAN

    cfg = HiFiGANConfig(length=1024, channels=16, resblock_kernels=(3,))
    ae = MelAutoencoder(cfg, HiFiGAN(cfg).eval())
    z = ae.encode(torch.zeros(2, 1, 1024))  # silence: the log-mel floor ln(1e-5)
    assert z.shape == (2, 1, 64, 16) == (2, *cfg.latent_shape())
    torch.testing.assert_close(z, torch.full_like(z, (math.log(1e-5) + 5.6) * 0.17))
    assert ae.decode(z).shape == (2, 1, 1024)
    tone = torch.sin(torch.arange(1024) * 2 * math.pi * 440 / 8000)[None, None] * 0.5
    y = ae.griffin_lim(ae.encode(tone))
    assert y.shape == (1, 1, 1024)
    spec = torch.fft.rfft(y[0, 0, 256:768]).abs()  # Griffin-Lim keeps the pitch
    assert abs(int(spec.argmax()) * 8000 / 512 - 440) < 40  # about a mel band


@pytest.fixture(scope="module")
def vocoder(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("mel") / "voc"
    assert main(["train", "hifigan-fsdd", *VOCODER, "--out", str(run)]) == 0
    return run


def test_tiny_mel_flow_learns_and_samples_audio(vocoder, tmp_path, capsys):
    run = tmp_path / "mel"
    assert main(["train", "rf-mel-fsdd", *mel_flow(vocoder), "--out", str(run)]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    loss = [r["loss"] for r in rows if "loss" in r]
    assert sum(loss[-5:]) / 5 < 0.8 * sum(loss[:5]) / 5, loss
    capsys.readouterr()
    code, _, _ = run_cli(
        capsys, "sample", run, "--n", "1", "--class", "2", "--out", tmp_path / "a.wav"
    )
    assert code == 0 and sf.info(tmp_path / "a.wav").frames == 2048
    from genlab.families.diffusion import load_autoencoder, sample
    from genlab.runs import load_model

    exp, model = load_model(run)
    z = sample(model, exp, [0, 1], {"class": torch.tensor([1, 2])}, exp.sampler, decode=False)
    assert z.shape == (2, 1, 16, 32)
    gl = load_autoencoder(exp).griffin_lim(z)
    assert gl.shape == (2, 1, 2048)
    scfg = dataclasses.replace(exp.sampler, decoder="griffin-lim")
    torch.testing.assert_close(sample(model, exp, [0, 1], {"class": torch.tensor([1, 2])}, scfg),
                               gl.clamp(-1, 1))  # fmt: skip
    code, _, _ = run_cli(capsys, "sample", run, "--n", "1", "--out", tmp_path / "g.wav",
                         "sampler.decoder=griffin-lim")  # fmt: skip
    assert code == 0 and (tmp_path / "g.wav").read_bytes() != (tmp_path / "a.wav").read_bytes()


def test_griffin_lim_decoder_needs_a_vocoder_run(tmp_path, capsys):
    run = tmp_path / "moons"
    assert main(["train", "rf-moons", *TINY, "--out", str(run)]) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "sample", run, "--n", "2", "--out", tmp_path / "a.png",
                           "sampler.decoder=griffin-lim")  # fmt: skip
    assert_user_error(code, err, "sampler.decoder", "not a vocoder")


def test_vocoder_of_other_clips_is_one_error(vocoder, tmp_path, capsys):
    bad = [o if o != "data.length=2048" else "data.length=4096" for o in mel_flow(vocoder, 2)]
    code, _, err = run_cli(capsys, "train", "rf-mel-fsdd", *bad, "--out", tmp_path / "x")
    assert_user_error(code, err, "2048-sample clips", "4096")
    assert not (tmp_path / "x").exists()


def test_self_conditioned_flow_draws_its_clusters_by_seed(vocoder, tmp_path, capsys):
    """data.label=cluster (rf-mel-fsdd-selfcond): the flow trains on k-means clusters
    of the clips and, unasked, each seed draws its cluster from their training
    frequencies; --class picks one."""
    from genlab.runs import class_cond, class_prior, load_experiment

    root = fake_fsdd(tmp_path / "fsdd", takes=6)
    keep = [o for o in mel_flow(vocoder, 2) if not o.startswith(("data.", "model.num_classes"))]
    over = [f"data.root={root}", "data.length=2048", "data.clusters=8", "model.num_classes=8"]
    run = tmp_path / "self"
    assert main(["train", "rf-mel-fsdd-selfcond", *keep, *over, "--out", str(run)]) == 0
    capsys.readouterr()
    code, _, _ = run_cli(capsys, "sample", run, "--n", "6", "--seed", "3",
                         "--out", tmp_path / "drawn.npz")  # fmt: skip
    assert code == 0
    drawn = np.load(tmp_path / "drawn.npz")
    exp = load_experiment(run)
    prior = class_prior(exp)
    counts = torch.bincount(build_dataset(exp.data).cond["class"], minlength=8)
    assert torch.equal(prior, counts.double() / counts.sum()) and drawn["x"].shape == (6, 1, 2048)
    assert drawn["class"].tolist() == class_cond(8, 6, None, 3, prior)[0]["class"].tolist()
    # the run keeps its clusters' counts: with the data gone, it samples the same draws
    pinned = json.loads((run / "class_prior.json").read_text())["counts"]
    assert pinned == counts.tolist()
    root.rename(tmp_path / "moved")
    code, _, _ = run_cli(capsys, "sample", run, "--n", "6", "--seed", "3",
                         "--out", tmp_path / "again.npz")  # fmt: skip
    assert code == 0
    assert np.load(tmp_path / "again.npz")["class"].tolist() == drawn["class"].tolist()
    assert torch.equal(class_prior(exp, run), prior)
    code, _, _ = run_cli(capsys, "sample", run, "--n", "1", "--class", "5",
                         "--out", tmp_path / "five.wav")  # fmt: skip
    assert code == 0 and sf.info(tmp_path / "five.wav").frames == 2048
    code, out_text, _ = run_cli(capsys, "info", run)
    assert code == 0 and "8 k-means clusters of the clips' MFCCs" in out_text
    code, _, err = run_cli(capsys, "eval", run, "--metrics", "acc", "--n", "2")
    assert_user_error(code, err, "--metrics acc", "k-means clusters")
    for text in ("{", "[1, 2]", '{"counts": [1, 2]}', '{"counts": [0, 0, 0, 0, 0, 0, 0, 0]}'):
        (run / "class_prior.json").write_text(text)  # damaged: one line, nothing written
        code, _, err = run_cli(capsys, "sample", run, "--n", "2", "--out", tmp_path / "b.npz")
        assert_user_error(code, err, "class_prior.json")
        assert not (tmp_path / "b.npz").exists()
    moved = [f"data.root={tmp_path / 'moved'}", "data.length=2048", "data.clusters=8"]
    code, _, err = run_cli(capsys, "train", "rf-mel-fsdd-selfcond", *keep, *moved,
                           "model.num_classes=0", "--out", tmp_path / "zero")  # fmt: skip
    assert_user_error(code, err, "model.num_classes: 0", "data.clusters=8")
    assert not (tmp_path / "zero").exists()
