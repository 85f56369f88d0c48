"""Video runs through the `genlab` command, on the synthetic moving shapes (no files): a
tiny video DiT (a video inpainting network) trains, samples to GIF, MP4 and arrays, and
rolls out longer clips whose opening is exactly the plain sample; bad requests are one
error line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_overrides
from test_cli import assert_user_error, run_cli

from genlab.cli import main
from genlab.data.video_io import read_video

FRAMES = 8
TINY_VIDEO = tiny_overrides(
    6,
    **{
        "data.name": "moving-shapes", "data.n": 32, "data.frames": FRAMES,
        "data.image_size": 16, "model.in_channels": 3, "model.image_size": 16,
        "model.frames": FRAMES, "model.patch": 4, "model.temporal_patch": 2,
        "model.hidden": 32, "model.depth": 1, "model.heads": 2, "train.batch_size": 8,
        "sampler.steps": 2,
    },
)  # fmt: skip


@pytest.fixture(scope="module")
def video_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("video") / "dit"
    assert main(["train", "dit-moving-mnist", *TINY_VIDEO, "--out", str(out)]) == 0
    return out


def test_video_samples_are_written_as_gif_mp4_and_strip(video_run, tmp_path, capsys):
    for name in ("x.gif", "x.mp4"):
        code, _, err = run_cli(capsys, "sample", str(video_run), "--n", "3", "--out",
                               str(tmp_path / name))  # fmt: skip
        assert code == 0, err
        frames, fps = read_video(tmp_path / name)
        assert frames.shape[1] == FRAMES and fps > 0
    code, _, err = run_cli(capsys, "sample", str(video_run), "--n", "3", "--out",
                           str(tmp_path / "s.png"))  # fmt: skip
    assert code == 0, err
    assert {p.name for p in tmp_path.iterdir()} >= {"s.png", "s.gif", "s.mp4"}


def test_rollout_opens_with_the_plain_sample(video_run, tmp_path, capsys):
    plain, long = tmp_path / "plain.npz", tmp_path / "long.npz"
    assert run_cli(capsys, "sample", str(video_run), "--n", "2", "--out", str(plain))[0] == 0
    code, _, err = run_cli(capsys, "sample", str(video_run), "--n", "2", "--frames", "19",
                           "--context", "4", "--out", str(long))  # fmt: skip
    assert code == 0, err
    a, b = np.load(plain)["x"], np.load(long)["x"]
    assert b.shape == (2, 3, 19, 16, 16)
    np.testing.assert_array_equal(b[:, :, :FRAMES], a)
    assert np.isfinite(b).all() and np.abs(b[:, :, FRAMES:]).max() > 0


def test_bad_video_requests_are_one_line(video_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", str(video_run), "--frames", "5", "--out",
                           str(tmp_path / "a.gif"))  # fmt: skip
    assert_user_error(code, err, "--frames", "window of 8")
    code, _, err = run_cli(capsys, "sample", str(video_run), "--frames", "12", "--context",
                           "8", "--out", str(tmp_path / "a.gif"))  # fmt: skip
    assert_user_error(code, err, "--context")
    code, _, err = run_cli(capsys, "sample", str(video_run), "--context", "2", "--out",
                           str(tmp_path / "a.gif"))  # fmt: skip
    assert_user_error(code, err, "--context", "give --frames too")
    code, _, err = run_cli(capsys, "sample", str(video_run), "--frames", "12", "--context",
                           "0", "--out", str(tmp_path / "a.gif"))  # fmt: skip
    assert_user_error(code, err, "--context", "at least 1")
    code, _, err = run_cli(capsys, "sample", str(video_run), "--out", str(tmp_path / "a.wav"))
    assert_user_error(code, err, "a.wav", "moving-shapes")
    assert not list(tmp_path.iterdir())
    (tmp_path / "s.gif").mkdir()  # a frame strip's animation beside it cannot be written
    code, _, err = run_cli(capsys, "sample", str(video_run), "--out", str(tmp_path / "s.png"))
    assert_user_error(code, err, "s.gif", "is a folder")
    assert [p.name for p in tmp_path.iterdir()] == ["s.gif"]


def test_info_gives_the_clips_frames_size_and_rate(video_run, capsys):
    code, out, err = run_cli(capsys, "info", str(video_run))
    assert code == 0, err
    assert f"moving-shapes ({FRAMES} frames of 16x16 at 8 fps, 1.00 s)" in out


def test_the_hint_after_training_samples_a_few_clips_to_a_gif(tmp_path, capsys):
    """The "sample again" line a video run prints after training is a working shell
    command for 8 clips into a GIF, not a 64-picture grid."""
    import shlex

    out = tmp_path / "a run"  # a space: the hint quotes it for the shell
    code, printed, err = run_cli(
        capsys, "train", "dit-moving-mnist", *TINY_VIDEO, "--out", str(out)
    )
    assert code == 0, err
    hint = next(line for line in printed.splitlines() if line.startswith("sample again: "))
    argv = shlex.split(hint.removeprefix("sample again: genlab "))
    assert argv == ["sample", str(out), "--n", "8", "--out", str(out / "samples" / "sample.gif")]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    frames, _ = read_video(out / "samples" / "sample.gif")
    assert frames.shape[1] == FRAMES
