"""Frame prediction and autoregressive rollout (genlab.sampling.video) and the video
training masks (genlab.objectives.masks.frame_masks)."""

import pytest
import torch

from genlab.objectives.masks import frame_masks, with_inpaint_cond
from genlab.sampling.video import future_mask, predict_frames, rollout, windows_needed


def recording_fill(calls):
    """A window filler that writes the window's index into the frames it must generate
    and records the known context it was given."""

    def fill(window, mask, k):
        calls.append((k, window.clone(), mask.clone()))
        return torch.where(mask.bool(), torch.full_like(window, float(k)), window)

    return fill


def test_future_mask_hides_the_frames_after_the_context():
    m = future_mask(5, 2, 3, 4)
    assert m.shape == (1, 1, 5, 3, 4)
    assert m[:, :, :2].sum() == 0 and bool((m[:, :, 2:] == 1).all())
    with pytest.raises(ValueError, match="do not fit"):
        future_mask(5, 6, 3, 4)


def test_predict_frames_returns_only_the_future_from_one_window():
    calls = []
    ctx = torch.randn(2, 1, 3, 4, 4)
    out = predict_frames(recording_fill(calls), ctx, window=8, k=7)
    assert out.shape == (2, 1, 5, 4, 4) and bool((out == 7).all())
    ((k, window, mask),) = calls
    assert torch.equal(window[:, :, :3], ctx) and bool((window[:, :, 3:] == 0).all())
    assert mask[0, 0, :, 0, 0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="nothing to predict"):
        predict_frames(recording_fill([]), torch.zeros(1, 1, 8, 4, 4), window=8)


def test_rollout_extends_window_by_window_and_keeps_the_opening():
    calls = []
    first = torch.randn(2, 1, 6, 4, 4)
    out = rollout(recording_fill(calls), first, total=17, window=6, context=2)
    assert out.shape == (2, 1, 17, 4, 4)
    assert torch.equal(out[:, :, :6], first)
    # windows 1, 2, 3 add 4 frames each (the last one cut to 3)
    assert [c[0] for c in calls] == [1, 2, 3]
    assert len(calls) + 1 == windows_needed(17, 6, 2)
    assert bool((out[:, :, 6:10] == 1).all()) and bool((out[:, :, 14:] == 3).all())
    # each window's known frames are the last two frames made so far
    assert torch.equal(calls[1][1][:, :, :2], out[:, :, 8:10])


def test_rollout_rejects_bad_context_and_lengths():
    fill = recording_fill([])
    with pytest.raises(ValueError, match="must be in"):
        rollout(fill, torch.zeros(1, 1, 6, 2, 2), 10, window=6, context=6)
    with pytest.raises(ValueError, match="fewer than the context"):
        rollout(fill, torch.zeros(1, 1, 1, 2, 2), 10, window=6, context=2)
    with pytest.raises(ValueError, match="already has"):
        rollout(fill, torch.zeros(1, 1, 6, 2, 2), 5, window=6, context=2)


def test_frame_masks_keep_a_clean_past_and_are_deterministic():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = frame_masks(64, 8, 2, 2, g1)
    assert torch.equal(a, frame_masks(64, 8, 2, 2, g2))
    per_frame = a[:, 0, :, 0, 0]  # (64, 8)
    # every mask is 0 on a prefix and 1 after it (monotone in time)
    assert bool((per_frame[:, 1:] >= per_frame[:, :-1]).all())
    known = (per_frame == 0).sum(1)
    assert 0 < int((known == 0).sum()) < 64  # some plain generation ...
    assert int(known.max()) <= 7  # ... and at least one frame to generate always
    fixed = frame_masks(16, 8, 2, 2, torch.Generator().manual_seed(0), full_p=0.0, context=5)
    assert bool((fixed[:, 0, :, 0, 0].sum(1) == 3).all())


def test_video_batches_get_frame_masks_and_masked_clips():
    x = torch.randn(4, 1, 6, 3, 3)
    out = with_inpaint_cond({"x": x, "cond": {}}, torch.Generator().manual_seed(0), 0.0, 2)
    m = out["cond"]["mask"]
    assert m.shape == (4, 1, 6, 3, 3)
    assert torch.equal(out["cond"]["image"][:, :, :2], x[:, :, :2])
    assert bool((out["cond"]["image"][:, :, 2:] == 0).all())


def test_an_inpainting_video_dit_reads_the_mask_only_once_trained():
    from genlab.models import build_model
    from genlab.models.configs import DiTConfig

    torch.manual_seed(0)
    cfg = DiTConfig(dims=3, frames=4, image_size=8, patch=4, temporal_patch=2, hidden=32,
                    depth=1, heads=2, attention="divided", inpaint=True)  # fmt: skip
    net = build_model(cfg)
    assert net.cond_keys() == ("mask", "image")
    for p in net.parameters():  # past the zero initialisation
        p.data.add_(0.05 * torch.randn_like(p))
    x, t = torch.randn(2, 1, 4, 8, 8), torch.rand(2)
    mask = future_mask(4, 2, 8, 8).expand(2, -1, -1, -1, -1)
    known = net(x, t, {"mask": mask, "image": x * (1 - mask)})
    other = net(x, t, {"mask": mask, "image": torch.randn_like(x) * (1 - mask)})
    assert not torch.allclose(known, other)
    fresh = build_model(cfg)  # at initialisation the mask channels are unread
    for name, p in fresh.named_parameters():
        if not name.startswith("embed_mask"):
            p.data.add_(0.05 * torch.randn_like(p))
    plain = fresh(x, t, {"mask": torch.ones_like(x), "image": torch.zeros_like(x)})
    assert torch.allclose(plain, fresh(x, t, {"mask": mask, "image": x * (1 - mask)}))


@pytest.mark.parametrize("grid", ["uniform", "shifted"])
def test_one_euler_step_from_pure_noise_is_the_posterior_mean(grid):
    """benchmarks/video.py's posterior-mean predictor: on the linear path one Euler step
    from t = 1 gives the network's x0 estimate there, ``x_1 - v(x_1, 1)``, the
    ``E[x0 | condition]`` of a network trained to convergence."""
    from genlab.paths import LinearPath
    from genlab.sampling import euler, make_grid

    def net(x, t, cond):
        return torch.sin(3 * x) + t[:, None, None, None, None]

    g = make_grid(grid, 1, LinearPath(), shift=4.0)
    assert g.tolist() == [1.0, 0.0]
    x1 = torch.randn(2, 1, 4, 3, 3)
    torch.testing.assert_close(euler(net, x1, g), x1 - net(x1, torch.ones(2), {}))
