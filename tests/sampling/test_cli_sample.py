"""End to end through the CLI, for each objective family (rf, ddpm, edm, dit): a tiny
run trains, then `genlab sample RUN --sampler dpmpp_2m --steps 10 --cfg 2 --class 7`
writes finite class-7 samples; sampling is reproducible per seed."""

import numpy as np
import pytest

from genlab.cli import main

TINY = {
    "rf-digits": ["model.channels=16", "model.channel_mult=[1]", "model.attn_levels=[]"],
    "ddpm-digits": ["model.channels=16", "model.channel_mult=[1]", "model.attn_levels=[]"],
    "edm-digits": ["model.channels=16", "model.channel_mult=[1]", "model.attn_levels=[]"],
    "dit-digits": ["model.hidden=32", "model.depth=1", "model.heads=2"],
}


@pytest.mark.parametrize("recipe", sorted(TINY))
def test_train_then_sample_dpmpp_2m_with_cfg(recipe, tmp_path):
    run = tmp_path / "run"
    ov = [
        "train.steps=2",
        "train.batch_size=8",
        "train.sample_every=0",
        "train.num_samples=10",
        "train.ckpt_every=2",
        "train.tensorboard=false",
        "sampler.steps=2",
        *TINY[recipe],
    ]
    assert main(["train", recipe, *ov, "--out", str(run)]) == 0
    outs = []
    for name, n in (("a.npz", 3), ("b.npz", 1)):
        out = tmp_path / name
        args = ["sample", str(run), "--sampler", "dpmpp_2m", "--steps", "10", "--cfg", "2"]
        assert main([*args, "--class", "7", "--n", str(n), "--out", str(out)]) == 0
        outs.append(np.load(out))
    a, b = outs
    assert a["x"].shape == (3, 1, 8, 8) and np.isfinite(a["x"]).all()
    assert (a["class"] == 7).all()
    np.testing.assert_allclose(a["x"][0], b["x"][0], rtol=1e-5, atol=1e-5)  # seed 0 alone
