"""Video metrics against closed forms (FVD of shifted features, SSIM of constant images,
OpenSTL's per-frame MSE/MAE), the video classifier (3-D CNN, multi-label heads) learning a
tiny synthetic set, and clear errors when a classifier's labels are not in the data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.cli import main
from genlab.data import DATASETS
from genlab.data.base import Dataset
from genlab.errors import ConfigError
from genlab.families.classifier import check_labels, classify_loss, multi_hot, random_shift
from genlab.metrics.features import Extractor
from genlab.metrics.video import (
    copy_last_frame,
    frame_difference,
    frame_pixels,
    frames_as_images,
    frechet_video_distance,
    gaussian_window,
    per_frame_features,
    per_frame_fid,
    prediction_mae,
    prediction_mse,
    prediction_scores,
    prediction_ssim,
    ssim,
    temporal_consistency,
    zero_prediction,
)
from genlab.models import build_model, preset
from genlab.recipes import get_recipe
from tests.conftest import tiny_overrides

UNIT = (0.0, 1.0)  # hand-built tensors on the [0, 1] scale


# ---------------------------------------------------------------- distributions of clips


def test_fvd_is_zero_for_a_set_with_itself_and_the_mean_shift_squared_when_shifted():
    f = np.random.default_rng(0).normal(size=(500, 8))
    assert abs(frechet_video_distance(f, f)) < 1e-8
    # the same covariance, every mean moved by 1: ||d mu||^2 = 8
    assert frechet_video_distance(f, f + 1.0) == pytest.approx(8.0, rel=1e-6)
    assert frechet_video_distance(torch.from_numpy(f), torch.from_numpy(f * 2)) > 1.0


def _mean_pool_extractor(size: int) -> Extractor:
    """A fake image extractor: 4x4 average pooling of (N, 1, size, size) frames."""
    pool = torch.nn.AdaptiveAvgPool2d(4)
    return Extractor(
        name="pool",
        fingerprint="pool",
        input_shape=(1, size, size),
        heads={"class": 16},
        net=pool,
        feature_fn=lambda x: pool(x).flatten(1),
        head_fn=lambda f: f,
    )


def test_frames_flatten_clip_major_and_per_frame_features_resize_whole_frames():
    x = torch.rand(2, 1, 3, 64, 64) * 2 - 1
    frames = frames_as_images(x)
    assert frames.shape == (6, 1, 64, 64) and torch.equal(frames[4], x[1, :, 1])
    # a bright square in the top-left corner survives the resize to 28x28 (no crop)
    x = torch.full((2, 1, 3, 64, 64), -1.0)
    x[..., :16, :16] = 1.0
    f = per_frame_features(_mean_pool_extractor(28), x)  # (B, T, 16)
    assert f.shape == (2, 3, 16)
    assert f[..., 0].min() > 0.5 and f[..., -1].max() < -0.99  # corner bright, far corner dark
    assert per_frame_fid(f, f) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ConfigError, match=r"expects clips \(B, C, T, H, W\)"):
        per_frame_features(_mean_pool_extractor(28), x[:, :, 0])


def test_a_video_extractor_checks_the_clip_shape():
    ext = _mean_pool_extractor(28)
    ext.input_shape = (1, 20, 64, 64)
    with pytest.raises(ConfigError, match=r"\(N, 1, 20, 64, 64\), got \(2, 1, 10, 64, 64\)"):
        ext.check(torch.zeros(2, 1, 10, 64, 64))
    ext.check(torch.zeros(2, 1, 20, 64, 64))


# ---------------------------------------------------------------- temporal coherence


def _blob_clip(t: int = 8, size: int = 32, speed: float = 1.0) -> torch.Tensor:
    """A Gaussian blob (sigma 4 px) moving ``speed`` px per frame, (1, 1, t, size, size)."""
    yy, xx = torch.meshgrid(
        torch.arange(size.__float__()), torch.arange(float(size)), indexing="ij"
    )
    frames = [torch.exp(-((xx - 8 - speed * k) ** 2 + (yy - 16) ** 2) / 32) for k in range(t)]
    return torch.stack(frames)[None, None] * 2 - 1


def test_temporal_consistency_orders_still_smooth_and_shuffled_noise_clips():
    still = _blob_clip(speed=0.0)
    smooth = _blob_clip(speed=1.0)
    noise = torch.rand(4, 1, 8, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    shuffled = noise[:, :, torch.randperm(8, generator=torch.Generator().manual_seed(1))]
    c_still = temporal_consistency(frame_pixels(still))
    c_smooth = temporal_consistency(frame_pixels(smooth))
    c_noise = temporal_consistency(frame_pixels(shuffled))
    assert c_still.shape == (1,) and float(c_still) == pytest.approx(1.0)
    assert 0.9 < float(c_smooth) < 1.0
    assert float(c_noise.max()) < 0.8 and float(c_noise.mean()) == pytest.approx(0.75, abs=0.02)
    # the same ordering through an image network's features (the CLIP-consistency protocol)
    ext = _mean_pool_extractor(32)
    relu = lambda f: f.clamp(min=0) + 1  # noqa: E731 (non-negative features, like a ReLU layer)
    smooth_net, noise_net = (
        temporal_consistency(relu(per_frame_features(ext, c))).mean() for c in (smooth, shuffled)
    )
    assert smooth_net > noise_net
    with pytest.raises(ConfigError, match="T >= 2"):
        temporal_consistency(frame_pixels(still[:, :, :1]))


def test_frame_difference_is_zero_when_still_and_one_sixth_for_independent_noise():
    assert float(frame_difference(_blob_clip(speed=0.0))) == 0.0
    noise = torch.rand(8, 1, 6, 32, 32, generator=torch.Generator().manual_seed(0))
    assert float(frame_difference(noise, UNIT).mean()) == pytest.approx(1 / 6, rel=0.02)
    assert frame_difference(_blob_clip(speed=2.0)) > frame_difference(_blob_clip(speed=1.0))


# ---------------------------------------------------------------- frame prediction


def test_mse_and_mae_sum_over_pixels_and_average_over_frames_and_clips():
    target = torch.zeros(2, 1, 3, 16, 16)
    pred = target.clone()
    pred[:, :, :, 1, 2] = 0.5  # one pixel off by 0.5 in every frame
    assert torch.allclose(prediction_mse(pred, target, UNIT), torch.full((2,), 0.25).double())
    assert torch.allclose(prediction_mae(pred, target, UNIT), torch.full((2,), 0.5).double())
    only_first = target.clone()
    only_first[0, 0, 0] = 0.5  # clip 0, frame 0: all 256 pixels off by 0.5
    assert prediction_mse(only_first, target, UNIT).tolist() == pytest.approx([256 * 0.25 / 3, 0])
    # genlab's [-1, 1] convention: a pixel off by 1.0 is off by 0.5 on the [0, 1] scale
    assert float(prediction_mse(pred * 2 - 1, target * 2 - 1).mean()) == pytest.approx(0.25)
    scores = prediction_scores(pred, target, UNIT)
    assert scores["mse"] == pytest.approx(0.25) and scores["mae"] == pytest.approx(0.5)
    assert scores["psnr"] == pytest.approx(10 * math.log10(1024))  # per-pixel MSE 0.25 / 256
    assert 0 < scores["ssim"] < 1
    with pytest.raises(ConfigError, match="differ"):
        prediction_mse(pred, target[:, :, :2], UNIT)


def test_baselines_zero_and_copy_last_frame():
    g = torch.Generator().manual_seed(0)
    clips = (torch.rand(3, 1, 6, 16, 16, generator=g) > 0.8).float() * 2 - 1  # sparse digits
    context, future = clips[:, :, :4], clips[:, :, 4:]
    zero = zero_prediction(context, 2)
    assert zero.shape == (3, 1, 2, 16, 16) and bool((zero == -1).all())
    # all-zero: the error is the target's own mass, sum of its squared [0, 1] pixels
    want = ((future + 1) / 2).pow(2).sum((1, 3, 4)).mean(1)
    assert torch.allclose(prediction_mse(zero, future), want.double())
    last = copy_last_frame(context, 2)
    assert last.shape == (3, 1, 2, 16, 16) and torch.equal(last[:, :, 1], context[:, :, -1])
    still = clips[:, :, -1:].repeat(1, 1, 3, 1, 1)
    assert float(prediction_mse(copy_last_frame(clips, 3), still).max()) == 0


def test_ssim_closed_forms():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 2, 16, 16, generator=g, dtype=torch.float64)
    assert torch.allclose(ssim(a, a), torch.ones(3, dtype=torch.float64))
    assert gaussian_window().sum().item() == pytest.approx(1.0) and len(gaussian_window()) == 11
    # constant images c1, c2: no variance, so SSIM = (2 c1 c2 + C1) / (c1^2 + c2^2 + C1)
    c1, c2, k1 = 0.2, 0.7, 0.01 * 1.0
    want = (2 * c1 * c2 + k1**2) / (c1**2 + c2**2 + k1**2)
    f64 = {"dtype": torch.float64}
    got = ssim(torch.full((1, 1, 12, 12), c1, **f64), torch.full((1, 1, 12, 12), c2, **f64))
    assert float(got) == pytest.approx(want, rel=1e-12)
    b = torch.rand(3, 2, 16, 16, generator=g, dtype=torch.float64)
    assert torch.allclose(ssim(a, b), ssim(b, a))
    assert float(ssim(a, b).max()) < 0.3 and float(ssim(a, 1 - a).max()) < 0
    with pytest.raises(ConfigError, match="smaller than the 11x11 window"):
        ssim(a[..., :10, :10], a[..., :10, :10])


def _ssim_oracle(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. 2004 for one 2-D image pair, one window position at a time."""
    k = np.arange(11) - 5.0
    g = np.exp(-(k**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            vals.append(
                (2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
            )
    return float(np.mean(vals))


def test_ssim_matches_a_window_by_window_oracle_and_prediction_ssim_averages_frames():
    rng = np.random.default_rng(0)
    a = rng.random((13, 15))
    b = np.clip(a + rng.normal(scale=0.2, size=a.shape), 0, 1)
    got = ssim(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])
    assert float(got) == pytest.approx(_ssim_oracle(a, b), rel=1e-9)
    # prediction_ssim: the per-frame SSIMs of a clip, averaged
    clip_a = torch.from_numpy(np.stack([a, b]))[None, None]  # (1, 1, 2, 13, 15)
    clip_b = torch.from_numpy(np.stack([b, b]))[None, None]
    assert float(prediction_ssim(clip_a, clip_b, UNIT)) == pytest.approx((float(got) + 1) / 2)


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics", reason="scikit-image is not installed")
    rng = np.random.default_rng(1)
    a = rng.random((32, 32))
    b = np.clip(a + rng.normal(scale=0.1, size=a.shape), 0, 1)
    want = metrics.structural_similarity(
        a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    got = ssim(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])
    assert float(got) == pytest.approx(want, rel=1e-6)


# ---------------------------------------------------------------- the video classifier


def _tiny_video_cfg(**changes):
    return preset("classifier-moving-mnist", image_size=16, frames=8, width=8, **changes)


def test_video_classifier_shapes_and_config_checks():
    cfg = _tiny_video_cfg()
    assert cfg.input_shape() == (1, 8, 16, 16)
    net = build_model(cfg)
    x = torch.rand(3, 1, 8, 16, 16) * 2 - 1
    assert net(x).shape == (3, 18) and net.features(x).shape == (3, cfg.features)
    assert {k: v.shape[1] for k, v in net.split(net(x)).items()} == {"digits": 10, "directions": 8}
    assert preset("classifier-moving-mnist").input_shape() == (1, 20, 64, 64)
    with pytest.raises(ConfigError, match="model.multi_label: 'digit' is not a head"):
        _tiny_video_cfg(multi_label=("digit",))


def test_multi_hot_marks_every_listed_class_once():
    y = torch.tensor([[1, 3], [2, 2]])
    assert multi_hot(y, 4).tolist() == [[0, 1, 0, 1], [0, 0, 1, 0]]
    assert multi_hot(torch.tensor([0, 3]), 4).tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]


def _patterns() -> torch.Tensor:
    """Four 4x4 patterns: a horizontal bar, a vertical bar, a square, a diagonal."""
    p = torch.zeros(4, 4, 4)
    p[0, 1:3, :] = 1
    p[1, :, 1:3] = 1
    p[2] = 1
    p[3] = torch.eye(4)
    return p


def _synthetic_clips(n: int, g: torch.Generator) -> tuple[torch.Tensor, dict]:
    """(n, 1, 8, 16, 16) clips with two patterns (classes, a set: cond "shapes" (n, 2))
    drifting one pixel a frame, together left or right (cond "class" (n,), 0 or 1)."""
    pats = _patterns()
    shapes = torch.randint(0, 4, (n, 2), generator=g)
    way = torch.randint(0, 2, (n,), generator=g)
    x = torch.zeros(n, 1, 8, 16, 16)
    for i in range(n):
        step = 1 if way[i] else -1
        for slot, row in ((0, 2), (1, 10)):
            col0 = 2 if step > 0 else 10
            for t in range(8):
                col = col0 + step * (t // 2)
                x[i, 0, t, row : row + 4, col : col + 4] = pats[shapes[i, slot]]
    return x * 2 - 1, {"shapes": shapes, "class": way}


def test_video_classifier_loss_falls_on_a_tiny_multi_label_set():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, cond = _synthetic_clips(64, g)
    cfg = _tiny_video_cfg(heads=(4, 2), head_names=("shapes", "class"), multi_label=("shapes",))
    net = build_model(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(50):
        idx = torch.randint(0, 64, (16,), generator=g)
        batch = {"x": x[idx], "cond": {k: v[idx] for k, v in cond.items()}}
        loss, logs = classify_loss(net, batch, g, shift=0, smoothing=0.0, multi_label=("shapes",))
        loss.mean().backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.mean().detach()))
    assert set(logs) == {"acc_shapes", "acc_class"}
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.3 * first, (first, last)  # measured: 3.1 -> 0.12


def test_random_shift_moves_every_frame_of_a_clip_by_the_clips_one_offset():
    x = torch.full((6, 1, 5, 16, 16), -1.0)
    for t in range(5):
        x[:, 0, t, 4 + t, 8 - t] = 1.0  # one bright pixel, somewhere else in each frame
    y = random_shift(x, 2, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and bool(((y == 1).sum((1, 3, 4)) == 1).all())  # none lost
    before = (x == 1).nonzero()[:, 3:].view(6, 5, 2)  # (clip, frame, (row, col))
    after = (y == 1).nonzero()[:, 3:].view(6, 5, 2)
    moved = after - before  # (6, 5, 2)
    assert bool((moved == moved[:, :1]).all())  # one offset per clip
    assert moved.abs().max() <= 2 and len({tuple(m) for m in moved[:, 0].tolist()}) > 1


def _labelled(cond: dict, shape=(1, 8, 16, 16)) -> Dataset:
    n = len(next(iter(cond.values())))
    return Dataset(torch.zeros(n, *shape), cond, "video", 0)


def test_check_labels_names_the_missing_or_misshapen_key():
    exp = get_recipe("eval-digits-classifier")
    exp.model = _tiny_video_cfg()
    both = {"digits": torch.zeros(4, 2, dtype=torch.int64), "directions": torch.zeros(4, 2).long()}
    check_labels(exp, _labelled(both))
    with pytest.raises(ConfigError, match="reads the label 'digits', which data 'digits' does not"):
        check_labels(exp, _labelled({"class": torch.zeros(4, dtype=torch.int64)}))
    bad = {**both, "directions": torch.full((4, 2), 8)}
    with pytest.raises(ConfigError, match="head 'directions' has 8 classes.*\\[8, 8\\]"):
        check_labels(exp, _labelled(bad))
    exp.model = _tiny_video_cfg(multi_label=("directions",))
    with pytest.raises(ConfigError, match="label 'digits' .* name it in model.multi_label"):
        check_labels(exp, _labelled(both))


def test_train_with_a_label_the_data_lacks_is_one_clear_line(tmp_path, capsys):
    out = tmp_path / "cls"
    ov = [o for o in tiny_overrides(2) if not o.startswith("sampler.")]
    argv = ["train", "eval-digits-classifier", "model.head_names=digit", *ov, "--out", str(out)]
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "'digit'" in err[0] and "class" in err[0], err
    assert not out.exists()  # nothing trained: no half-made run


def test_moving_mnist_classifier_on_data_without_its_labels_is_one_clear_line(tmp_path, capsys):
    shapes = DATASETS["moving-shapes"].config()
    c, t, s = 3, getattr(shapes, "frames", 16), getattr(shapes, "image_size", 32)
    ov = [o for o in tiny_overrides(2) if not o.startswith("sampler.")]
    model = [f"model.in_channels={c}", f"model.frames={t}", f"model.image_size={s}"]
    argv = ["train", "eval-moving-mnist-classifier", "data.name=moving-shapes", *model, *ov]
    code = main([*argv, "--out", str(tmp_path / "cls")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "'digits'" in err[0], err


def test_a_tiny_moving_mnist_classifier_run_is_a_video_extractor(tmp_path, mnist_dir):
    from genlab.data import build_dataset
    from genlab.metrics.features import classifier_extractor
    from genlab.runs import fit, override

    ov = [o for o in tiny_overrides(3, **{"train.batch_size": 8}) if not o.startswith("sampler.")]
    small = {"data.root": mnist_dir, "data.n": 24, "data.frames": 8, "data.image_size": 32,
             "model.frames": 8, "model.image_size": 32, "model.width": 8}  # fmt: skip
    ov += [f"{k}={v}" for k, v in small.items()]
    exp = override(get_recipe("eval-moving-mnist-classifier"), ov)
    run = fit(exp, tmp_path / "cls")
    ext = classifier_extractor(run)
    assert ext.name == "moving-mnist" and ext.heads == {"digits": 10, "directions": 8}
    assert ext.fingerprint.startswith("classifier-video-1x8x32x32:")
    clips = build_dataset(exp.data).x  # (24, 1, 8, 32, 32)
    f = ext.features(clips)
    assert f.shape == (24, 128) and frechet_video_distance(f, f) == pytest.approx(0, abs=1e-6)
    with pytest.raises(ConfigError, match=r"\(N, 1, 8, 32, 32\)"):
        ext.features(clips[:, :, :4])
