"""Audio through the `genlab` command: a tiny waveform flow on tones trains (its loss
falls), samples to one WAV, a folder of WAVs and spectrogram PNGs, and a tiny
spoken-digit classifier scores waveforms; bad --out is one error line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
import torch
from conftest import SHARED_DATA, tiny_overrides
from test_cli import assert_user_error, run_cli

from genlab.cli import main

TINY_TONES = tiny_overrides(
    30,
    **{
        "data.n": 64, "data.length": 512, "model.image_size": 512, "model.channels": 8,
        "model.channel_mult": "[1,2]", "model.attn_levels": "[1]", "train.lr": "3e-3",
    },
)  # fmt: skip


@pytest.fixture(scope="module")
def tones_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("audio") / "tones"
    assert main(["train", "rf-tones", *TINY_TONES, "--out", str(out)]) == 0
    return out


def test_waveform_flow_learns(tones_run):
    rows = [json.loads(line) for line in (tones_run / "metrics.jsonl").open()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses


def test_sample_to_wav_and_folder_and_png(tones_run, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "sample", tones_run, "--n", "1", "--out", tmp_path / "a.wav")
    assert code == 0 and "a.wav" in out
    info = sf.info(tmp_path / "a.wav")
    assert (info.samplerate, info.channels, info.frames) == (8000, 1, 512)
    code, out, _ = run_cli(capsys, "sample", tones_run, "--n", "6", "--out", tmp_path / "b.WAV")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [f"{i:03d}.wav" for i in range(6)]
    code, _, _ = run_cli(capsys, "sample", tones_run, "--n", "5", "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").stat().st_size > 0
    # the same seeds give the same audio
    run_cli(capsys, "sample", tones_run, "--n", "1", "--out", tmp_path / "c.wav")
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "c.wav").read_bytes()


def test_wav_out_on_an_image_run_is_one_error(tmp_path, capsys):
    from test_cli import TINY

    run = tmp_path / "moons"
    assert main(["train", "rf-moons", *TINY, "--out", str(run)]) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "sample", run, "--out", tmp_path / "x.wav")
    assert_user_error(code, err, "x.wav is a WAV", "moons samples")
    assert not (tmp_path / "x.wav").exists()


def test_unknown_suffix_lists_wav(tones_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", tones_run, "--out", tmp_path / "x.mp3")
    assert_user_error(code, err, "'.mp3'", ".wav")


def test_tiny_spoken_digit_classifier(tmp_path, capsys):
    fsdd = SHARED_DATA / "fsdd"
    if not fsdd.is_dir():
        pytest.skip(f"FSDD not found at {fsdd}")
    from genlab.data import DATASETS, build_dataset
    from genlab.metrics.features import get_extractor

    run = tmp_path / "cls"
    ov = [f"data.root={fsdd}", "data.speakers=[george,jackson]", "model.width=4",
          "model.features=16", "train.steps=12", "train.batch_size=16", "train.warmup_steps=2",
          "train.tensorboard=false"]  # fmt: skip
    assert main(["train", "eval-fsdd-classifier", *ov, "--out", str(run)]) == 0
    ext = get_extractor("fsdd", path=run)
    assert ext.input_shape == (1, 8192) and ext.heads == {"digit": 10, "speaker": 6}
    x = build_dataset(DATASETS["fsdd"].config(root=str(fsdd), split="test")).x[:7]
    feats, logits = ext.features_and_logits(x)
    assert feats.shape == (7, 16) and logits["speaker"].shape == (7, 6)
    with pytest.raises(Exception, match=r"expects waveforms \(N, 1, 8192\)"):
        ext.features(torch.zeros(2, 1, 100))


def test_eval_scores_an_audio_run(tmp_path, capsys):
    fsdd = SHARED_DATA / "fsdd"
    if not fsdd.is_dir():
        pytest.skip(f"FSDD not found at {fsdd}")
    short = [f"data.root={fsdd}", "data.speakers=[george,lucas]", "data.length=1024",
             "model.length=1024", "train.warmup_steps=1", "train.tensorboard=false"]  # fmt: skip
    cls, wn = tmp_path / "cls", tmp_path / "wn"
    ov = ["model.width=4", "model.features=16", "train.steps=8", "train.batch_size=16"]
    assert main(["train", "eval-fsdd-classifier", *short, *ov, "--out", str(cls)]) == 0
    ov = ["model.layers=2", "model.stacks=1", "model.residual_channels=4",
          "model.gate_channels=4", "model.skip_channels=8", "objective.crop=256",
          "train.steps=2", "train.batch_size=4"]  # fmt: skip
    assert main(["train", "wavenet-fsdd", *short, *ov, "--out", str(wn)]) == 0
    out = tmp_path / "e.json"
    argv = ["eval", str(wn), "--n", "12", "--extractor", str(cls)]
    assert main([*argv, "--json", str(out)]) == 0
    got = json.loads(out.read_text())["metrics"]
    assert {"fid", "is", "mis", "am", "ndb_over_k", "cells_covered"} <= set(got)
    assert got["cells_total"] == 10 * 6 and 1 <= got["cells_covered"] <= 12
    assert got["mis"] >= 1.0 and got["am"] >= 0.0
    capsys.readouterr()
    code, _, err = run_cli(capsys, *argv, "--metrics", "modes")
    assert_user_error(code, err, "'modes' applies to points data, not audio")
    full = tmp_path / "cls8192"  # a classifier of full-length (8,192-sample) clips
    ov = [f"data.root={fsdd}", "data.speakers=[george]", "model.width=4", "model.features=16",
          "train.steps=1", "train.batch_size=8", "train.warmup_steps=1",
          "train.tensorboard=false"]  # fmt: skip
    assert main(["train", "eval-fsdd-classifier", *ov, "--out", str(full)]) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "eval", str(wn), "--n", "4", "--extractor", str(full))
    assert_user_error(code, err, "reads waveforms (1, 8192)", "makes (1, 1024)")
    # a codec LM (its network takes tokens, not waveforms) is scored on its clips too
    codec, lm = tmp_path / "codec", tmp_path / "lm"
    ov = ["model.channels=4", "model.strides=[2,4]", "model.code_dim=8", "model.codebooks=2",
          "model.codebook_size=16", "model.d_channels=4", "model.decoder_channels=8",
          "model.n_fft=32", "model.stft_sizes=[64]", "objective.mel_sizes=[64]",
          "objective.segment=256", "train.steps=2", "train.batch_size=4"]  # fmt: skip
    assert main(["train", "codec-fsdd", *short, *ov, "--out", str(codec)]) == 0
    ov = [f"objective.codec={codec}", "model.vocab_size=16", "model.codebooks=2",
          "model.frames=128", "model.n_layer=1", "model.n_embd=16", "train.steps=2",
          "train.batch_size=4"]  # fmt: skip
    short_lm = [o for o in short if not o.startswith("model.length")]
    assert main(["train", "codec-lm-fsdd", *short_lm, *ov, "--out", str(lm)]) == 0
    assert main(["eval", str(lm), "--n", "6", "--extractor", str(cls)]) == 0
