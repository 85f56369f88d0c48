"""The `genlab` command: a tiny train-then-sample, listings, and bad input.

Every user error must end with one line naming the thing and what is wrong, exit
status 2, no traceback, and nothing in an existing run directory changed.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_overrides

from genlab.cli import main

TINY = tiny_overrides(6, **{"data.n": 256, "model.hidden": 16, "model.depth": 2})


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def assert_user_error(code: int, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("genlab: error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One trained class-conditional moons run shared by the read-only tests below."""
    out = tmp_path_factory.mktemp("cli") / "moons"
    assert main(["train", "rf-moons", *TINY, "--out", str(out)]) == 0
    return out


# ----------------------------------------------------------------------- happy paths


def test_train_then_sample_png_and_npz(tiny_run, tmp_path, capsys):
    for name in ("config.yaml", "model.safetensors", "ema.safetensors", "metrics.jsonl"):
        assert (tiny_run / name).is_file(), name
    assert (tiny_run / "state" / "trainer.json").is_file()
    code, out, _ = run_cli(capsys, "sample", tiny_run, "--n", 10, "--out", tmp_path / "s.npz")
    assert code == 0 and "wrote 10 samples" in out
    z = np.load(tmp_path / "s.npz")
    assert z["x"].shape == (10, 2) and np.isfinite(z["x"]).all()
    assert list(z["seed"]) == list(range(10)) and set(z["class"]) == {0, 1}
    # Sample i depends only on seed i: the same seeds inside a different batch agree.
    code, *_ = run_cli(
        capsys, "sample", tiny_run, "--n", 4, "--class", 1, "--out", tmp_path / "a.npz"
    )
    code, *_ = run_cli(
        capsys, "sample", tiny_run, "--n", 2, "--class", 1, "--out", tmp_path / "b.npz"
    )
    a, b = np.load(tmp_path / "a.npz")["x"], np.load(tmp_path / "b.npz")["x"]
    np.testing.assert_allclose(a[:2], b, rtol=1e-5, atol=1e-6)
    code, *_ = run_cli(capsys, "sample", tiny_run, "--n", 8, "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").stat().st_size > 0


def test_info_and_list_json(tiny_run, capsys):
    code, out, _ = run_cli(capsys, "info", tiny_run, "--json")
    info = json.loads(out)
    assert code == 0 and info["recipe"] == "rf-moons" and info["step"] == 6
    assert info["parameters"] > 0 and info["last_metrics"]["step"] == 6
    code, out, _ = run_cli(capsys, "list", "recipes", "--json")
    names = {r["name"] for r in json.loads(out)}
    assert code == 0 and {"demo", "rf-moons", "rf-digits"} <= names
    code, out, _ = run_cli(capsys, "list", "--json")
    assert set(json.loads(out)) == {"recipes", "datasets", "models", "samplers", "metrics"}


def test_dry_run_prints_resolved_config_and_writes_nothing(tmp_path, capsys):
    out_dir = tmp_path / "never"
    code, out, _ = run_cli(
        capsys, "train", "rf-moons", "train.steps=7", "--dry-run", "--out", out_dir
    )
    assert code == 0 and "steps: 7" in out and "recipe: rf-moons" in out
    assert not out_dir.exists()


