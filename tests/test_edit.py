"""`genlab edit` end to end on a tiny rectified-flow run: inpainting keeps the known pixels
of the file exactly, SDEdit at strength 1 writes the same picture as `genlab sample`,
outpainting grows the canvas around the original, and every bad input is one error line,
exit 2, with the input files untouched and nothing written."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from genlab.cli import main

TINY = [
    "train.steps=2",
    "train.batch_size=8",
    "train.sample_every=0",
    "train.num_samples=10",
    "train.ckpt_every=2",
    "train.tensorboard=false",
    "sampler.steps=4",
    "model.channels=16",
    "model.channel_mult=[1]",
    "model.attn_levels=[]",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("edit")
    run = d / "run"
    assert main(["train", "rf-digits", *TINY, "--out", str(run)]) == 0
    assert main(["sample", str(run), "--n", "1", "--class", "3", "--out", str(d / "x.png")]) == 0
    m = np.zeros((8, 8), np.uint8)
    m[:, 4:] = 255
    Image.fromarray(m).save(d / "mask.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(d / "black.png")
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(d / "tall.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / "rgb.png")
    (d / "junk.png").write_bytes(b"not a picture")
    return d, run


def pixels(path):
    return np.asarray(Image.open(path))


def test_sample_n1_writes_the_image_at_its_own_size(files):
    d, _ = files
    im = Image.open(d / "x.png")
    assert im.size == (8, 8) and im.mode == "L"


def test_inpaint_keeps_known_pixels_and_regenerates_the_mask(files, capsys):
    d, run = files
    out = d / "inpainted.png"
    args = ["edit", str(run), "--image", str(d / "x.png"), "--mask", str(d / "mask.png")]
    assert main([*args, "--class", "3", "--out", str(out)]) == 0
    x, y = pixels(d / "x.png"), pixels(out)
    assert y.shape == (8, 8)
    assert np.array_equal(y[:, :4], x[:, :4])
    assert not np.array_equal(y[:, 4:], x[:, 4:])
    assert "32 pixels regenerated" in capsys.readouterr().out
    # RePaint resampling with a stochastic sampler keeps them too
    out2 = d / "repaint.png"
    extra = ["--resample", "3", "--jump-length", "2", "--sampler", "ddpm", "--out", str(out2)]
    assert main([*args, "--class", "3", *extra]) == 0
    assert np.array_equal(pixels(out2)[:, :4], x[:, :4])
    # a class-conditional run without --class edits with its null class (cond_drop > 0);
    # a guidance weight of 0 is no guidance, so it is accepted there
    assert main([*args, "--out", str(d / "null.png")]) == 0
    assert main([*args, "--cfg", "0", "--out", str(d / "null0.png")]) == 0
    assert np.array_equal(pixels(d / "null.png"), pixels(d / "null0.png"))


def test_sdedit_at_strength_one_equals_sample(files):
    d, run = files
    a, b = d / "sd1.png", d / "plain.png"
    common = ["--seed", "7", "--class", "5"]
    args = ["edit", str(run), "--image", str(d / "x.png"), "--strength", "1", *common]
    assert main([*args, "--out", str(a)]) == 0
    assert main(["sample", str(run), "--n", "1", *common, "--out", str(b)]) == 0
    assert np.array_equal(pixels(a), pixels(b))
    # lower strengths stay closer to the input
    x = pixels(d / "x.png").astype(float)
    dist = {}
    for s in ("0.25", "1"):
        out = d / f"sd{s}.png"
        assert main([*args[:-6], "--strength", s, *common, "--out", str(out)]) == 0
        dist[s] = np.abs(pixels(out) - x).mean()
    assert dist["0.25"] < dist["1"]


def test_outpaint_grows_the_canvas_around_the_original(files):
    d, run = files
    out = d / "out.png"
    args = ["edit", str(run), "--image", str(d / "x.png"), "--extend", "left=4,bottom=2"]
    assert main([*args, "--class", "3", "--n", "1", "--out", str(out)]) == 0
    y = pixels(out)
    assert y.shape == (10, 12)
    assert np.array_equal(y[:8, 4:], pixels(d / "x.png"))


def test_n_edits_write_one_row(files):
    d, run = files
    out = d / "row.png"
    args = ["edit", str(run), "--image", str(d / "x.png"), "--mask", str(d / "mask.png")]
    assert main([*args, "--class", "3", "--n", "3", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > Image.open(out).size[1]


BAD = [
    (["--image", "tall.png", "--strength", "0.5"], "tall.png: the image is 8x9 pixels"),
    (["--image", "rgb.png", "--strength", "0.5"], "rgb.png: the image has 3 channel(s)"),
    (["--image", "missing.png", "--strength", "0.5"], "missing.png: image not found"),
    (["--image", "junk.png", "--strength", "0.5"], "junk.png: cannot read the image"),
    (["--mask", "tall.png"], "tall.png: the mask is 8x9 pixels"),
    (["--mask", "black.png"], "black.png: the mask has no white pixel"),
    (["--mask", "nomask.png"], "nomask.png: mask not found"),
    (["--strength", "0"], "--strength: must be in (0, 1], got 0.0"),
    (["--strength", "1.5"], "--strength: must be in (0, 1], got 1.5"),
    (["--strength", "0.1"], "--strength: strength 0.1 runs no step of a 4-step grid"),
    (["--mask", "mask.png", "--extend", "left=2"], "--mask and --extend: give one"),
    (["--extend", "up=2"], "--extend: unknown side 'up'"),
    (["--extend", "left=x"], "--extend: left='x' is not a whole number"),
    (["--extend", "left=0"], "--extend: give at least one side"),
    (["--extend", "left=2", "--strength", "0.5"], "--strength: outpainting generates"),
    ([], "give --mask (inpaint), --extend (outpaint) or --strength"),
    (["--strength", "0.5", "--prompt", "a red circle"], "--prompt: "),
    (["--strength", "0.5", "--class", "12"], "--class: 12 is out of range"),
    (["--strength", "0.5", "--cfg", "2"], "--cfg: guidance needs a class"),
    (["--strength", "0.5", "--out", "x.png"], "--out: x.png is the --image file"),
    (["--strength", "0.5", "--out", "x.gif"], "--out: x.gif is not a .png picture"),
    (["--strength", "0.5", "--out", "y.jpg"], "--out: y.jpg: JPEG is lossy"),
    (["--strength", "0.5", "--out", "adir.png"], "adir.png is a folder; give a file name"),
    (["--extend", "left=33"], "--extend: left=33 is more than 4 x the image's 8 pixels"),
    (["--extend", "left=2_0"], "--extend: left='2_0' is not a whole number"),
    (["--mask", "mask.png", "--steps", "1"], "--steps: 1 step from t = 1 cannot inpaint"),
    (["--mask", "mask.png", "--resample", "2", "--jump-length", "5"], "--jump-length: jump_"),
    (["--mask", "mask.png", "--resample", "0"], "--resample: must be at least 1"),
    (["--mask", "mask.png", "--jump-length", "5"], "--jump-length: it sets RePaint's"),
    (["--mask", "mask.png", "--resample", "2"], "(10 is the default; set --jump-length)"),
    (["--strength", "0.5", "--resample", "2"], "--resample: RePaint resamples around known"),
    (["--image", "adir.png", "--strength", "0.5"], "adir.png: the image is a folder"),
    (["--strength", "0.5", "--out", "x.png/o.png"], "(x.png is a file, not a folder)"),
    (["--strength", "0.5", "--control", "black.png", "--out", "black.png"], "the --control file"),
]


@pytest.mark.parametrize("extra,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_is_one_error_line(files, capsys, monkeypatch, extra, message):
    d, run = files
    monkeypatch.chdir(d)
    (d / "adir.png").mkdir(exist_ok=True)
    before = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.iterdir() if p.is_file()
    }
    args = ["edit", str(run)]
    if "--image" not in extra:
        args += ["--image", "x.png"]
    if "--out" not in extra:
        args += ["--out", "result.png"]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genlab: error: ") and message in err[0], err
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.iterdir() if p.is_file()}
    assert after == before  # inputs untouched, nothing written


def test_sample_never_overwrites_its_control_file(files, capsys):
    d, run = files
    before = (d / "black.png").read_bytes()
    out = ["--control", str(d / "black.png"), "--out", str(d / "black.png")]
    assert main(["sample", str(run), "--n", "1", *out]) == 2
    assert "is the --control file" in capsys.readouterr().err
    assert (d / "black.png").read_bytes() == before


@pytest.mark.parametrize("extra", [["--strength", "x"], ["--class", "red"], ["--bogus"]])
def test_a_malformed_option_is_one_error_line(files, capsys, extra):
    d, run = files
    with pytest.raises(SystemExit) as e:
        main(["edit", str(run), "--image", str(d / "x.png"), "--out", str(d / "o.png"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and ": error: " in err[0], err
    assert not (d / "o.png").exists()


def test_the_mask_is_read_upright_as_the_image(tmp_path):
    from genlab.edit import read_mask

    m = np.zeros((4, 6), np.uint8)
    m[:, :2] = 255  # stored: the two left columns
    im = Image.fromarray(m)
    exif = im.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    im.save(tmp_path / "m.png", exif=exif)
    upright = read_mask(tmp_path / "m.png", (6, 4))[0, 0]  # (H, W) = (6, 4) once turned
    assert upright.shape == (6, 4)
    assert upright[:2].all() and not upright[2:].any()  # the left columns are now the top rows


def test_a_run_that_cannot_edit_is_refused(tmp_path, capsys):
    run = tmp_path / "gan"
    ov = ["train.steps=1", "train.batch_size=8", "train.sample_every=0", "train.ckpt_every=1"]
    assert main(["train", "dcgan-digits", *ov, "train.tensorboard=false", "--out", str(run)]) == 0
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "x.png")
    args = ["edit", str(run), "--image", str(tmp_path / "x.png"), "--strength", "0.5"]
    assert main([*args, "--out", str(tmp_path / "y.png")]) == 2
    assert "editing needs a diffusion or flow run" in capsys.readouterr().err
    # the run is refused first, not the output's suffix (a user of a video run asks for .gif)
    assert main([*args, "--out", str(tmp_path / "y.gif")]) == 2
    assert "editing needs a diffusion or flow run" in capsys.readouterr().err


def test_a_trained_inpainting_run_reads_the_mask(tmp_path):
    """inpaint-digits trains with random masks; editing gives its network the mask and
    the masked image (and no replacement), and the known pixels are still exact."""
    import torch

    from genlab.families import family_of
    from genlab.runs import load_model, sampler_config

    run = tmp_path / "inpaint"
    assert main(["train", "inpaint-digits", *TINY, "--out", str(run)]) == 0
    exp, model = load_model(run)
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(sorted(args[2])))
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 4:, :] = 1
    scfg = sampler_config(exp, [], cfg=0.0)
    cond = {"class": torch.tensor([3, 4])}
    y = family_of(exp.objective.kind).edit(model, exp, [0, 1], cond, scfg, x, mask)
    assert torch.equal(y[..., :4, :], x[..., :4, :])
    assert seen and all(keys == ["class", "image", "mask"] for keys in seen)
    m = np.zeros((8, 8), np.uint8)
    m[4:] = 255
    Image.fromarray(m).save(tmp_path / "mask.png")
    Image.fromarray(((x[0, 0].numpy() + 1) * 127.5).round().astype(np.uint8)).save(
        tmp_path / "x.png"
    )
    out = tmp_path / "y.png"
    args = [
        "edit",
        str(run),
        "--image",
        str(tmp_path / "x.png"),
        "--mask",
        str(tmp_path / "mask.png"),
    ]
    assert main([*args, "--class", "3", "--cfg", "1", "--out", str(out)]) == 0
    assert np.array_equal(pixels(out)[:4], pixels(tmp_path / "x.png")[:4])


def test_init_from_warm_starts_an_inpainting_model_from_its_base(files, tmp_path, capsys):
    """train.init_from loads the base run's EMA weights; the zero-initialised inpainting
    input is new, so before any step the inpainting model is exactly the base model."""
    import torch

    from genlab.checkpoint import warm_start
    from genlab.errors import CheckpointError
    from genlab.models import build_model
    from genlab.recipes import get_recipe
    from genlab.runs import load_model, override

    _, run = files
    exp, base = load_model(run)
    inp_exp = override(get_recipe("inpaint-digits"), TINY)
    net = build_model(inp_exp.model)
    assert warm_start(net, run / "ema.safetensors") == ["inp_mask.bias", "inp_mask.weight"]
    x, t = torch.randn(3, 1, 8, 8), torch.rand(3)
    cond = {"class": torch.tensor([1, 2, 3])}
    full = {**cond, "mask": torch.ones(3, 1, 8, 8), "image": torch.randn(3, 1, 8, 8)}
    assert torch.equal(net(x, t, full), base(x, t, cond))
    with pytest.raises(CheckpointError, match="cannot initialise this network from it"):
        warm_start(
            build_model(override(inp_exp, ["model.channels=8"]).model), run / "ema.safetensors"
        )
    out = tmp_path / "ft"
    ov = [*TINY, f"train.init_from={run}"]
    assert main(["train", "inpaint-digits", *ov, "--out", str(out)]) == 0
    assert "new parameters: inp_mask.bias, inp_mask.weight" in capsys.readouterr().out
    ov = [*TINY, f"train.init_from={tmp_path / 'nowhere'}"]
    assert main(["train", "inpaint-digits", *ov, "--out", str(tmp_path / "bad")]) == 2
    assert "nowhere is not a run directory" in capsys.readouterr().err
    ov = [*TINY, f"train.init_from={run}", "objective.target=x0"]  # another objective: a warning
    assert main(["train", "inpaint-digits", *ov, "--out", str(tmp_path / "eps")]) == 0
    assert "another objective (target 'velocity' -> 'x0')" in capsys.readouterr().err
