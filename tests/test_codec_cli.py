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
        "model.decoder_channels": 16, "model.n_fft": 64,
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
    code, _, err = run_cli(capsys, "sample", run, "--speaker", "1", "--out", tmp_path / "t.wav")
    assert_user_error(code, err, "--speaker", "not conditioned on a speaker")


def test_bad_codec_settings_are_one_error(tmp_path, capsys):
    big = [o if not o.startswith("objective.mel_sizes") else "objective.mel_sizes=[64,1024]"
           for o in TINY_CODEC]  # fmt: skip
    code, _, err = run_cli(capsys, "train", "codec-fsdd", *big, "--out", tmp_path / "a")
    assert_user_error(code, err, "objective.mel_sizes", "1024-sample", "segment=512")
    code, _, err = run_cli(capsys, "train", "codec-fsdd", *TINY_CODEC, "model.ema_decay=0",
                           "--out", tmp_path / "b")  # fmt: skip
    assert_user_error(code, err, "model.ema_decay")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_speakers_on_data_without_them_are_one_error(codec_run, tmp_path, capsys):
    over = [o if o != "model.num_speakers=0" else "model.num_speakers=2"
            for o in lm_overrides(codec_run, "delay")]  # fmt: skip
    code, _, err = run_cli(capsys, "train", "codec-lm-fsdd", *over, "--out", tmp_path / "a")
    assert_user_error(code, err, "model.num_speakers", "'tones'")
    assert not (tmp_path / "a").exists()


def test_missing_or_mismatched_codec_is_one_error(codec_run, tmp_path, capsys):
    missing = lm_overrides(tmp_path / "nope", "delay")
    code, _, err = run_cli(capsys, "train", "codec-lm-fsdd", *missing, "--out", tmp_path / "a")
    assert_user_error(code, err, "objective.codec", "nope", "not a trained")
    bad = [o if not o.startswith("model.frames") else "model.frames=64"
           for o in lm_overrides(codec_run, "delay")]  # fmt: skip
    code, _, err = run_cli(capsys, "train", "codec-lm-fsdd", *bad, "--out", tmp_path / "b")
    assert_user_error(code, err, "objective.codec", "(32, 3, 128)", "(32, 3, 64)")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_speaker_by_id_or_fsdd_name(tmp_path):
    from data.test_audio import fake_fsdd

    from genlab.errors import ConfigError
    from genlab.recipes import get_recipe
    from genlab.runs import override, speaker_cond

    root = fake_fsdd(tmp_path / "fsdd")  # speakers amy (0) and bob (1)
    exp = override(get_recipe("codec-lm-fsdd"), [f"data.root={root}"])
    assert speaker_cond(exp, 2, "bob")["speaker"].tolist() == [1, 1]
    assert speaker_cond(exp, 1, "0")["speaker"].tolist() == [0]
    assert speaker_cond(exp, 1, None) == {}
    with pytest.raises(ConfigError, match="the speakers are amy, bob"):
        speaker_cond(exp, 1, "zed")
    with pytest.raises(ConfigError, match="0..5"):
        speaker_cond(exp, 1, "6")


def test_spectral_codec_learns_without_a_discriminator(tmp_path, capsys):
    """codec-mel-fsdd: the log-mel encoder and decoder train by regression in the
    one-objective loop (no discriminator is made) and resynthesise through Griffin-Lim."""
    out = tmp_path / "mel"
    mel = ["model.encoder=mel", "model.decoder=mel", "model.n_mels=16", "objective.adv_start=0"]
    assert main(["train", "codec-mel-fsdd", *TINY_CODEC, *mel, "--out", str(out)]) == 0
    l1 = _metric(out, "mel_l1")
    assert sum(l1[-5:]) / 5 < 0.8 * sum(l1[:5]) / 5, l1
    assert not _metric(out, "g_adv") and not (out / "disc.safetensors").exists()
    code, _, _ = run_cli(capsys, "sample", out, "--n", "2", "--out", tmp_path / "m.wav")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["000.wav", "001.wav"]
    info = sf.info(tmp_path / "m" / "000.wav")
    assert (info.samplerate, info.frames) == (8000, LENGTH)
    code, out_text, _ = run_cli(capsys, "info", out)
    assert code == 0 and "mel encoder, mel decoder" in out_text
    for bad, key in (("objective.adv_weight=3", "objective.adv_weight"),
                     ("objective.g_lr=0.1", "objective.g_lr")):  # fmt: skip
        code, _, err = run_cli(capsys, "train", "codec-mel-fsdd", *TINY_CODEC, *mel, bad,
                               "--out", tmp_path / "bad")  # fmt: skip
        assert_user_error(code, err, key, "mel decoder")
        assert not (tmp_path / "bad").exists()
