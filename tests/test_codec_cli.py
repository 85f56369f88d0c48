"""The codec and its language models through the `genlab` command, on the synthetic
tones (no files): a tiny codec trains (its reconstruction loss falls) and resynthesises
to WAV with all or fewer codebooks; both codec LMs train on its tokens and sample; a
missing or mismatched codec is one error line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from conftest import tiny_overrides
from test_cli import assert_user_error, run_cli

from genlab.cli import main

LENGTH = 1024


def _no_steps(overrides: list[str]) -> list[str]:
    """tiny_overrides without sampler.steps (these samplers take no steps)."""
    return [o for o in overrides if not o.startswith("sampler.steps=")]


TINY_CODEC = _no_steps(tiny_overrides(
    60,
    **{
        "data.name": "tones", "data.n": 64, "data.length": LENGTH, "model.length": LENGTH,
        "model.channels": 4, "model.strides": "[2,4]", "model.code_dim": 16,
        "model.codebooks": 3, "model.codebook_size": 32, "model.d_channels": 4,
        "model.stft_sizes": "[64,128]", "objective.segment": 512, "objective.adv_start": 45,
        "objective.mel_sizes": "[64,128]", "train.batch_size": 16, "train.lr": "3e-3",
    },
))  # fmt: skip


def lm_overrides(codec: Path, pattern: str) -> list[str]:
    return _no_steps(tiny_overrides(
        30,
        **{
            "data.name": "tones", "data.n": 64, "data.length": LENGTH,
            "objective.codec": codec, "model.pattern": pattern, "model.vocab_size": 32,
            "model.codebooks": 3, "model.frames": LENGTH // 8, "model.n_layer": 1,
            "model.n_embd": 32, "model.num_classes": 5, "model.num_speakers": 0,
            "train.batch_size": 16, "train.lr": "3e-3",
        },
    ))  # fmt: skip


@pytest.fixture(scope="module")
def codec_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("codec") / "codec"
    assert main(["train", "codec-fsdd", *TINY_CODEC, "--out", str(out)]) == 0
    return out


def _metric(run: Path, key: str) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    return [r[key] for r in rows if key in r]


def test_codec_learns_and_resynthesises(codec_run, tmp_path, capsys):
    mel = _metric(codec_run, "mel")
    assert sum(mel[-5:]) / 5 < 0.8 * sum(mel[:5]) / 5, mel
    assert _metric(codec_run, "g_adv"), "the adversarial terms join at objective.adv_start"
    code, _, _ = run_cli(capsys, "sample", codec_run, "--n", "1", "--out", tmp_path / "a.wav")
    assert code == 0
    info = sf.info(tmp_path / "a.wav")
    assert (info.samplerate, info.frames) == (8000, LENGTH)
    code, _, _ = run_cli(capsys, "sample", codec_run, "--n", "1", "--out", tmp_path / "b.wav",
                         "sampler.codebooks=1")  # fmt: skip
    assert code == 0
    assert (tmp_path / "a.wav").read_bytes() != (tmp_path / "b.wav").read_bytes()
    code, _, err = run_cli(capsys, "sample", codec_run, "--out", tmp_path / "c.wav",
                           "sampler.codebooks=5")  # fmt: skip
    assert_user_error(code, err, "sampler.codebooks", "3")


@pytest.mark.parametrize("pattern", ["delay", "coarse_fine"])
def test_codec_lm_trains_and_samples(codec_run, pattern, tmp_path, capsys):
    run = tmp_path / pattern
    assert (
        main(["train", "codec-lm-fsdd", *lm_overrides(codec_run, pattern), "--out", str(run)]) == 0
    )
    key = "loss"
    losses = _metric(run, key)
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5, losses
    capsys.readouterr()
    code, _, _ = run_cli(
        capsys, "sample", run, "--n", "2", "--class", "3", "--out", tmp_path / "s.wav"
    )
    assert code == 0 and len(list((tmp_path / "s").glob("*.wav"))) == 2


def test_missing_or_mismatched_codec_is_one_error(codec_run, tmp_path, capsys):
    missing = lm_overrides(tmp_path / "nope", "delay")
    code, _, err = run_cli(capsys, "train", "codec-lm-fsdd", *missing, "--out", tmp_path / "a")
    assert_user_error(code, err, "objective.codec", "nope", "not a trained")
    bad = [o if not o.startswith("model.frames") else "model.frames=64"
           for o in lm_overrides(codec_run, "delay")]  # fmt: skip
    code, _, err = run_cli(capsys, "train", "codec-lm-fsdd", *bad, "--out", tmp_path / "b")
    assert_user_error(code, err, "objective.codec", "(32, 3, 128)", "(32, 3, 64)")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
