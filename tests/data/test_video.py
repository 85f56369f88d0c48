"""Video data: moving-mnist, moving-shapes, video-folder, and reading/writing GIF and MP4.

Measured MP4 round-trip errors (H.264, yuv420p, CRF 18; the ffmpeg 9.0 of imageio-ffmpeg
0.8.1), in 8-bit levels (1 level = 2/255 in [-1, 1]): grey clips (moving-mnist, the blob
below) mean |error| 0.1-0.8, max 7-39 levels at sharp edges, PSNR 45 dB; 32x32
moving-shapes clips mean 0.7-2.4 levels, PSNR 28-35 dB, but max ~95-135 levels where a
saturated colour meets black (the half-resolution chroma of 4:2:0). GIF is exact at 8 bits.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import DATASETS, build_dataset, heldout_config
from genlab.data.configs import (
    MOTIONS,
    TRAIN_STOP,
    MovingMNISTConfig,
    MovingShapesConfig,
    all_moving_captions,
)
from genlab.data.video import (
    bounce,
    digit_pool,
    moving_mnist,
    octant,
    shape_paths,
    trajectories,
)
from genlab.data.video_io import read_video
from genlab.errors import ConfigError, DataError
from genlab.viz import gif_delay_ms, save_samples, save_video

LEVEL = 2 / 255  # one 8-bit level in [-1, 1]


def _write_idx(path: Path, a: np.ndarray) -> None:
    """``a`` (uint8) as a gzipped IDX file, written independently of the reader."""
    head = bytes([0, 0, 0x08, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape)
    path.write_bytes(gzip.compress(head + a.astype(np.uint8).tobytes(), compresslevel=1))


@pytest.fixture(scope="module")
def fake_mnist(tmp_path_factory) -> Path:
    """10,000 28x28 'digits' that fill their whole box: value 100 for images [0, 8000)
    (the training pool), 200 for [8000, 10000) (held out); image k has label k % 10."""
    root = tmp_path_factory.mktemp("mnist")
    value = np.where(np.arange(10_000) < TRAIN_STOP, 100, 200).astype(np.uint8)
    _write_idx(root / "t10k-images-idx3-ubyte.gz", np.repeat(value, 784).reshape(-1, 28, 28))
    _write_idx(root / "t10k-labels-idx1-ubyte.gz", (np.arange(10_000) % 10).astype(np.uint8))
    return root


def mm(root, **kw) -> MovingMNISTConfig:
    return DATASETS["moving-mnist"].config(root=str(root), **{"n": 24, **kw})


# ---------------------------------------- moving-mnist


def test_bounce_is_an_elastic_reflection():
    p = bounce(torch.tensor([0.5]), torch.tensor([1.0]), 7, 2.0)[:, 0]  # one 1-D point
    assert torch.allclose(p, torch.tensor([0.5, 1.5, 1.5, 0.5, 0.5, 1.5, 1.5], dtype=p.dtype))
    start = torch.rand(200, 2, dtype=torch.float64) * 36
    v = torch.randn(200, 2, dtype=torch.float64) * 5
    path = bounce(start, v, 40, 36.0)
    assert path.min() >= 0 and path.max() <= 36
    # the speed along each axis never changes: |step| is |v| except at a bounce
    steps = (path[:, 1:] - path[:, :-1]).abs()
    assert ((steps - v.abs()[:, None]).abs() < 1e-9).float().mean() > 0.5


def test_octants_count_counter_clockwise_from_right():
    v = torch.tensor([[1, 0], [1, -1], [0, -1], [-1, -1], [-1, 0], [-1, 1], [0, 1], [1, 1.0]])
    assert octant(v).tolist() == list(range(8))  # y points down the screen
    assert octant(torch.tensor([[1.0, -0.4]])).item() == 0  # 21.8 degrees: still "right"


def test_moving_mnist_is_seeded_and_labelled(fake_mnist):
    ds = build_dataset(mm(fake_mnist))
    assert ds.x.shape == (24, 1, 20, 64, 64) and ds.x.dtype == torch.float32
    assert ds.modality == "video" and ds.sample_rate == 8 and ds.num_classes == 0
    assert float(ds.x.min()) == -1 and float(ds.x.max()) <= 1
    assert set(ds.cond) == {"digits", "directions"}
    for key, top in (("digits", 9), ("directions", 7)):
        v = ds.cond[key]
        assert v.shape == (24, 2) and v.dtype == torch.int64
        assert int(v.min()) >= 0 and int(v.max()) <= top
    assert torch.equal(build_dataset(mm(fake_mnist)).x, ds.x)
    assert not torch.equal(build_dataset(mm(fake_mnist, seed=1)).x, ds.x)
    labelled = build_dataset(mm(fake_mnist, label="digits"))
    d = labelled.cond["digits"]
    assert torch.equal(labelled.cond["class"], 10 * d[:, 0] + d[:, 1])
    assert labelled.num_classes == 100 and labelled.class_names[7] == "07"


def test_digits_stay_inside_the_canvas_in_every_frame(fake_mnist):
    cfg = mm(fake_mnist, n=64, speed=0.3)  # fast: many bounces
    images, labels, _ = digit_pool(cfg)
    x, cond, source, corners = moving_mnist(cfg, images, labels)
    assert corners.shape == (64, 20, 2, 2)
    assert int(corners.min()) >= 0 and int(corners.max()) <= 64 - 28
    # The fake digits fill their box: lit pixels are exactly the union of the boxes.
    union = torch.zeros(64, 20, 64, 64, dtype=torch.bool)
    for i, t, k in np.ndindex(64, 20, 2):
        cx, cy = corners[i, t, k].tolist()
        union[i, t, cy : cy + 28, cx : cx + 28] = True
    assert torch.equal(x[:, 0] > -1, union)
    assert torch.equal(cond["digits"], labels[source])
    # the direction labels are the octants of the drawn initial velocities
    g = torch.Generator().manual_seed(cfg.seed)
    torch.randint(len(images), (64, 2), generator=g)  # the pool draws come first
    again, velocity = trajectories(64, 20, 2, 36, 0.3, g)
    assert torch.equal(again, corners) and torch.equal(octant(velocity), cond["directions"])


def test_train_and_test_clips_use_disjoint_digit_pools(fake_mnist):
    train = build_dataset(mm(fake_mnist))
    test_cfg, what = heldout_config(mm(fake_mnist))
    assert test_cfg.split == "test" and "8000" in what
    test = build_dataset(test_cfg)
    lit = {v: (torch.tensor(float(v)) / 127.5 - 1).item() for v in (100, 200)}  # float32
    assert set(train.x.unique().tolist()) == {-1.0, lit[100]}  # only images [0, 8000)
    assert set(test.x.unique().tolist()) == {-1.0, lit[200]}  # only images [8000, 10000)


def test_real_moving_mnist_matches_a_direct_drawing(mnist_dir):
    cfg = mm(mnist_dir, n=16, split="test")
    images, labels, first = digit_pool(cfg)
    assert first == TRAIN_STOP and len(images) == 2000
    x, cond, source, corners = moving_mnist(cfg, images, labels)
    for i in (0, 7, 15):  # the pixel-wise max of the two digits, drawn one at a time
        for t in range(20):
            frame = torch.full((64, 64), -1.0)
            for k in range(2):
                cx, cy = corners[i, t, k].tolist()
                box = frame[cy : cy + 28, cx : cx + 28]
                box.copy_(torch.maximum(box, images[source[i, k]]))
            assert torch.equal(x[i, 0, t], frame)


def test_moving_mnist_config_errors():
    with pytest.raises(ConfigError, match="data.digits"):
        MovingMNISTConfig(digits=0)
    with pytest.raises(ConfigError, match="data.digit_size"):
        MovingMNISTConfig(image_size=20)
    with pytest.raises(ConfigError, match="data.frames"):
        MovingMNISTConfig(frames=0)
    with pytest.raises(ConfigError, match="data.label"):
        MovingMNISTConfig(digits=4, label="digits")


# ---------------------------------------- moving-shapes


def test_moving_shapes_captions_match_the_motion():
    cfg = MovingShapesConfig(n=120, seed=3)
    ds = build_dataset(cfg)
    assert ds.x.shape == (120, 3, 16, 32, 32) and ds.modality == "video"
    assert torch.equal(build_dataset(cfg).x, ds.x)
    assert not torch.equal(build_dataset(MovingShapesConfig(n=120, seed=4)).x, ds.x)
    assert torch.equal(ds.cond["class"], ds.cond["direction"]) and ds.num_classes == 4
    table = all_moving_captions(cfg)
    assert [table[i] for i in ds.cond["caption"].tolist()] == ds.captions
    border = torch.cat([ds.x[..., 0, :], ds.x[..., -1, :], ds.x[..., 0], ds.x[..., -1]], -1)
    assert float(border.max()) == -1  # the shape stays inside every frame
    w = ds.x.amax(1) + 1  # (N, T, H, W) brightness over the background
    grid = torch.arange(32) + 0.5
    cx = (w.sum(-2) * grid).sum(-1) / w.sum((-2, -1))  # centre of mass per frame
    cy = (w.sum(-1) * grid).sum(-1) / w.sum((-2, -1))
    sign = {"left to right": (1, 0), "right to left": (-1, 0),
            "top to bottom": (0, 1), "bottom to top": (0, -1)}  # fmt: skip
    for i, caption in enumerate(ds.captions):
        motion = next(m for m in MOTIONS if caption.endswith(m))
        assert motion == MOTIONS[int(ds.cond["direction"][i])]
        sx, sy = sign[motion]
        dx, dy = torch.diff(cx[i]), torch.diff(cy[i])
        along, across = (dx, dy) if sx else (dy, dx)
        s = sx or sy
        assert (s * along > 0).all(), caption  # moves every frame, the captioned way
        assert float(s * (along.sum())) > 5  # at least 60% of the free range
        assert float(across.abs().max()) < 0.15, caption  # pixel sampling wiggles only


def test_shape_paths_span_the_free_range():
    g = torch.Generator().manual_seed(0)
    radius = torch.full((400,), 4.0)
    centre = shape_paths(torch.arange(400) % 4, radius, 32, 16, g)
    assert centre.min() >= 5.5 and centre.max() <= 26.5  # [r + 1.5, S - r - 1.5]


# ---------------------------------------- reading and writing video files


def _clips():
    shapes = build_dataset(MovingShapesConfig(n=2, seed=1)).x[0]  # (3, 16, 32, 32)
    g = torch.Generator().manual_seed(0)
    digit = torch.full((1, 10, 24, 40), -1.0)
    for t in range(10):  # a bright blob moving right, with soft edges
        digit[0, t, 6:18, 2 + 2 * t : 14 + 2 * t] = 0.9
    digit[0, :, 8:16] += 0.05 * torch.rand(10, 8, 40, generator=g)
    return shapes, digit.clamp(-1, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two clips in [-1, 1]."""
    return float(-10 * torch.log10(((a - b) / 2).square().mean()))