@pytest.mark.parametrize("command", ["list", "train", "sample", "info"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0 and "usage: genlab" in capsys.readouterr().out


# ------------------------------------------------------------------------- bad input


def test_unknown_recipe_suggests_nearest(capsys):
    assert_user_error(*run_cli(capsys, "train", "rf-moonz")[::2], "rf-moonz", "rf-moons")


def test_mistyped_and_mistyped_value_overrides(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "rf-moons", "train.step=3", "--out", tmp_path / "r")
    assert_user_error(code, err, "train.step", "train.steps")
    code, _, err = run_cli(capsys, "train", "rf-moons", "train.lr=fast", "--out", tmp_path / "r")
    assert_user_error(code, err, "train.lr", "fast")
    assert not (tmp_path / "r").exists()


def test_missing_data_directory(tmp_path, capsys):
    missing = tmp_path / "no-mnist"
    code, _, err = run_cli(
        capsys,
        "train",
        "rf-digits",
        "data.name=mnist",
        f"data.root={missing}",
        "--out",
        tmp_path / "r",
    )
    assert_user_error(code, err, str(missing))


@pytest.mark.parametrize("damage", ["truncated", "wrong magic"])
def test_bad_idx_file(tmp_path, capsys, damage):
    root = tmp_path / "mnist"
    root.mkdir()
    n = 4
    images = bytes([0, 0, 8, 3]) + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    images += bytes(n * 28 * 28)
    labels = bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + bytes(n)
    if damage == "truncated":
        images = images[:-100]
    else:
        images = bytes([0, 0, 9, 9]) + images[4:]
    (root / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
    (root / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    code, _, err = run_cli(
        capsys,
        "train",
        "rf-digits",
        "data.name=mnist",
        f"data.root={root}",
        "--out",
        tmp_path / "r",
    )
    assert_user_error(code, err, "train-images-idx3-ubyte.gz")


def test_resume_of_a_missing_run(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "rf-moons", "--resume", "--out", tmp_path / "nope")
    assert_user_error(code, err, "nope")


def test_existing_run_is_never_overwritten(tiny_run, capsys):
    before = snapshot(tiny_run)
    code, _, err = run_cli(capsys, "train", "rf-moons", *TINY, "--out", tiny_run)
    assert_user_error(code, err, str(tiny_run), "--resume")
    # Resuming may only change train.* settings.
    code, _, err = run_cli(
        capsys, "train", "rf-moons", "model.hidden=64", "--resume", "--out", tiny_run
    )
    assert_user_error(code, err, "model.hidden")
    assert snapshot(tiny_run) == before


def test_corrupt_and_mismatched_checkpoints(tiny_run, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_run, bad, symlinks=True)
    (bad / "ema.safetensors").unlink()  # a hard link: replace it, do not write through it
    (bad / "ema.safetensors").write_bytes(b"not a safetensors file")
    code, _, err = run_cli(capsys, "sample", bad, "--n", 2, "--out", tmp_path / "x.npz")
    assert_user_error(code, err, "ema.safetensors")
    assert not (tmp_path / "x.npz").exists()

    other = tmp_path / "other"
    shutil.copytree(tiny_run, other, symlinks=True)
    cfg = (other / "config.yaml").read_text()
    (other / "config.yaml").write_text(cfg.replace("hidden: 16", "hidden: 24"))
    code, _, err = run_cli(capsys, "sample", other, "--n", 2, "--out", tmp_path / "y.npz")
    assert_user_error(code, err, "safetensors", "shape")


def test_sample_bad_flags(tiny_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", tiny_run, "--class", 5, "--out", tmp_path / "a.png")
    assert_user_error(code, err, "--class", "0..1")
    code, _, err = run_cli(capsys, "sample", tiny_run, "--sampler", "eulr")
    assert_user_error(code, err, "sampler.name", "eulr")
    code, _, err = run_cli(capsys, "sample", tiny_run, "--out", tmp_path / "a.gif")
    assert_user_error(code, err, "--out", ".gif")
    code, _, err = run_cli(capsys, "sample", tmp_path / "nothing")
    assert_user_error(code, err, "nothing")


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tiny_run, tmp_path, capsys):
    """An output under a file, or a folder given as the output file, is one line before
    anything is sampled or evaluated (not a traceback after minutes of work)."""
    (tmp_path / "f").write_text("a file")
    code, _, err = run_cli(capsys, "sample", tiny_run, "--out", tmp_path / "f" / "a.png")
    assert_user_error(code, err, "--out", "f is a file, not a folder")
    code, _, err = run_cli(capsys, "sample", tiny_run, "--out", tmp_path)
    assert_user_error(code, err, "--out", "is a folder; give a file name")
    code, _, err = run_cli(capsys, "eval", tiny_run, "--json", tmp_path / "f" / "sub" / "r.json")
    assert_user_error(code, err, "--json", "f is a file, not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # nothing written


def test_errors_have_no_traceback_and_exit_2_from_the_shell(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "genlab", "train", "nope-recipe", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "nope-recipe" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "genlab", "--debug", "train", "nope-recipe"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_python_api_matches_the_command_line(tiny_run, tmp_path, capsys):
    """`from genlab import fit, sample` (the README's example) gives what the CLI gives."""
    import genlab
    from genlab.recipes import get_recipe
    from genlab.runs import override

    run = genlab.fit(override(get_recipe("rf-moons"), TINY), tmp_path / "api")
    x = genlab.sample(run, n=6, seed=3, steps=4)
    code, *_ = run_cli(
        capsys, "sample", tiny_run, "--n", 6, "--seed", 3, "--out", tmp_path / "c.npz"
    )
    np.testing.assert_allclose(x.numpy(), np.load(tmp_path / "c.npz")["x"], rtol=1e-5, atol=1e-6)
