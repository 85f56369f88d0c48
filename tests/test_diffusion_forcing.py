"""Diffusion forcing (Chen et al. 2024): one noise level per frame. The video DiT reads
per-frame times (the same network as with one time a clip), the loss draws one time per
temporal patch, and prediction and rollout give the known frames by their time; bad
settings are one error line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cli import assert_user_error, run_cli
from test_video_cli import FRAMES, TINY_VIDEO

from genlab.cli import main
from genlab.errors import ConfigError
from genlab.models.configs import DiTConfig
from genlab.models.dit import DiT
from genlab.objectives.configs import DenoiseConfig
from genlab.objectives.denoise import denoising_loss
from genlab.paths import LinearPath
from genlab.sampling.configs import DiffusionSamplerConfig
from genlab.sampling.video import future_mask, known_frames, known_frames_at


def video_dit(attention: str = "divided", temporal_patch: int = 2) -> DiT:
    cfg = DiTConfig(
        dims=3, in_channels=1, image_size=8, frames=4, patch=4, temporal_patch=temporal_patch,
        hidden=32, depth=2, heads=2, attention=attention, num_classes=3,
    )  # fmt: skip
    torch.manual_seed(0)
    net = DiT(cfg)
    with torch.no_grad():  # adaLN-Zero starts at the identity; move off it
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("attention", ["divided", "full", "temporal_layers"])
def test_per_frame_times_all_equal_are_the_clip_time(attention):
    net, x = video_dit(attention), torch.randn(2, 1, 4, 8, 8)
    t, cond = torch.tensor([0.3, 0.7]), {"class": torch.tensor([0, 2])}
    with torch.no_grad():
        one = net(x, t, cond)
        torch.testing.assert_close(net(x, t[:, None].expand(2, 4), cond), one, atol=1e-5, rtol=0)
        later = t[:, None].repeat(1, 4)
        later[:, 2:] = 0.9  # the second token frame at another time
        moved = (net(x, later, cond) - one).abs().amax(dim=(0, 1, 3, 4))  # per frame
    assert bool((moved > 1e-3).all())  # attention carries it to every frame


def test_per_frame_times_are_refused_where_they_cannot_apply():
    net, x = video_dit(), torch.randn(2, 1, 4, 8, 8)
    with pytest.raises(ValueError, match="temporal patch must share"):
        net(x, torch.tensor([[0.1, 0.2, 0.3, 0.3]] * 2), {"class": torch.tensor([0, 1])})
    with pytest.raises(ValueError, match=r"per-frame times \(2, 3\)"):
        net(x, torch.rand(2, 3), {"class": torch.tensor([0, 1])})
    image = DiT(DiTConfig(in_channels=1, image_size=8, patch=4, hidden=32, depth=1, heads=2))
    with pytest.raises(ValueError, match="video DiT"):
        image(torch.randn(2, 1, 8, 8), torch.rand(2, 4))


def test_the_loss_draws_one_time_per_temporal_patch_and_an_oracle_scores_zero():
    """On data x = 0 the velocity target is eps = x_t / t, frame by frame: a network
    that returns that has zero loss only if every frame was noised at its own time."""
    seen = []

    def oracle(x_t, t, cond):
        seen.append(t)
        return x_t / t[:, None, :, None, None]

    batch = {"x": torch.zeros(3, 1, 6, 4, 4), "cond": {}}
    loss, logs = denoising_loss(
        oracle, batch, torch.Generator().manual_seed(0), path=LinearPath(), frame_block=2
    )
    assert loss.shape == (3,) and float(loss.abs().max()) < 1e-10
    t = seen[0]
    assert t.shape == (3, 6)
    assert torch.equal(t[:, 0::2], t[:, 1::2])  # one time per block of 2 frames
    assert len(set(t[:, 0::2].flatten().tolist())) == 9  # independent draws
    assert sum(k.startswith("loss_t") for k in logs) >= 1
    with pytest.raises(ValueError, match="divisible by 4"):
        denoising_loss(oracle, batch, torch.Generator(), path=LinearPath(), frame_block=4)


def test_the_known_frames_enter_at_their_own_time():
    calls = []

    def spy(x, t, cond):
        calls.append((x.clone(), t.clone()))
        return torch.zeros_like(x)

    x_known, eps = torch.randn(2, 1, 4, 3, 3), torch.randn(2, 1, 4, 3, 3)
    known = known_frames(future_mask(4, 2, 3, 3), 4)
    assert known.tolist() == [True, True, False, False]
    clean = known_frames_at(spy, LinearPath(), x_known, known, 0.0, eps)
    state = torch.randn(4, 1, 4, 3, 3)  # guidance doubles the batch
    clean(state, torch.full((4,), 0.5), {})
    x, t = calls[-1]
    assert torch.equal(x[:2, :, :2], x_known[:, :, :2]) and torch.equal(
        x[2:, :, :2], x_known[:, :, :2]
    )
    assert torch.equal(x[:, :, 2:], state[:, :, 2:])  # the rest as the sampler has it
    assert t.tolist() == [[0.0, 0.0, 0.5, 0.5]] * 4
    noisy = known_frames_at(spy, LinearPath(), x_known, known, 0.25, eps)
    noisy(state[:2], torch.full((2,), 0.8), {})
    x, t = calls[-1]
    torch.testing.assert_close(x[:, :, :2], (0.75 * x_known + 0.25 * eps)[:, :, :2])
    assert t[:, :2].eq(0.25).all()
    with pytest.raises(ValueError, match="whole frames"):
        known_frames(torch.ones(1, 1, 4, 3, 3).index_fill(3, torch.tensor([0]), 0), 4)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        known_frames_at(spy, LinearPath(), x_known, known, 1.0, eps)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="objective.diffusion_forcing"):
        DenoiseConfig(diffusion_forcing=True, masked_loss=True)
    with pytest.raises(ConfigError, match="sampler.context_noise"):
        DiffusionSamplerConfig(context_noise=1.0)


# test_video_cli's tiny video DiT (8 frames of 16x16 moving shapes, 2-frame temporal
# patches), trained longer, so that its loss visibly falls
TINY_FORCING = [*TINY_VIDEO, "train.steps=40", "train.ckpt_every=40", "data.n=16",
                "train.lr=0.002", "sampler.steps=3"]  # fmt: skip


@pytest.fixture(scope="module")
def forcing_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("forcing") / "df"
    assert main(["train", "dit-forcing-moving-mnist-small", *TINY_FORCING, "--out", str(out)]) == 0
    return out


def test_a_forcing_run_learns_and_rolls_out_from_its_opening(forcing_run, tmp_path, capsys):
    losses = [
        json.loads(r)["loss"] for r in (forcing_run / "metrics.jsonl").read_text().splitlines()
    ]
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5])
    plain, long = tmp_path / "plain.npz", tmp_path / "long.npz"
    assert run_cli(capsys, "sample", str(forcing_run), "--n", "2", "--out", str(plain))[0] == 0
    code, _, err = run_cli(capsys, "sample", str(forcing_run), "--n", "2", "--frames", "14",
                           "--context", "4", "--out", str(long))  # fmt: skip
    assert code == 0, err
    a, b = np.load(plain)["x"], np.load(long)["x"]
    assert b.shape == (2, 3, 14, 16, 16)
    np.testing.assert_array_equal(b[:, :, :FRAMES], a)
    assert np.isfinite(b).all()


def test_a_forcing_run_is_refused_what_it_cannot_do(forcing_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", str(forcing_run), "--frames", "14", "--context",
                           "3", "--out", str(tmp_path / "a.gif"))  # fmt: skip
    assert_user_error(code, err, "3 known frames split a temporal patch of 2", "--context")
    code, _, err = run_cli(capsys, "train", "dit-forcing-moving-mnist-small", *TINY_FORCING,
                           "model.inpaint=true", "--out", str(tmp_path / "r"))  # fmt: skip
    assert_user_error(code, err, "objective.diffusion_forcing", "model.inpaint")
    code, _, err = run_cli(capsys, "train", "demo", "objective.diffusion_forcing=true",
                           "--out", str(tmp_path / "s"))  # fmt: skip
    assert_user_error(code, err, "objective.diffusion_forcing", "video DiT", "model.arch=unet")
    assert not list(tmp_path.iterdir())


def test_sampler_settings_a_forcing_rollout_cannot_use_are_one_line(forcing_run, tmp_path, capsys):
    """Checked before the first window is sampled: contexts that split a temporal patch,
    autoguidance, clean frames under EDM preconditioning; and context_noise elsewhere."""
    out = str(tmp_path / "a.npz")
    code, _, err = run_cli(capsys, "sample", str(forcing_run), "--frames", "14", "--context",
                           "3", "--out", out)  # fmt: skip
    assert_user_error(code, err, "--context", "temporal patch of 2")
    code, _, err = run_cli(capsys, "sample", str(forcing_run), "--frames", "14", "--cfg", "1",
                           "--out", out, f"sampler.autoguidance={forcing_run}")  # fmt: skip
    assert_user_error(code, err, "sampler.autoguidance", "diffusion forcing")
    code, _, err = run_cli(capsys, "sample", str(forcing_run), "--frames", "14", "--out", out,
                           "objective.precond=edm")  # fmt: skip
    assert code == 2  # the stored run is not EDM: overriding its objective is refused
    assert not list(tmp_path.iterdir())


def test_context_noise_is_refused_on_runs_without_forcing(tmp_path, capsys):
    from test_video_cli import TINY_VIDEO

    run = tmp_path / "plain"
    assert main(["train", "dit-moving-mnist", *TINY_VIDEO, "--out", str(run)]) == 0
    capsys.readouterr()  # the training log
    code, _, err = run_cli(capsys, "sample", str(run), "--frames", "12", "--context", "4",
                           "--out", str(tmp_path / "a.npz"),
                           "sampler.context_noise=0.5")  # fmt: skip
    assert_user_error(code, err, "sampler.context_noise", "diffusion forcing")


def test_an_edm_forcing_run_needs_noisy_known_frames(tmp_path, capsys):
    edm = ["objective.precond=edm", "objective.path=edm", "objective.target=x0",
           "train.steps=2", "train.ckpt_every=2"]  # fmt: skip
    run = tmp_path / "edm"
    code, _, err = run_cli(capsys, "train", "dit-forcing-moving-mnist-small", *TINY_FORCING, *edm,
                           "--out", str(run))  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(capsys, "sample", str(run), "--n", "2", "--frames", "12", "--context",
                           "4", "--out", str(tmp_path / "a.npz"))  # fmt: skip
    assert_user_error(code, err, "sampler.context_noise", "EDM")
    code, _, err = run_cli(capsys, "sample", str(run), "--n", "2", "--frames", "12", "--context",
                           "4", "--out", str(tmp_path / "b.npz"),
                           "sampler.context_noise=0.002")  # fmt: skip
    assert code == 0, err
    assert np.isfinite(np.load(tmp_path / "b.npz")["x"]).all()


def test_diffusion_forcing_is_refused_on_latent_runs():
    from genlab.families.diffusion import forcing_block
    from genlab.recipes import get_recipe

    exp = get_recipe("dit-latent-moving-mnist-small", ["objective.diffusion_forcing=true"])
    with pytest.raises(ConfigError, match="latent run cannot predict"):
        forcing_block(exp)
