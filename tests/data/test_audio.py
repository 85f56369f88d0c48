"""Audio data: WAV round trip, fsdd, audio-folder, tones, and every bad-file error."""

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from genlab.data import DATASETS, build_dataset, heldout_config
from genlab.data.audio import fit_length, read_audio
from genlab.errors import ConfigError, DataError
from genlab.nn.audio import stft
from genlab.viz import save_samples, write_wav

FSDD = Path(__file__).resolve().parents[2] / "../shared/data/fsdd"


def sine(freq, n, sr, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32)


def write(path, data, sr=8000, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, sr, subtype=subtype)
    return path


def peak_hz(x, sr, n_fft=1024):
    mag = stft(torch.as_tensor(x).float(), n_fft, n_fft // 4).abs().mean(-1)
    return float(mag.argmax()) * sr / n_fft


def test_wav_round_trip(tmp_path):
    x = torch.rand(1, 3000, generator=torch.Generator().manual_seed(0)) * 2 - 1
    path = write_wav(x, tmp_path / "a.wav", 8000)
    assert sf.info(path).samplerate == 8000 and sf.info(path).subtype == "PCM_16"
    y = read_audio(path, 8000)
    assert y.shape == (3000,)
    assert float((y - x[0]).abs().max()) <= 1 / 32768 + 1e-7  # 16-bit quantisation
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_write_wav_unwritable_path_names_it(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match=r"file/a.wav: cannot write the WAV \(.*file is a file"):
        write_wav(torch.zeros(10), tmp_path / "file" / "a.wav", 8000)


def test_fit_length():
    x = torch.arange(5.0)
    assert torch.equal(fit_length(x, 3), torch.tensor([0.0, 1, 2]))
    assert torch.equal(fit_length(x, 7), torch.tensor([0.0, 1, 2, 3, 4, 0, 0]))


# ---------------------------------------------------------------- bad files


def test_not_audio(tmp_path):
    p = tmp_path / "x.wav"
    p.write_bytes(b"hello, not a wav file")
    with pytest.raises(DataError, match=r"x.wav: not an audio file soundfile can read"):
        read_audio(p, 8000)


def test_truncated_wav(tmp_path):
    p = write(tmp_path / "t.wav", sine(440, 8000, 8000))
    p.write_bytes(p.read_bytes()[:9000])  # soundfile alone would read the first half
    with pytest.raises(DataError, match=r"t.wav: truncated WAV \(its header declares 16000"):
        read_audio(p, 8000)


def test_stereo_where_mono_expected(tmp_path):
    p = write(tmp_path / "s.wav", np.stack([sine(440, 800, 8000), sine(880, 800, 8000)], 1))
    with pytest.raises(DataError, match=r"s.wav: has 2 channels, mono expected"):
        read_audio(p, 8000)
    mixed = read_audio(p, 8000, mix_stereo=True)
    assert mixed.shape == (800,)


def test_other_rate_needs_resample(tmp_path):
    p = write(tmp_path / "r.wav", sine(440, 16000, 16000), sr=16000)
    with pytest.raises(DataError, match=r"r.wav: is at 16000 Hz, not data.sample_rate=8000"):
        read_audio(p, 8000)
    x = read_audio(p, 8000, resample=True)
    assert x.shape == (8000,)  # one second either way
    assert abs(peak_hz(x, 8000) - 440) < 8000 / 1024  # the pitch is kept


def test_empty_wav(tmp_path):
    p = write(tmp_path / "e.wav", np.zeros(0, np.float32))
    with pytest.raises(DataError, match="e.wav: holds no samples"):
        read_audio(p, 8000)


# ---------------------------------------------------------------- fsdd


def fake_fsdd(root, speakers=("bob", "amy"), takes=7, n=900):
    for s_i, s in enumerate(speakers):
        for d in range(10):
            for t in range(takes):
                write(root / "recordings" / f"{d}_{s}_{t}.wav", sine(200 + 50 * d + s_i, n, 8000))
    return root


def test_fsdd_from_a_folder(tmp_path):
    root = fake_fsdd(tmp_path / "fsdd")
    cfg = DATASETS["fsdd"].config(root=str(root), length=1024)
    train, test = build_dataset(cfg), build_dataset(DATASETS["fsdd"].config(
        root=str(root), length=1024, split="test", label="speaker"))  # fmt: skip
    assert train.x.shape == (2 * 10 * 2, 1, 1024)  # takes 5, 6
    assert test.x.shape == (2 * 10 * 5, 1, 1024)  # takes 0-4
    assert train.modality == "audio" and train.sample_rate == 8000
    assert train.attributes["speaker"] == ("amy", "bob")  # sorted, the same in each split
    assert test.class_names == ("amy", "bob")
    assert torch.equal(test.cond["class"], test.cond["speaker"])
    assert torch.equal(train.cond["class"], train.cond["digit"])
    assert torch.equal(train.x[0, 0, 900:], torch.zeros(124))  # padded with silence
    # "amy" is speaker 0, with her own pitch (200 + 50 d + 1 Hz)
    first = train.x[train.cond["speaker"] == 0][0, 0, :900].numpy()
    d = int(train.cond["digit"][train.cond["speaker"] == 0][0])
    assert np.allclose(first, sine(200 + 50 * d + 1, 900, 8000), atol=1e-4)
    held, what = heldout_config(cfg)
    assert held.split == "test" and "held out" in what


def test_fsdd_speakers_filter_and_errors(tmp_path):
    root = fake_fsdd(tmp_path / "fsdd", takes=6)
    ds = build_dataset(DATASETS["fsdd"].config(root=str(root), speakers=("bob",), length=256))
    assert len(ds) == 10 and ds.attributes["speaker"] == ("amy", "bob")
    assert set(ds.cond["speaker"].tolist()) == {1}  # bob keeps the id he has among all
    with pytest.raises(ConfigError, match="data.speakers: carl not in"):
        build_dataset(DATASETS["fsdd"].config(root=str(root), speakers=("carl",)))
    with pytest.raises(DataError, match="no such directory"):
        build_dataset(DATASETS["fsdd"].config(root=str(tmp_path / "none")))
    write(root / "recordings" / "hello.wav", sine(440, 100, 8000))
    with pytest.raises(DataError, match=r"hello.wav: not an FSDD name"):
        build_dataset(DATASETS["fsdd"].config(root=str(root)))


def test_audio_config_errors():
    with pytest.raises(ConfigError, match="data.length: must be at least 64"):
        DATASETS["fsdd"].config(length=10)
    with pytest.raises(ConfigError, match="data.sample_rate"):
        DATASETS["tones"].config(sample_rate=10)


@pytest.mark.skipif(not FSDD.is_dir(), reason="../shared/data/fsdd is not beside the project")
def test_real_fsdd_split():
    test = build_dataset(DATASETS["fsdd"].config(split="test"))
    assert test.x.shape == (300, 1, 8192)
    assert torch.equal(test.cond["digit"].bincount(), torch.full((10,), 30))
    assert torch.equal(test.cond["speaker"].bincount(), torch.full((6,), 50))
    assert float(test.x.abs().max()) <= 1.0 and float(test.x.std()) > 0.01


# ---------------------------------------------------------------- audio-folder, tones


def test_audio_folder(tmp_path):
    write(tmp_path / "a" / "one.wav", sine(300, 500, 16000), sr=16000)
    write(tmp_path / "a" / "deep" / "two.flac", sine(300, 700, 16000), sr=16000)
    write(tmp_path / "b" / "three.wav", sine(600, 400, 8000), sr=8000)  # resampled
    write(tmp_path / "b" / ".hidden.wav", sine(600, 400, 8000), sr=8000)
    (tmp_path / "b" / "notes.txt").write_text("not audio")
    ds = build_dataset(DATASETS["audio-folder"].config(root=str(tmp_path), length=1000))
    assert ds.class_names == ("a", "b") and ds.cond["class"].tolist() == [0, 0, 1]
    assert ds.x.shape == (3, 1, 1000) and ds.sample_rate == 16000
    assert float(ds.x[2, 0, 800:].abs().max()) == 0  # 400 samples at 8 kHz -> 800 at 16 kHz
    write(tmp_path / "b" / "st.wav", np.zeros((100, 2), np.float32), sr=16000)
    with pytest.raises(DataError, match="st.wav: has 2 channels"):
        build_dataset(DATASETS["audio-folder"].config(root=str(tmp_path)))
    mixed = build_dataset(DATASETS["audio-folder"].config(root=str(tmp_path), mix_stereo=True))
    assert len(mixed) == 4


def test_tones_are_deterministic_and_labelled():
    cfg = DATASETS["tones"].config(n=50, length=4096)
    a, b = build_dataset(cfg), build_dataset(cfg)
    assert torch.equal(a.x, b.x) and a.x.shape == (50, 1, 4096)
    assert float(a.x.abs().max()) <= 0.9
    sr = a.sample_rate
    for k, hz in enumerate((220, 440, 880)):  # steady tones at their pitch (+-6%)
        got = peak_hz(a.x[k, 0, 1024:], sr)
        assert abs(got - hz) < 0.06 * hz + sr / 1024, (k, got)
    rising, falling = a.x[3, 0], a.x[4, 0]
    assert peak_hz(rising[3072:], sr) > peak_hz(rising[1024:2048], sr)
    assert peak_hz(falling[3072:], sr) < peak_hz(falling[1024:2048], sr)


def test_save_audio_samples(tmp_path):
    x = build_dataset(DATASETS["tones"].config(n=5, length=2048)).x
    one = save_samples(x[:1], "audio", tmp_path / "one.wav", sample_rate=8000)
    assert one == tmp_path / "one.wav" and sf.info(one).frames == 2048
    many = save_samples(x, "audio", tmp_path / "many.wav", sample_rate=8000)
    assert sorted(p.name for p in many.iterdir()) == [f"{i:03d}.wav" for i in range(5)]
    png = save_samples(x, "audio", tmp_path / "spec.png", nrow=5)
    img = Image.open(png)
    assert img.size == (5 * (1 + 2048 // 64 + 1) + 1, 129 + 2) and img.mode == "RGB"
    with pytest.raises(ValueError, match="sample_rate"):
        save_samples(x, "audio", tmp_path / "x.wav")


def test_chirp_phase_is_continuous():
    # the rising chirp's instantaneous frequency is the phase derivative: no jumps
    x = build_dataset(DATASETS["tones"].config(n=5, length=8192)).x[3, 0]
    on = x.abs() > 0
    d = x[on].diff().abs().max()
    assert float(d) < 2 * math.pi * 1600 / 8000 * 0.9 + 1e-3


def test_float_wavs_must_be_finite_and_in_range(tmp_path):
    loud = write(tmp_path / "loud.wav", 3 * sine(440, 800, 8000), subtype="FLOAT")
    with pytest.raises(DataError, match=r"loud.wav: has samples outside \[-1, 1\] \(peak 1.5\)"):
        read_audio(loud, 8000)
    bad = sine(440, 800, 8000)
    bad[10] = np.nan
    nan = write(tmp_path / "nan.wav", bad, subtype="FLOAT")
    with pytest.raises(DataError, match="nan.wav: holds NaN or infinite samples"):
        read_audio(nan, 8000)


def test_audio_folder_empty_class_and_broken_link(tmp_path):
    write(tmp_path / "a" / "one.wav", sine(300, 500, 16000), sr=16000)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: a class folder with no audio files"):
        build_dataset(DATASETS["audio-folder"].config(root=str(tmp_path)))
    (tmp_path / "empty").rmdir()
    (tmp_path / "a" / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    with pytest.raises(DataError, match="gone.wav: not a readable file"):
        build_dataset(DATASETS["audio-folder"].config(root=str(tmp_path)))


def test_fsdd_reads_upper_case_suffixes_and_lists_trained_speakers(tmp_path):
    from genlab.data.audio import speaker_ids

    root = fake_fsdd(tmp_path / "fsdd", speakers=("bob", "amy", "cy"), takes=6, n=200)
    (root / "recordings" / "3_cy_5.wav").rename(root / "recordings" / "3_cy_5.WAV")
    ds = build_dataset(DATASETS["fsdd"].config(root=str(root), length=256))
    assert len(ds) == 3 * 10  # take 5 of every speaker and digit, the .WAV one too
    assert speaker_ids(DATASETS["fsdd"].config(root=str(root), speakers=("cy", "amy"))) == [0, 2]
