"""Configurations that cannot give finite numbers are refused at config time; samples are
checked for finiteness before anything is written; the command line treats suffixes,
``sampler.*`` keys, ``--cfg`` and class labels consistently; ``genlab info`` reads."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from conftest import tiny_overrides
from safetensors.torch import load_file, save_file

from genlab.cli import main
from genlab.errors import ConfigError
from genlab.objectives.configs import DenoiseConfig
from genlab.objectives.denoise import loss_weight
from genlab.paths import build_path
from genlab.paths.convert import convert
from genlab.rng import keyed
from genlab.sampling import GRIDS, SAMPLERS, make_grid

TINY = tiny_overrides(4, **{"data.n": 256, "model.hidden": 16, "model.depth": 2})
PATHS, TARGETS = ("linear", "vp", "ddpm", "cosine", "edm"), ("velocity", "eps", "x0", "v")


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def moons(tmp_path_factory):
    run = tmp_path_factory.mktemp("moons") / "run"
    assert main(["train", "rf-moons", *TINY, "--out", str(run)]) == 0
    return run


def test_every_accepted_path_and_target_samples_finitely_with_every_sampler_and_grid():
    """The exact denoiser of N(0.3, 0.7^2) data in each prediction kind: each
    configuration is refused at config time or gives finite samples with every sampler
    and grid (the linear path with eps was NaN everywhere before)."""
    mu, s = 0.3, 0.7
    for pname, kind in itertools.product(PATHS, TARGETS):
        try:
            DenoiseConfig(path=pname, target=kind, precond="none")
        except ConfigError as e:
            assert "objective.target" in str(e) and (pname, kind) == ("linear", "eps")
            continue
        path = build_path(pname)

        def model(x, t, cond, path=path, kind=kind):
            tt = t.double().view(-1, 1)
            a, sg = path.alpha(tt), path.sigma(tt)
            x0 = mu + a * s * s / (a * a * s * s + sg * sg) * (x.double() - a * mu)
            return convert(path, x0, "x0", kind, x.double(), t.double()).float()

        for sname, gname in itertools.product(SAMPLERS, GRIDS):
            grid = make_grid(gname, 6, path)
            gens = [keyed(i) for i in range(8)]
            x = torch.stack([torch.randn(2, generator=g) for g in gens])
            x = x * float(path.sigma(grid[:1]))
            out = SAMPLERS[sname](model, x, grid, path=path, kind=kind, cond={}, generators=gens)
            assert torch.isfinite(out).all(), (pname, kind, sname, gname)


def test_weightings_take_their_limits_at_the_ends_of_the_linear_path():
    path, t = build_path("linear"), torch.tensor([1.0, 0.5], dtype=torch.float64)
    edm = loss_weight(path, t, "edm", 0.5, 5.0, "x0")
    assert edm[0] == pytest.approx(1 / 0.5**2) and torch.isfinite(edm).all()
    assert loss_weight(path, t, "min_snr", 0.5, 5.0, "eps")[0] == 1.0  # min(SNR,g)/SNR -> 1
    assert loss_weight(path, t, "min_snr", 0.5, 5.0, "x0")[0] == 0.0  # min(SNR,g) -> 0
    with pytest.raises(ConfigError, match="objective.weighting: 'edm' is defined for target x0"):
        DenoiseConfig(path="vp", target="eps", weighting="edm")
    with pytest.raises(ConfigError, match="objective.weighting: 'min_snr'"):
        DenoiseConfig(path="vp", target="velocity", weighting="min_snr")


def test_impossible_configs_fail_at_dry_run(capsys):
    code, _, err = cli(capsys, "train", "rf-moons", "objective.target=eps", "--dry-run")
    assert code == 2 and "objective.target" in err and "alpha(1) = 0" in err
    for bad, key in (("sampler.rho=0", "sampler.rho"), ("sampler.cfg=-1", "sampler.cfg"),
                     ("sampler.guidance_lo=0.8", "sampler.guidance_lo")):  # fmt: skip
        code, _, err = cli(capsys, "train", "rf-moons", bad, "sampler.guidance_hi=0.5", "--dry-run")
        assert code == 2 and key in err, err


def test_non_finite_samples_are_one_error_and_no_file(moons, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in moons.iterdir():  # a copy of the run whose EMA weights are NaN
        if f.is_file():
            (bad / f.name).write_bytes(f.read_bytes())
    w = load_file(str(moons / "ema.safetensors"))
    save_file({k: v * float("nan") if v.is_floating_point() else v for k, v in w.items()},
              str(bad / "ema.safetensors"))  # fmt: skip
    code, _, err = cli(capsys, "sample", bad, "--n", "4", "--out", tmp_path / "x.npz")
    assert code == 2 and "non-finite" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()
    np.savez(tmp_path / "nan.npz", x=np.full((20, 2), np.nan, np.float32))
    code, _, err = cli(capsys, "eval", "--real", "moons", "--fake", tmp_path / "nan.npz")
    assert code == 2 and "NaN or Inf" in err and "Traceback" not in err


def test_default_metrics_work_on_moons(moons, capsys):
    code, out, err = cli(capsys, "eval", moons, "--n", "200", "--steps", "2")
    assert code == 0, err
    assert "w1" in out or "w2" in out
    code, _, err = cli(capsys, "eval", moons, "--n", "50", "--metrics", "modes")
    assert code == 2 and "modes: defined for" in err  # refused before sampling


def test_output_suffixes_in_any_case_and_unsupported_ones_refused(moons, tmp_path, capsys):
    for name in ("a.NPZ", "b.Png", "c.JPG"):
        code, _, err = cli(capsys, "sample", moons, "--n", "4", "--steps", "2", "--out",
                           tmp_path / name)  # fmt: skip
        assert code == 0 and (tmp_path / name).is_file(), err
    assert set(np.load(tmp_path / "a.NPZ").files) >= {"x", "seed", "class"}
    code, _, err = cli(capsys, "sample", moons, "--out", tmp_path / "d.tiff")
    assert code == 2 and "--out: unsupported file type '.tiff'" in err
    code, _, err = cli(capsys, "sample", moons, "--out", tmp_path / "d.gif")  # video only
    assert code == 2 and "d.gif is an animation" in err and "makes moons samples" in err
    assert not list(tmp_path.glob("d.*"))


def test_class_of_sample_i_does_not_depend_on_n(moons, tmp_path, capsys):
    for n in (6, 9):
        assert cli(capsys, "sample", moons, "--n", n, "--steps", "2", "--out",
                   tmp_path / f"{n}.npz")[0] == 0  # fmt: skip
    a, b = np.load(tmp_path / "6.npz"), np.load(tmp_path / "9.npz")
    assert np.array_equal(a["class"], b["class"][:6]) and np.array_equal(a["x"], b["x"][:6])
    assert cli(capsys, "sample", moons, "--n", 1, "--seed", 3, "--steps", "2", "--out",
               tmp_path / "s3.npz")[0] == 0  # fmt: skip
    c = np.load(tmp_path / "s3.npz")  # the sample of seed 3 alone: the same class and point
    assert c["class"][0] == a["class"][3] and np.allclose(c["x"][0], a["x"][3], atol=1e-5)


def test_cfg_on_an_unconditional_run_is_an_error_like_class(tmp_path, capsys):
    run = tmp_path / "grid"
    assert main(["train", "rf-grid25", *TINY, "--out", str(run)]) == 0
    assert cli(capsys, "sample", run, "--cfg", "0", "--out", tmp_path / "z.npz")[0] == 0
    code, _, err = cli(capsys, "sample", run, "--cfg", "2", "--out", tmp_path / "x.npz")
    assert code == 2 and "--cfg: this run has no condition" in err
    code, _, err = cli(capsys, "sample", run, "sampler.cfg=2", "--out", tmp_path / "x.npz")
    assert code == 2 and "--cfg" in err
    code, _, err = cli(capsys, "sample", run, "--class", "1", "--out", tmp_path / "x.npz")
    assert code == 2 and "--class" in err


def test_sampler_keys_with_the_section_prefix_and_threads(moons, tmp_path, capsys):
    code, _, err = cli(capsys, "sample", moons, "sampler.steps=2", "--threads", "1", "--n", "3",
                       "--out", tmp_path / "x.npz")  # fmt: skip
    assert code == 0, err
    code, _, err = cli(capsys, "sample", moons, "sampler.stepz=2", "--out", tmp_path / "y.npz")
    assert code == 2 and "sampler.stepz" in err and "sampler.steps" in err
    code, _, err = cli(capsys, "sample", moons, "train.steps=2", "--out", tmp_path / "y.npz")
    assert code == 2 and "only sampler.* settings" in err
    code, _, err = cli(capsys, "sample", moons, "sampler.steps=2", "--steps", "3")
    assert code == 2 and "given both" in err


def test_bad_devices_and_failed_starts_leave_nothing(tmp_path, capsys):
    code, _, err = cli(
        capsys, "train", "rf-moons", *TINY, "train.device=foo", "--out", tmp_path / "a"
    )
    assert code == 2 and "train.device" in err and not (tmp_path / "a").exists()
    if not torch.cuda.is_available():
        code, _, err = cli(capsys, "train", "rf-moons", *TINY, "train.device=cuda", "--out",
                           tmp_path / "b")  # fmt: skip
        assert code == 2 and "no CUDA device" in err and not (tmp_path / "b").exists()
    code, _, err = cli(capsys, "train", "rf-moons", *TINY, "train.lr=nan", "--out", tmp_path / "c")
    assert code == 2 and "train.lr" in err and not (tmp_path / "c").exists()


def test_info_is_readable_text_and_json(moons, capsys):
    code, out, _ = cli(capsys, "info", moons)
    assert code == 0 and "rf-moons" in out and "parameters" in out and "{" not in out
    code, out, _ = cli(capsys, "info", moons, "--json")
    assert code == 0 and out.lstrip().startswith("{")


def test_eval_refuses_too_few_samples_and_files_that_are_not_npz(moons, tmp_path, capsys):
    code, _, err = cli(capsys, "eval", moons, "--n", "1")
    assert code == 2 and "--n:" in err and "at least 2" in err
    (tmp_path / "img.npz").write_bytes(b"\x89PNG\r\n\x1a\n not an archive")
    code, _, err = cli(capsys, "eval", "--real", "moons", "--fake", tmp_path / "img.npz")
    assert code == 2 and "not an .npz archive" in err and "pickle" not in err
    np.savez(tmp_path / "one.npz", x=np.zeros((1, 2), np.float32))
    code, _, err = cli(capsys, "eval", "--real", "moons", "--fake", tmp_path / "one.npz")
    assert code == 2 and "holds 1 sample(s)" in err


def test_a_setting_of_another_sampler_or_grid_is_refused_not_ignored(moons, tmp_path, capsys):
    out = tmp_path / "x.npz"
    for argv, key in (
        (["--sampler", "euler", "sampler.churn=0.5"], "sampler.churn"),
        (["--sampler", "dpmpp_2m", "eta=1"], "sampler.eta"),
        (["sampler.rho=3"], "sampler.rho"),  # the run's grid is uniform
        (["sampler.grid=karras", "sampler.shift=2"], "sampler.shift"),
    ):
        code, _, err = cli(capsys, "sample", moons, "--n", "4", "--out", out, *argv)
        assert code == 2 and err.count("\n") == 1 and f"{key}:" in err and "only" in err
        assert not out.exists()
    code, _, err = cli(capsys, "sample", moons, "--n", "4", "--steps", "2", "--out", out,
                       "--sampler", "heun", "sampler.churn=0.5", "sampler.grid=karras",
                       "sampler.rho=3")  # fmt: skip
    assert code == 0, err


def test_switching_sampler_or_grid_drops_the_stored_settings_of_the_old_one():
    from genlab.recipes import get_recipe
    from genlab.runs import sampler_config
    from genlab.sampling.configs import DiffusionSamplerConfig

    exp = get_recipe("rf-moons", ["sampler.name=heun", "sampler.churn=0.5",
                                  "sampler.grid=karras", "sampler.rho=3"])  # fmt: skip
    s = sampler_config(exp, [], name="euler")  # stored with the run, not given now: dropped
    assert (s.name, s.churn, s.rho) == ("euler", 0.0, 3.0)
    s = sampler_config(exp, ["grid=uniform"], name="ddim")
    assert (s.churn, s.rho, s.grid) == (0.0, 7.0, "uniform")
    assert sampler_config(exp, []).churn == 0.5  # same sampler: kept
    with pytest.raises(ConfigError, match="sampler.churn: 0.3 applies to the heun sampler"):
        sampler_config(exp, ["sampler.churn=0.3"], name="euler")  # given now: refused
    with pytest.raises(ConfigError, match="sampler.churn"):
        DiffusionSamplerConfig(name="heun", churn=float("nan"))
    # a recipe's own settings do the same when training switches its sampler
    t2i = get_recipe("t2i-shapes", ["sampler.name=dpmpp_2m"])  # the recipe: heun, churn 10
    assert (t2i.sampler.name, t2i.sampler.churn) == ("dpmpp_2m", 0.0)
    assert get_recipe("t2i-shapes", ["sampler.steps=20"]).sampler.churn == 10.0
    with pytest.raises(ConfigError, match="sampler.churn: 5.0 applies to the heun sampler"):
        get_recipe("t2i-shapes", ["sampler.name=dpmpp_2m", "sampler.churn=5"])


def test_truncated_npz_is_one_clear_error(moons, tmp_path, capsys):
    np.savez(tmp_path / "ok.npz", x=np.zeros((50, 2), np.float32))
    (tmp_path / "cut.npz").write_bytes((tmp_path / "ok.npz").read_bytes()[:100])
    code, _, err = cli(capsys, "eval", "--real", "moons", "--fake", tmp_path / "cut.npz")
    assert code == 2 and "not a readable .npz" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "over",
    ["data.test_fraction=2", "data.n=0", "data.std=-1", "data.name=spiral data.arms=0",
     "data.name=checkerboard data.squares=1", "data.name=circles data.factor=1"],
)  # fmt: skip
def test_data_settings_are_checked_at_dry_run(over, capsys):
    recipe = "rf-digits" if "test_fraction" in over else "rf-moons"
    code, _, err = cli(capsys, "train", recipe, *over.split(), "--dry-run")
    key = over.split()[-1].split("=")[0]
    assert code == 2 and err.startswith(f"genlab: error: {key}: must be")


def test_resume_dry_run_answers_as_the_resume_would(moons, capsys):
    for over, why in (("sampler.steps=7", "only train.*"), ("train.steps=1", "is below")):
        code, _, err = cli(capsys, "train", "rf-moons", "--out", moons, "--resume", over,
                           "--dry-run")  # fmt: skip
        assert code == 2 and why in err