def test_mp4_round_trip_within_codec_tolerance(tmp_path):
    # colour: 4:2:0 chroma blurs saturated 1-px edges (max errors ~120 levels), so the
    # tolerance is on the mean and the PSNR (measured 30.9 dB, mean 1.1 levels)
    for clip, mean_tol, min_psnr in zip(_clips(), (3 * LEVEL, 1.5 * LEVEL), (27.0, 40.0)):
        path = save_video(clip, tmp_path / "a.mp4", fps=12)
        y, fps = read_video(path, channels=clip.shape[0])
        assert y.shape == clip.shape and fps == 12
        assert float((y - clip).abs().mean()) < mean_tol and psnr(y, clip) > min_psnr
    assert float((y - clip).abs().max()) < 12 * LEVEL  # grey: measured 6.9 levels
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_mp4_pads_odd_sizes_by_one_repeated_pixel(tmp_path):
    clip = torch.linspace(-1, 1, 9 * 11).reshape(1, 1, 9, 11).expand(3, 4, 9, 11)
    y, _ = read_video(save_video(clip, tmp_path / "odd.mp4"))
    assert y.shape == (3, 4, 10, 12)
    assert float((y[:, :, :9, :11] - clip).abs().mean()) < 2 * LEVEL


def test_gif_round_trip_is_exact_at_8_bits(tmp_path):
    shapes, grey = _clips()
    grey = grey.clone()
    grey[:, 4:7] = grey[:, 4:5]  # three identical frames: Pillow merges them into one
    for clip in (shapes, grey):
        path = save_video(clip, tmp_path / "a.GIF", fps=8)
        y, fps = read_video(path, channels=clip.shape[0])
        assert y.shape == clip.shape  # merged frames come back repeated
        assert fps == pytest.approx(1000 / gif_delay_ms(8))
        assert float((y - clip).abs().max()) <= LEVEL / 2 + 1e-6  # 8-bit rounding only
    with Image.open(tmp_path / "a.GIF") as im:
        assert im.n_frames == 8 and im.info["loop"] == 0


