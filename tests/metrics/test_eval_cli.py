"""Classifier recipes and ``genlab eval`` end to end on tiny runs, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genlab.cli import main
from genlab.families.classifier import random_shift
from genlab.recipes import get_recipe
from genlab.runs import fit, override
from tests.conftest import tiny_overrides


def _train(recipe, out, steps, **extra):
    ov = tiny_overrides(steps, **extra)
    ov = [o for o in ov if not o.startswith("sampler.")] if recipe.startswith("eval-") else ov
    return fit(override(get_recipe(recipe), ov), out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    cls = _train("eval-digits-classifier", root / "cls", 60, **{"train.lr": 3e-3})
    gen = _train("rf-digits", root / "gen", 10, **{"model.channels": 16})
    return root, cls, gen


def test_random_shift_translates_each_image():
    x = torch.full((3, 1, 8, 8), -1.0)
    x[:, 0, 3:5, 3:5] = 1.0  # a 2x2 square in the middle
    y = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)
    assert ((y == 1).sum((1, 2, 3)) == 4).all()  # the square moved, whole
    rows = (y[:, 0] == 1).nonzero()[:, 1].view(3, 4).min(1).values
    assert ((rows >= 1) & (rows <= 5)).all()


def test_classifier_learns_digits(runs):
    _, cls, _ = runs
    from genlab.metrics.features import get_extractor

    ext = get_extractor("digits", path=cls)
    from genlab.data import DATASETS, build_dataset

    test = build_dataset(DATASETS["digits"].config(split="test"))
    acc = (ext.logits(test.x).argmax(1) == test.cond["class"]).float().mean()
    assert acc > 0.5  # 60 tiny steps; chance is 0.1
    assert ext.features(test.x[:5]).shape == (5, 128)
    f, heads = ext.features_and_logits(test.x[:5])
    assert torch.allclose(f, ext.features(test.x[:5]))
    assert torch.allclose(heads["class"], ext.logits(test.x[:5]), atol=1e-5)
    again = get_extractor("digits", path=cls)
    assert again.fingerprint == ext.fingerprint and ext.fingerprint.startswith("classifier-cnn")


def test_eval_run_writes_every_figure(runs, capsys):
    root, cls, gen = runs
    out = root / "r.json"
    argv = [
        "eval", str(gen), "--n", "40", "--batch", "16", "--extractor", str(cls),
        "--metrics", "fid,kid,pr,dc,is,acc", "--json", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    r = json.loads(out.read_text())
    assert r["n"] == 40 and r["extractor"]["fingerprint"].startswith("classifier-cnn-1x8x8:")
    want = ("fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "is", "acc")
    assert set(want) <= set(r["metrics"]) and r["metrics"]["fid"] > 0
    assert r["reference"]["set"].startswith("digits") and r["reference"]["n"] == 1797
    assert "| fid |" in capsys.readouterr().out
    # Same seeds -> same samples -> the same figures; the reference now comes from cache.
    assert main(argv[:-1] + [str(root / "r2.json")]) == 0
    r2 = json.loads((root / "r2.json").read_text())
    assert r2["metrics"]["fid"] == pytest.approx(r["metrics"]["fid"])


def test_eval_npz_and_fid_of_real_data_is_near_zero(runs, tmp_path):
    from genlab.data import DATASETS, build_dataset

    _, cls, _ = runs
    test = build_dataset(DATASETS["digits"].config(split="test"))
    np.savez(tmp_path / "real.npz", x=test.x.numpy(), **{"class": test.cond["class"].numpy()})
    out = tmp_path / "r.json"
    argv = ["eval", "--real", "digits", "--fake", str(tmp_path / "real.npz"), "data.split=test"]
    argv += ["--extractor", str(cls), "--metrics", "fid,pr,acc", "--json", str(out)]
    assert main(argv) == 0
    m = json.loads(out.read_text())["metrics"]
    assert abs(m["fid"]) < 1e-6 and m["precision"] == 1.0 and m["recall"] == 1.0
    assert m["acc"] > 0.5


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--metrics", "fdi"], "unknown metric 'fdi'; did you mean 'fid'"),
        (["--metrics", "modes"], "'modes' applies to points data"),
        (["--fake", "MISSING"], "no such file"),
        (["--fake", "WRONGSHAPE"], "expects images (N, 1, 8, 8), got (4, 1, 28, 28)"),
        (["--fake", "NOX"], "has no array 'x'"),
        (["--lora", "runs/x"], "--lora: says how to sample a RUN; --fake"),
        (["--steps", "4"], "--steps: says how to sample a RUN"),
        (["--class", "3"], "--class: says how to sample a RUN"),
    ],
)
def test_bad_input_is_one_clear_line(runs, tmp_path, capsys, argv, message):
    _, cls, _ = runs
    np.savez(tmp_path / "wrong.npz", x=np.zeros((4, 1, 28, 28), np.float32))
    np.savez(tmp_path / "nox.npz", y=np.zeros(3))
    files = {"MISSING": tmp_path / "nope.npz", "WRONGSHAPE": tmp_path / "wrong.npz"}
    files["NOX"] = tmp_path / "nox.npz"
    argv = [str(files.get(a, a)) for a in argv]
    if "--fake" not in argv:
        argv += ["--fake", str(tmp_path / "wrong.npz")]
    assert main(["eval", "--real", "digits", "--extractor", str(cls), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_run_and_fake_samples_together_are_refused(runs, tmp_path, capsys):
    _, cls, flow = runs
    np.savez(tmp_path / "x.npz", x=np.zeros((4, 1, 8, 8), np.float32))
    argv = ["eval", str(flow), "--fake", str(tmp_path / "x.npz"), "--extractor", str(cls)]
    assert main(argv) == 2
    assert "--fake: evaluates samples already drawn, with --real DATASET" in capsys.readouterr().err


def test_missing_classifier_says_how_to_train_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no runs/eval-digits-classifier here
    np.savez(tmp_path / "x.npz", x=np.zeros((4, 1, 8, 8), np.float32))
    code = main(
        ["eval", "--real", "digits", "--fake", str(tmp_path / "x.npz"), "--extractor", "digits"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "genlab train eval-digits-classifier" in err


def test_eval_bpd_of_a_flow_run(runs, tmp_path):
    _, _, gen = runs
    out = tmp_path / "b.json"
    argv = ["eval", str(gen), "--metrics", "bpd", "--n", "6", "--bpd-steps", "2"]
    assert main([*argv, "--json", str(out)]) == 0
    m = json.loads(out.read_text())["metrics"]
    assert m["bpd_n"] == 6 and np.isfinite(m["bpd"]) and m["bpd"] > 0
    assert m["nll"] == pytest.approx(m["bpd"] * 64 * np.log(2) - 64 * np.log(128))
