"""``genlab eval`` on video runs, end to end on tiny runs: a video DiT on moving-shapes scored
by a tiny 3-D CNN (FVD), an image classifier of its frames (per-frame FID, consistency) and
the frame change; real clips against themselves score 0; the classification metrics refuse
multi-label heads; bad requests are one line with exit status 2."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from genlab.cli import main
from genlab.data import DATASETS, build_dataset
from genlab.errors import ConfigError
from tests.conftest import SHARED_DATA, tiny_overrides

FRAMES, SIZE = 8, 16
CLIPS = {"data.n": 24, "data.frames": FRAMES, "data.image_size": SIZE}
# the DiT of dit-moving-mnist on moving-shapes clips (3, 8, 16, 16), as tests/test_video_cli.py
TINY_DIT = tiny_overrides(
    4,
    **{
        "data.name": "moving-shapes", **CLIPS, "model.in_channels": 3, "model.image_size": SIZE,
        "model.frames": FRAMES, "model.patch": 4, "model.temporal_patch": 2, "model.hidden": 32,
        "model.depth": 1, "model.heads": 2, "train.batch_size": 8, "sampler.steps": 2,
    },
)  # fmt: skip


def _classifier_overrides(**extra) -> list[str]:
    ov = tiny_overrides(3, **{"train.batch_size": 8, "model.width": 8, **extra})
    return [o for o in ov if not o.startswith("sampler.")]


def _video_classifier(frames: int = FRAMES) -> list[str]:
    """eval-moving-mnist-classifier's 3-D CNN on moving-shapes: one single-label head."""
    return _classifier_overrides(
        **{
            "data.name": "moving-shapes",
            **CLIPS,
            "data.frames": frames,
            "model.in_channels": 3,
            "model.frames": frames,
            "model.image_size": SIZE,
            "model.heads": 4,
            "model.head_names": "direction",
            "model.multi_label": "",
        }  # fmt: skip
    )


