"""ControlNet: at initialisation the controlled U-Net is the base exactly; only the copy
trains on a frozen base loaded with train.init_from; samples follow a given control."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.checkpoint import load_tensors
from genlab.cli import main
from genlab.errors import ConfigError
from genlab.models import build_model
from genlab.models.configs import ControlNetConfig
from genlab.models.unet import UNet
from genlab.recipes.diffusion import controlnet
from genlab.runs import control_cond, draw, fit, load_model, override, sampler_config

CFG = dict(channels=16, channel_mult=(1, 2), num_res_blocks=1, attn_levels=(1,), image_size=8)


def _pair(num_classes: int = 10):
    torch.manual_seed(0)
    cfg = ControlNetConfig(**CFG, num_classes=num_classes)
    base = UNet(cfg)
    with torch.no_grad():  # a "trained" base: no zero output layer
        for p in base.parameters():
            p.normal_(0, 0.2)
    net = build_model(cfg)
    net.load_state_dict(base.state_dict(), strict=False)
    net.copy_base_()
    return base, net


def test_at_initialisation_the_controlled_unet_is_the_base_exactly():
    base, net = _pair()
    x, t = torch.randn(4, 1, 8, 8), torch.rand(4)
    cond = {"class": torch.tensor([0, 3, 10, 7])}  # 10: the null class
    y = base(x, t, cond)
    assert y.abs().mean() > 0.1
    assert torch.equal(net(x, t, {**cond, "control": torch.randn(4, 1, 8, 8)}), y)
    with torch.no_grad():  # a trained ControlNet changes the output; scale 0 removes it
        for p in net.controlnet.parameters():
            p.add_(0.05)
    assert not torch.equal(net(x, t, {**cond, "control": torch.randn(4, 1, 8, 8)}), y)
    net.conditioning_scale = 0.0
    assert torch.equal(net(x, t, {**cond, "control": torch.randn(4, 1, 8, 8)}), y)


def test_only_the_copy_trains_and_it_starts_from_the_base():
    base, net = _pair()
    train = {n for n, p in net.named_parameters() if p.requires_grad}
    assert train and all(n.startswith("controlnet.") for n in train)
    state = base.state_dict()
    for k, v in net.controlnet.encoder.state_dict().items():
        assert torch.equal(v, state[k]), k
    with pytest.raises(KeyError, match="control"):
        net(torch.randn(1, 1, 8, 8), torch.rand(1), {})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("controlnet")
    tiny = [
        "train.steps=3",
        "train.batch_size=16",
        "train.sample_every=0",
        "train.ckpt_every=3",
        "train.num_samples=10",
        "train.tensorboard=false",
        "sampler.steps=4",
        "model.channels=16",
        "model.channel_mult=[1]",
        "model.attn_levels=[]",
    ]
    assert main(["train", "rf-digits", *tiny, "--out", str(d / "base")]) == 0
    exp = override(controlnet("digits"), [*tiny, f"train.init_from={d / 'base'}"])
    fit(exp, d / "cn")
    return d


def test_training_moves_the_copy_and_leaves_the_base(runs):
    base = load_tensors(runs / "base" / "ema.safetensors")
    trained = load_tensors(runs / "cn" / "model.safetensors")
    assert all(torch.equal(trained[k], v) for k, v in base.items())  # frozen, exactly
    assert trained["controlnet.zero_mid.weight"].abs().sum() > 0  # left zero: it learned


def test_samples_follow_held_out_or_given_controls(runs, tmp_path):
    exp, model = load_model(runs / "cn")
    scfg = sampler_config(exp)
    x = draw(model, exp, [0, 1, 2], {}, scfg)
    assert torch.equal(draw(model, exp, [1, 2], {}, scfg), x[1:])  # seed alone decides
    ctrl = tmp_path / "c.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(ctrl)
    out = tmp_path / "s.png"
    assert (
        main(["sample", str(runs / "cn"), "--n", "2", "--control", str(ctrl), "--out", str(out)])
        == 0
    )
    assert out.is_file()


def test_bad_control_input_is_one_clear_error(runs, tmp_path, capsys):
    ctrl = tmp_path / "c.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(ctrl)
    out = tmp_path / "s.png"
    assert main(["sample", str(runs / "base"), "--control", str(ctrl), "--out", str(out)]) == 2
    assert "is not a ControlNet run" in capsys.readouterr().err
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(ctrl)
    assert main(["sample", str(runs / "cn"), "--control", str(ctrl), "--out", str(out)]) == 2
    assert "the image is 8x9 pixels" in capsys.readouterr().err
    assert not out.exists()


def test_a_controlnet_needs_a_base(tmp_path):
    exp = override(controlnet("digits"), ["train.init_from=", "train.steps=1"])
    with pytest.raises(ConfigError, match="train.init_from: a ControlNet steers a trained base"):
        fit(exp, tmp_path / "run")


def test_a_controlnet_or_lora_run_is_no_base(runs, tmp_path):
    exp = override(controlnet("digits"), [f"train.init_from={runs / 'cn'}", "train.steps=1"])
    with pytest.raises(ConfigError, match="is a ControlNet run; name the base U-Net run"):
        fit(exp, tmp_path / "run")


def test_edit_follows_the_inputs_own_control_and_refuses_extend(runs, tmp_path, capsys):
    picture = tmp_path / "in.png"
    assert main(["sample", str(runs / "base"), "--n", "1", "--out", str(picture)]) == 0
    out = tmp_path / "out.png"
    edit = ["edit", str(runs / "cn"), "--image", str(picture), "--out", str(out)]
    assert main([*edit, "--strength", "0.5", "--n", "2"]) == 0 and out.is_file()
    assert main([*edit, "--extend", "left=2"]) == 2
    assert "is a ControlNet run, whose control has the image's size" in capsys.readouterr().err


def test_eval_reads_the_given_control(runs, tmp_path, capsys):
    bad = tmp_path / "c.png"
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(bad)
    args = ["eval", str(runs / "cn"), "--n", "4", "--metrics", "fid", "--control", str(bad)]
    args += ["--extractor", "inception-random"]
    assert main(args) == 2
    assert "the image is 8x9 pixels" in capsys.readouterr().err


def test_colourless_controls_and_classes_the_data_leaves_out(tmp_path):
    """A shapes ControlNet reads one-channel controls; a class with no held-out image (a
    colour the data excludes) follows any image, in the training preview and sampling."""
    tiny = [
        "train.steps=2",
        "train.batch_size=8",
        "train.sample_every=0",
        "train.ckpt_every=2",
        "train.num_samples=6",
        "train.tensorboard=false",
        "train.warmup_steps=0",
        "sampler.steps=2",
        "data.n=32",
        "data.image_size=8",
        "model.image_size=8",
        "model.channels=16",
        "model.channel_mult=[1]",
        "model.attn_levels=[]",
        "data.exclude=cyan",
    ]
    assert main(["train", "rf-shapes", *tiny, "--out", str(tmp_path / "base")]) == 0
    exp = override(
        controlnet("shapes", "position"), [*tiny, f"train.init_from={tmp_path / 'base'}"]
    )
    assert exp.model.control_channels == 1
    fit(exp, tmp_path / "cn")  # its preview draws every class, cyan (5) too
    exp, model = load_model(tmp_path / "cn")
    x = draw(model, exp, [0, 1], {"class": torch.tensor([5, 0])}, sampler_config(exp))
    assert x.shape == (2, 3, 8, 8)
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[2:5, 2:5, 1] = 255  # a green square: its brightness is the control
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    grey = np.zeros((8, 8), np.uint8)
    grey[2:5, 2:5] = 255
    Image.fromarray(grey).save(tmp_path / "grey.png")
    c_rgb = control_cond(exp, tmp_path / "rgb.png", 2, tmp_path / "cn")
    assert c_rgb.shape == (2, 1, 8, 8)
    assert torch.equal(c_rgb, control_cond(exp, tmp_path / "grey.png", 2, tmp_path / "cn"))
    with pytest.raises(ConfigError, match="model.control_channels: must be 0"):
        override(exp, ["model.control_channels=2"])