@pytest.mark.parametrize(
    "name, data, why",
    [
        ("x.mp4", np.random.default_rng(0).bytes(3000), "cannot read the video"),
        ("empty.mp4", b"", "empty"),
        ("empty.gif", b"", "empty"),
        ("notes.gif", b"this is a text file, not a GIF\n", "cannot identify"),
    ],
)
def test_a_bad_file_is_one_clear_error(tmp_path, name, data, why):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError, match=why) as e:
        read_video(path)
    message = str(e.value)
    assert message.startswith(str(path)) and "\n" not in message and "ffmpeg" not in message


def test_truncated_and_missing_files_are_clear_errors(tmp_path):
    good = save_video(_clips()[0], tmp_path / "good.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"cut\.mp4: cannot read the video \(truncated"):
        read_video(tmp_path / "cut.mp4")
    with pytest.raises(DataError, match="no such video file"):
        read_video(tmp_path / "missing.gif")


def test_unwritable_video_paths_are_clear_errors(tmp_path):
    clip = torch.zeros(3, 2, 8, 8)
    (tmp_path / "file").write_text("")
    for name in ("file/a.mp4", "file/a.gif"):
        with pytest.raises(DataError, match=r"file/a\.(mp4|gif): cannot write"):
            save_video(clip, tmp_path / name)
    with pytest.raises(DataError, match=r"a\.avi: a video is written as \.gif or \.mp4"):
        save_video(clip, tmp_path / "a.avi")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_save_samples_writes_a_strip_a_gif_and_an_mp4(tmp_path):
    x = build_dataset(MovingShapesConfig(n=3, frames=5, image_size=16)).x
    path = save_samples(x, "video", tmp_path / "samples.png", nrow=3, sample_rate=5)
    with Image.open(path) as strip:  # rows = clips, columns = frames, upscaled 4x
        assert strip.size == ((5 * 17 + 1) * 4, (3 * 17 + 1) * 4)
    gif, fps = read_video(tmp_path / "samples.gif")
    mp4, fps_mp4 = read_video(tmp_path / "samples.mp4")
    assert gif.shape == (3, 5, 18 * 4, (3 * 17 + 1) * 4) and fps == 5
    assert mp4.shape == gif.shape and fps_mp4 == 5
    only = save_samples(x, "video", tmp_path / "only.mp4")
    assert only.exists() and not (tmp_path / "only.png").exists()


# ---------------------------------------- video-folder


def test_video_folder_loads_clips_by_class(tmp_path):
    root = tmp_path / "videos"
    shapes = build_dataset(MovingShapesConfig(n=3, frames=10, image_size=24)).x
    wide = torch.cat([shapes[2], shapes[2]], -1)  # 24x48: resized and centre-cropped
    save_video(shapes[0], root / "a" / "one.gif", fps=10)
    save_video(shapes[1], root / "a" / "two.mp4", fps=10)
    save_video(wide, root / "b" / "wide.mp4", fps=10)
    (root / "b" / "notes.txt").write_text("not a video")
    cfg = DATASETS["video-folder"].config(root=str(root), image_size=12, frames=6)
    ds = build_dataset(cfg)
    assert ds.x.shape == (3, 3, 6, 12, 12) and ds.x.dtype == torch.float32
    assert ds.cond["class"].tolist() == [0, 0, 1] and ds.class_names == ("a", "b")
    assert ds.modality == "video" and ds.sample_rate == 10
    assert float(ds.x.min()) >= -1 and float(ds.x.max()) <= 1
    grey = build_dataset(DATASETS["video-folder"].config(root=str(root), channels=1, frames=6))
    assert grey.x.shape == (3, 1, 6, 32, 32)
    with pytest.raises(DataError, match=r"one\.gif: has 10 frames, fewer than data\.frames=11"):
        build_dataset(DATASETS["video-folder"].config(root=str(root), frames=11))
    (root / "b" / "broken.mp4").write_bytes(b"\0" * 100)
    with pytest.raises(DataError, match=r"broken\.mp4: cannot read the video"):
        build_dataset(cfg)
    with pytest.raises(ConfigError, match="data.root"):
        build_dataset(DATASETS["video-folder"].config())