def _train(recipe: str, overrides: list[str], out) -> str:
    assert main(["train", recipe, *overrides, "--out", str(out)]) == 0
    return str(out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-video")
    dit = _train("dit-moving-mnist", TINY_DIT, root / "dit")
    cls = _train("eval-moving-mnist-classifier", _video_classifier(), root / "vcls")
    short = _train("eval-moving-mnist-classifier", _video_classifier(4), root / "vcls4")
    # the image classifier of moving-shapes frames, where genlab eval looks for it
    frames = root / "runs" / "eval-shapes-classifier"
    frames = _train("eval-shapes-classifier", _classifier_overrides(), frames)
    return {"root": root, "dit": dit, "cls": cls, "short": short, "frames": frames}


def _eval(capsys, *argv):
    capsys.readouterr()  # drop what came before (training logs)
    code = main(["eval", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_of_a_video_run_prints_fvd_frame_fid_consistency_and_frame_change(
    runs, capsys, monkeypatch
):
    monkeypatch.chdir(runs["root"])  # runs/eval-shapes-classifier reads the frames
    out = runs["root"] / "r.json"
    argv = [runs["dit"], "--extractor", runs["cls"], "--n", 12, "--batch", 12, "--json", out]
    code, printed, err = _eval(capsys, *argv)
    assert code == 0, err
    for name in ("fvd", "frame_fid", "consistency", "consistency_real", "frame_change"):
        assert f"| {name} |" in printed
    assert "12 samples vs moving-shapes" in printed and "frames classifier-cnn-3x32x32:" in printed
    r = json.loads(out.read_text())
    m = r["metrics"]
    assert all(math.isfinite(v) for v in m.values()), m
    assert m["fvd"] > 0 and m["frame_fid"] > 0 and 0 <= m["consistency_real"] <= 1
    assert m["frame_change_ratio"] == pytest.approx(m["frame_change"] / m["frame_change_real"])
    assert r["extractor"]["fingerprint"].startswith("classifier-video-3x8x16x16:")
    assert r["reference"]["n"] == 12 and r["reference"]["consistency_of"] == "shapes"
    assert r["metrics_requested"] == ["fvd", "frame_fid", "consistency", "frame_change"]
    # the reference features are cached beside each classifier: the same figures again
    cached = sorted(p.name for p in (runs["root"] / "vcls" / "refstats").iterdir())
    assert len(cached) == 1 and cached[0].startswith("moving-shapes-")
    frames = runs["root"] / "runs" / "eval-shapes-classifier" / "refstats"
    assert [p.name.startswith("moving-shapes-frames-") for p in frames.iterdir()] == [True]
    assert _eval(capsys, *argv[:-1], runs["root"] / "r2.json")[0] == 0
    again = json.loads((runs["root"] / "r2.json").read_text())["metrics"]
    assert again["fvd"] == pytest.approx(m["fvd"]) and again["frame_fid"] == m["frame_fid"]


def test_without_the_frame_classifier_frame_fid_is_skipped_with_a_note(
    runs, capsys, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)  # no runs/eval-shapes-classifier here
    code, printed, err = _eval(capsys, runs["dit"], "--extractor", runs["cls"], "--n", 6)
    assert code == 0 and err.count("\n") == 1, err
    assert "frame_fid skipped, consistency of pixels: no runs/eval-shapes-classifier" in err
    assert "genlab train eval-shapes-classifier" in err
    assert "| fvd |" in printed and "| consistency |" in printed and "frame_fid" not in printed
    # asked for by name, it is an error instead
    code, _, err = _eval(capsys, runs["dit"], "--extractor", runs["cls"], "--metrics", "frame_fid")
    assert code == 2 and err.count("\n") == 1 and "--metrics frame_fid: no runs/" in err


def test_real_clips_against_themselves_score_zero(runs, tmp_path):
    from genlab.evaluate import evaluate
    from genlab.metrics.features import get_extractor

    cfg = DATASETS["moving-shapes"].config(n=16, frames=FRAMES, image_size=SIZE, seed=3)
    clips = build_dataset(cfg).x  # (16, 3, 8, 16, 16)
    ext = get_extractor("", path=runs["cls"])
    frame_ext = get_extractor("shapes", path=runs["frames"])
    names = ["fvd", "frame_fid", "consistency", "frame_change"]
    r = evaluate(clips, None, cfg, "itself", names, ext, tmp_path, frame_extractor=frame_ext)
    m = r["metrics"]
    assert abs(m["fvd"]) < 1e-6 and abs(m["frame_fid"]) < 1e-6
    assert m["consistency"] == pytest.approx(m["consistency_real"])
    assert m["frame_change_ratio"] == pytest.approx(1.0) and m["frame_change"] > 0
    assert r["reference"]["n"] == 16 and r["frame_extractor"]["name"] == "shapes"
    # without a frame classifier consistency reads pixels; still clips score 1, no change
    still = clips[:, :, :1].expand_as(clips).contiguous()
    r = evaluate(still, None, cfg, "itself", ["consistency", "frame_change"], ext, tmp_path)
    assert r["metrics"]["consistency"] == pytest.approx(1.0) and r["metrics"]["frame_change"] == 0
    assert r["reference"]["consistency_of"] == "pixels" and r["frame_extractor"] is None


def test_classification_metrics_refuse_multi_label_heads(tmp_path, capsys):
    from genlab.evaluate import check_heads
    from genlab.metrics.features import get_extractor

    run = _train("eval-digits-classifier", [*_classifier_overrides(), "model.multi_label=class"],
                 tmp_path / "ml")  # fmt: skip
    ext = get_extractor("", path=run)
    assert ext.multi_label == ("class",)
    for metric in ("is", "acc", "cells", "am"):
        with pytest.raises(
            ConfigError, match=f"--metrics {metric}: .* head 'class' .* multi-label"
        ):
            check_heads([metric], ext)
    check_heads(["fid", "kid", "pr"], ext)  # features are fine
    test = build_dataset(DATASETS["digits"].config(split="test"))
    np.savez(tmp_path / "x.npz", x=test.x[:20].numpy())
    argv = ["--real", "digits", "--fake", tmp_path / "x.npz", "--extractor", run]
    code, _, err = _eval(capsys, *argv, "--metrics", "fid,is")
    assert code == 2 and err.count("\n") == 1 and "head 'class'" in err and "multi-label" in err
    assert _eval(capsys, *argv, "--metrics", "fid")[0] == 0


def test_a_missing_video_classifier_says_which_recipe_to_train(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no runs/eval-moving-mnist-classifier here
    np.savez(tmp_path / "x.npz", x=np.zeros((4, 1, 20, 64, 64), np.float32))
    code, _, err = _eval(capsys, "--real", "moving-mnist", "--fake", tmp_path / "x.npz")
    assert code == 2 and err.count("\n") == 1
    assert "genlab train eval-moving-mnist-classifier" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--metrics", "fid"], "'fid' applies to image or audio data, not video (video: fvd,"),
        (["--metrics", "clip"], "'clip' applies to image data, not video"),
        (["--metrics", "is"], "'is' applies to image or audio data, not video"),
        (["--extractor", "SHORT"], "reads clips (3, 4, 16, 16); "),  # before sampling
        (["--extractor", "FRAMES"], "'shapes' reads images, not clips; fvd and attributes need"),
    ],
)
def test_bad_video_eval_requests_are_one_line(runs, capsys, argv, message):
    names = {"SHORT": runs["short"], "FRAMES": runs["frames"]}
    argv = [names.get(a, a) for a in argv]
    if "--extractor" not in argv:
        argv += ["--extractor", runs["cls"]]
    code, _, err = _eval(capsys, runs["dit"], "--n", 4, *argv)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    if "reads clips" in message:
        assert err.strip().endswith("dit makes (3, 8, 16, 16)")


def test_clips_of_the_wrong_shape_are_one_line(runs, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", x=np.zeros((4, 3, 4, SIZE, SIZE), np.float32))
    argv = ["--real", "moving-shapes", "--fake", tmp_path / "x.npz", "--extractor", runs["cls"]]
    code, _, err = _eval(capsys, *argv, "--metrics", "fvd")  # the real clips differ
    assert code == 2 and err.count("\n") == 1, err
    assert "holds clips (3, 4, 16, 16) but --real moving-shapes gives (3, 16, 32, 32)" in err
    assert "data.frames=4 data.image_size=16" in err
    like = ["data.frames=4", f"data.image_size={SIZE}"]  # real as the file; the extractor differs
    code, _, err = _eval(capsys, *argv, *like, "--metrics", "fvd")
    assert code == 2 and err.count("\n") == 1, err
    assert "expects clips (N, 3, 8, 16, 16), got (4, 3, 4, 16, 16)" in err


def test_moving_mnist_clips_are_scored_by_the_classifiers_found_by_name(
    tmp_path, capsys, monkeypatch
):
    mnist = SHARED_DATA / "mnist"
    if not (mnist / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST data not found at {mnist}")
    small = {"data.root": mnist, "data.n": 16, "data.frames": FRAMES, "data.image_size": 32}
    video = {**small, "model.frames": FRAMES, "model.image_size": 32}
    _train("eval-moving-mnist-classifier", _classifier_overrides(**video),
           tmp_path / "runs" / "eval-moving-mnist-classifier")  # fmt: skip
    _train("eval-mnist-classifier", _classifier_overrides(**{"data.root": mnist}),
           tmp_path / "runs" / "eval-mnist-classifier")  # fmt: skip
    monkeypatch.chdir(tmp_path)
    data = [f"{k}={v}" for k, v in small.items()] + ["data.split=test"]
    cfg = DATASETS["moving-mnist"].config(root=str(mnist), split="test", n=16, frames=FRAMES)
    clips = build_dataset(dataclasses.replace(cfg, image_size=32))
    assert clips.x.shape == (16, 1, FRAMES, 32, 32)
    np.savez(tmp_path / "real.npz", x=clips.x.numpy())
    out = tmp_path / "r.json"
    argv = ["--real", "moving-mnist", "--fake", tmp_path / "real.npz", *data, "--json", out]
    code, printed, err = _eval(capsys, *argv)
    assert code == 0, err
    r = json.loads(out.read_text())
    m = r["metrics"]
    assert abs(m["fvd"]) < 1e-6 and abs(m["frame_fid"]) < 1e-6
    assert m["frame_change_ratio"] == pytest.approx(1.0)
    assert r["extractor"]["fingerprint"].startswith("classifier-video-1x8x32x32:")
    assert r["frame_extractor"]["fingerprint"].startswith("classifier-cnn-1x28x28:")
    # noise: far from the clips, and flickering (independent uniform frames change by 1/6)
    noise = torch.rand(16, 1, FRAMES, 32, 32, generator=torch.Generator().manual_seed(0))
    np.savez(tmp_path / "noise.npz", x=noise.numpy() * 2 - 1)
    argv[3] = tmp_path / "noise.npz"
    assert _eval(capsys, *argv)[0] == 0
    m = json.loads(out.read_text())["metrics"]
    assert m["fvd"] > 1 and m["frame_change"] == pytest.approx(1 / 6, rel=0.05)
    assert m["frame_change_ratio"] > 2 and m["consistency"] < m["consistency_real"]


def test_a_runs_data_root_may_move_but_not_its_data():
    """``genlab eval RUN data.root=DIR``: the run's held-out data read from elsewhere;
    any other data key would change what the run is compared with and is refused."""
    from types import SimpleNamespace

    from genlab.cli_eval import with_data_root
    from genlab.errors import ConfigError
    from genlab.recipes import get_recipe

    exp = get_recipe("dit-moving-mnist")
    args = SimpleNamespace(overrides=["data.root=/elsewhere/mnist", "sampler.steps=3"])
    moved = with_data_root(exp, args)
    assert moved.data.root == "/elsewhere/mnist" and args.overrides == ["sampler.steps=3"]
    assert exp.data.root != "/elsewhere/mnist"  # the run's own config is untouched
    with pytest.raises(ConfigError, match="data.frames: .* only data.root"):
        with_data_root(exp, SimpleNamespace(overrides=["data.frames=8"]))


def test_a_32x32_moving_mnist_run_reads_the_small_classifier(tmp_path, capsys, monkeypatch):
    """Without --extractor, a run of 32x32 Moving MNIST clips (the *-moving-mnist-small
    recipes) is scored by runs/eval-moving-mnist-small-classifier; missing, that is one
    line naming its recipe, never the 64x64 classifier's."""
    mnist = SHARED_DATA / "mnist"
    if not (mnist / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST data not found at {mnist}")
    tiny = tiny_overrides(
        1,
        **{"data.root": mnist, "data.n": 8, "model.hidden": 16, "model.depth": 1,
           "model.heads": 2, "train.batch_size": 4, "sampler.steps": 2},
    )  # fmt: skip
    run = _train("dit-moving-mnist-small", tiny, tmp_path / "small")
    monkeypatch.chdir(tmp_path)  # no classifiers in runs/ here
    code, _, err = _eval(capsys, run, "--n", 2, "--metrics", "fvd")
    assert code == 2 and err.count("\n") == 1, err
    assert "makes 32x32 Moving MNIST clips" in err
    assert "genlab train eval-moving-mnist-small-classifier" in err


def test_a_classifier_of_other_moving_mnist_clips_is_refused(tmp_path, capsys):
    """A clip classifier judges runs of its own Moving MNIST geometry only: two digits on
    32x32 are the small classifier's clip shape but not its clips (one digit), one line."""
    from genlab.evaluate import video_geometry_mismatch

    one = DATASETS["moving-mnist"].config(digits=1, image_size=32, digit_size=14)
    assert video_geometry_mismatch(one, dataclasses.asdict(one)) == ""
    two = dataclasses.asdict(dataclasses.replace(one, digits=2))
    assert video_geometry_mismatch(one, two) == "digits 2 (run: 1)"
    assert video_geometry_mismatch(DATASETS["moving-shapes"].config(), two) == ""
    mnist = SHARED_DATA / "mnist"
    if not (mnist / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST data not found at {mnist}")
    tiny = tiny_overrides(
        1,
        **{"data.root": mnist, "data.n": 8, "data.digits": 2, "model.hidden": 16,
           "model.depth": 1, "model.heads": 2, "train.batch_size": 4, "sampler.steps": 2},
    )  # fmt: skip
    run = _train("dit-moving-mnist-small", tiny, tmp_path / "two")
    cls = _train(
        "eval-moving-mnist-small-classifier",
        _classifier_overrides(**{"data.root": mnist, "data.n": 8}),
        tmp_path / "cls",
    )
    code, _, err = _eval(capsys, run, "--n", 2, "--metrics", "fvd", "--extractor", cls)
    assert code == 2 and err.count("\n") == 1, err
    assert f"{cls} was trained on Moving MNIST with digits 1 (run: 2)" in err
    # the same pair with the samples in a file: refused too, before anything is read
    argv = ["--real", "moving-mnist", "--fake", tmp_path / "none.npz", f"data.root={mnist}",
            "data.digits=2", "data.image_size=32", "data.digit_size=14"]  # fmt: skip
    code, _, err = _eval(capsys, *argv, "--metrics", "fvd", "--extractor", cls)
    assert code == 2 and "digits 1 (run: 2)" in err and err.count("\n") == 1, err
