"""Pictures of samples: image grids, 2-D scatter plots, animated GIFs, spectrograms; WAV
files; video as GIF or MP4. Everything is written atomically (a temporary file renamed
into place).

Images are ``(N, C, H, W)`` in [-1, 1]; points are ``(N, 2)``; waveforms ``(N, 1, L)`` in
[-1, 1]; video clips ``(N, C, T, H, W)`` in [-1, 1] (one clip: ``(C, T, H, W)``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from genlab.errors import ConfigError, DataError
from genlab.nn.audio import stft

PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (220, 190, 255),
    (170, 110, 40),
    (255, 250, 200),
    (128, 0, 0),
]


def to_uint8(x: Tensor) -> np.ndarray:
    """``(..., C, H, W)`` in [-1, 1] -> uint8 ``(..., H, W, C)``."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def image_grid(x: Tensor, nrow: int | None = None, pad: int = 1, fill: int = 0) -> np.ndarray:
    """Tile ``(N, C, H, W)`` images into one uint8 ``(H', W', C)`` array, ``nrow`` per row,
    ``pad`` pixels of grey level ``fill`` (0-255) between them."""
    n, c, h, w = x.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    imgs = to_uint8(x)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), fill, np.uint8)
    for i in range(n):
        r, k = divmod(i, nrow)
        grid[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + k * (w + pad) : pad + k * (w + pad) + w,
        ] = imgs[i]
    return grid


def auto_scale(h: int, min_px: int = 64) -> int:
    """An integer upscale so an ``h``-pixel image is shown at least ``min_px`` tall."""
    return max(1, math.ceil(min_px / h))


def _to_image(arr: np.ndarray, scale: int = 1) -> Image.Image:
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def file_in_the_way(path: Path) -> Path | None:
    """The nearest folder of ``path`` that exists as a file (so ``path`` can never be
    written), else None."""
    return next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)


def check_writable(path: Path, flag: str) -> None:
    """Refuse, before any work, an output ``path`` that cannot be written: a folder of it
    that is a file, or ``path`` itself a folder.

    Raises:
        ConfigError: one line naming ``flag``, ``path`` and what is in the way.
    """
    blocked = file_in_the_way(path)
    if blocked is not None:
        raise ConfigError(f"{flag}: cannot write {path} ({blocked} is a file, not a folder)")
    if Path(path).is_dir():
        raise ConfigError(f"{flag}: {path} is a folder; give a file name")


def _atomic_save(img: Image.Image, path: Path, **kw) -> Path:
    """Write ``img`` to a temporary file beside ``path``, then rename it into place.

    Raises:
        DataError: ``path`` cannot be written (a directory, a parent that is a file, no
            permission); the message names it and nothing is left behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    fmt = path.suffix.lstrip(".").upper().replace("JPG", "JPEG")  # any case: .PNG, .Jpg
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(tmp, format=fmt, **kw)
        os.replace(tmp, path)
    except OSError as e:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        blocker = file_in_the_way(path)
        why = f"{blocker} is a file, not a folder" if blocker else e.strerror or e
        raise DataError(f"{path}: cannot write the picture ({why})") from None
    return path


def save_image(x: Tensor, path: Path) -> Path:
    """Save one ``(C, H, W)`` image in [-1, 1] at its own size, pixel for pixel (8-bit
    grey for 1 channel, RGB for 3): the input format of ``genlab edit``."""
    return _atomic_save(_to_image(to_uint8(x)), path)


def save_grid(x: Tensor, path: Path, nrow: int | None = None, scale: int | None = None) -> Path:
    """Save images ``(N, C, H, W)`` as one PNG grid, upscaled so a person can see them."""
    scale = auto_scale(x.shape[-2]) if scale is None else scale
    return _atomic_save(_to_image(image_grid(x, nrow), scale), path)


def scatter(
    points: Tensor,
    labels: Tensor | None = None,
    size: int = 512,
    lim: float | None = None,
    ref: Tensor | None = None,
) -> np.ndarray:
    """Draw ``(N, 2)`` points on a white ``size x size`` canvas; ``ref`` points in grey."""
    p = points.detach().float().cpu()
    lim = lim or float(torch.quantile(p.abs().flatten(), 0.995).clamp(min=1e-3)) * 1.15
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)

    def px(q):
        return ((q[:, 0] / lim + 1) * size / 2).tolist(), ((1 - q[:, 1] / lim) * size / 2).tolist()

    if ref is not None:
        for u, v in zip(*px(ref.float().cpu())):
            draw.point((u, v), fill=(190, 190, 190))
    colors = (
        [PALETTE[int(c) % len(PALETTE)] for c in labels.tolist()]
        if labels is not None
        else [(20, 60, 160)] * len(p)
    )
    for (u, v), col in zip(zip(*px(p)), colors):
        draw.ellipse((u - 1, v - 1, u + 1, v + 1), fill=col)
    return np.asarray(img)


def save_scatter(points: Tensor, path: Path, labels: Tensor | None = None, **kw) -> Path:
    return _atomic_save(Image.fromarray(scatter(points, labels, **kw)), path)


def save_gif(frames: Tensor, path: Path, fps: float = 10, scale: int | None = None) -> Path:
    """Save ``(T, C, H, W)`` frames in [-1, 1] as a looping animated GIF."""
    scale = auto_scale(frames.shape[-2]) if scale is None else scale
    return write_animation(to_uint8(frames), path, fps, scale)


DEFAULT_FPS = 8  # frames per second of sample videos whose data names none
MP4_CRF = 18  # H.264 constant rate factor: 0 lossless, 18 visually lossless, 51 worst


def gif_delay_ms(fps: float) -> int:
    """The per-frame delay a GIF stores for ``fps``: whole 1/100 s, at least 1/50 s (the
    shortest delay browsers honour), so the file plays at ``100 / round(100 / fps)`` fps."""
    return 10 * max(2, round(100 / fps))


def _write_gif(frames: np.ndarray, path: Path, fps: float, scale: int) -> Path:
    """``(T, H, W, C)`` uint8 frames as a looping GIF. Grey frames are stored exactly; RGB
    frames go through Pillow's per-frame palette of 256 colours (exact when a frame has at
    most 256). Pillow merges identical consecutive frames into one longer frame;
    :func:`genlab.data.video_io.read_video` repeats it back."""
    imgs = [_to_image(f, scale) for f in frames]
    kw = {"save_all": True, "append_images": imgs[1:], "loop": 0}
    return _atomic_save(imgs[0], path, duration=gif_delay_ms(fps), **kw)


def _even(frames: np.ndarray) -> np.ndarray:
    """``(T, H, W, C)`` frames padded to even ``H`` and ``W`` by repeating the last row or
    column: H.264 in yuv420p (half-resolution colour) needs even sizes."""
    _, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _write_mp4(frames: np.ndarray, path: Path, fps: float, scale: int) -> Path:
    """``(T, H, W, C)`` uint8 frames as an H.264 MP4 (yuv420p, CRF :data:`MP4_CRF`, the
    ffmpeg of ``imageio-ffmpeg``) that browsers and players open. An odd height or width
    (after ``scale``) is padded by one repeated row or column, so the file is then one
    pixel larger than the frames; nothing is resized otherwise."""
    import imageio_ffmpeg

    path = Path(path)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    if frames.shape[-1] == 1:
        frames = frames.repeat(3, axis=-1)
    frames = _even(frames)
    _, h, w, _ = frames.shape
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    blocked = file_in_the_way(path)
    if blocked is not None:
        raise DataError(f"{path}: cannot write the video ({blocked} is a file, not a folder)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            (w, h),
            fps=fps,
            codec="libx264",
            pix_fmt_out="yuv420p",
            quality=None,
            macro_block_size=1,
            ffmpeg_log_level="error",
            output_params=["-crf", str(MP4_CRF), "-movflags", "+faststart", "-f", "mp4"],
        )
        try:
            writer.send(None)
            for f in frames:
                writer.send(np.ascontiguousarray(f))
        finally:
            writer.close()  # waits for ffmpeg to finish the file (or stops it)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        lines = str(e).strip().splitlines()
        reason = getattr(e, "strerror", None) or (lines[-1] if lines else type(e).__name__)
        raise DataError(f"{path}: cannot write the video ({reason})") from None
    return path


def write_animation(frames: np.ndarray, path: Path, fps: float, scale: int = 1) -> Path:
    """Write ``(T, H, W, C)`` uint8 frames (C = 1 or 3) as a GIF or MP4 by ``path``'s
    suffix (any case), each pixel ``scale`` x ``scale``, atomically.

    Raises:
        DataError: another suffix, or ``path`` cannot be written (names it)."""
    kind = Path(path).suffix.lower()
    if kind not in (".gif", ".mp4"):
        raise DataError(f"{path}: a video is written as .gif or .mp4, not {kind or '(none)'!r}")
    write = _write_gif if kind == ".gif" else _write_mp4
    return write(frames, Path(path), fps, scale)


def save_video(frames: Tensor, path: Path, fps: float = DEFAULT_FPS, scale: int = 1) -> Path:
    """Save one clip ``(C, T, H, W)`` in [-1, 1] as ``path`` (``.gif`` or ``.mp4``) at
    ``fps`` frames per second, each pixel ``scale`` x ``scale``: the layout
    :func:`genlab.data.video_io.read_video` returns. MP4 is H.264 in yuv420p, which needs
    even sizes: an odd height or width gains one repeated row or column. GIF stores whole
    1/100 s delays (:func:`gif_delay_ms`). Raises :class:`DataError` as
    :func:`write_animation`."""
    return write_animation(to_uint8(frames.movedim(0, 1)), path, fps, scale)


VIDEO_FILL = 128  # grey between clips and frames, so black backgrounds stay apart


def video_grid(x: Tensor, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """Clips ``(N, C, T, H, W)`` -> uint8 frames ``(T, H', W', C)``: frame ``t`` is the
    :func:`image_grid` of every clip's frame ``t`` (grey between clips)."""
    frames = [image_grid(x[:, :, t], nrow, pad, VIDEO_FILL) for t in range(x.shape[2])]
    return np.stack(frames)


def frame_strip(x: Tensor, pad: int = 1) -> np.ndarray:
    """Clips ``(N, C, T, H, W)`` -> one uint8 picture ``(H', W', C)``: a row per clip, a
    column per frame (grey between them)."""
    n, c, t, h, w = x.shape
    return image_grid(x.movedim(2, 1).reshape(n * t, c, h, w), t, pad, VIDEO_FILL)


def save_video_samples(
    x: Tensor, path: Path, nrow: int | None = None, fps: float = DEFAULT_FPS
) -> Path:
    """Save clips ``(N, C, T, H, W)``: ``path`` ending in ``.gif`` or ``.mp4`` is one
    animation of grids (:func:`video_grid`); any other suffix (``.png``) is the frame strip
    (:func:`frame_strip`) with the GIF and MP4 beside it (same name, those suffixes).
    Upscaled so a frame is at least 64 pixels tall. Returns ``path``.

    Raises:
        DataError: a target that is a folder (checked before anything is written), or one
            that cannot be written.
    """
    path = Path(path)
    scale = auto_scale(x.shape[-2])
    if path.suffix.lower() in (".gif", ".mp4"):
        return write_animation(video_grid(x, nrow), path, fps, scale)
    targets = [path.with_suffix(".gif"), path.with_suffix(".mp4"), path]
    folder = next((p for p in targets if p.is_dir()), None)
    if folder is not None:
        raise DataError(f"{folder}: is a folder; the clips cannot be written there")
    grid = video_grid(x, nrow)
    for target in targets[:2]:
        write_animation(grid, target, fps, scale)
    _atomic_save(_to_image(frame_strip(x), scale), path)
    return path


# Anchors of a perceptually ordered dark-to-bright colour map (black, purple, orange,
# pale yellow) for spectrograms.
_HEAT = torch.tensor([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]])


def spectrogram_images(
    x: Tensor, n_fft: int = 256, hop_length: int = 64, top_db: float = 80.0
) -> Tensor:
    """Waveforms ``(N, 1, L)`` -> RGB spectrogram pictures ``(N, 3, n_fft // 2 + 1, T)`` in
    [-1, 1]: the STFT magnitude in dB, the loudest bin of all ``N`` at the top of the
    colour map and ``top_db`` below it at the bottom, low frequencies at the bottom."""
    mag = stft(x.detach().float().cpu()[:, 0], n_fft, hop_length).abs()  # (N, F, T)
    db = 20 * torch.log10(mag.clamp(min=1e-8))
    level = ((db - db.max() + top_db) / top_db).clamp(0, 1).flip(1)  # (N, F, T), 1 = loud
    pos = level * (len(_HEAT) - 1)
    i = pos.floor().long().clamp(max=len(_HEAT) - 2)
    w = (pos - i)[..., None]
    rgb = _HEAT[i].float() * (1 - w) + _HEAT[i + 1].float() * w  # (N, F, T, 3) in [0, 255]
    return (rgb / 127.5 - 1).permute(0, 3, 1, 2)


def write_wav(x: Tensor, path: Path, sample_rate: int) -> Path:
    """Write one waveform ``(1, L)`` or ``(L,)`` in [-1, 1] (clipped) as a 16-bit PCM mono
    WAV at ``sample_rate`` Hz, atomically.

    Raises:
        DataError: ``path`` cannot be written; the message names it."""
    import soundfile as sf

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    data = x.detach().float().cpu().reshape(-1).clamp(-1, 1).numpy()
    blocked = file_in_the_way(path)
    if blocked is not None:
        raise DataError(f"{path}: cannot write the WAV ({blocked} is a file, not a folder)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp, data, sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        reason = getattr(e, "strerror", None) or e
        raise DataError(f"{path}: cannot write the WAV ({reason})") from None
    return path


def save_audio(x: Tensor, path: Path, sample_rate: int) -> Path:
    """Waveforms ``(N, 1, L)`` as WAV: ``path`` itself for one, else ``path`` without its
    suffix as a folder of ``000.wav``, ``001.wav``, ...; returns what was written."""
    path = Path(path)
    if len(x) == 1:
        return write_wav(x[0], path, sample_rate)
    folder = path.with_suffix("")
    for i, w in enumerate(x):
        write_wav(w, folder / f"{i:03d}.wav", sample_rate)
    return folder


def save_samples(
    x: Tensor,
    modality: str,
    path: Path,
    nrow: int | None = None,
    labels: Tensor | None = None,
    sample_rate: int = 0,
) -> Path:
    """Save samples the way their modality is looked at or listened to: a grid PNG, a
    scatter PNG; audio as WAV (``path`` ending in ``.wav``, needing ``sample_rate``) or a
    grid of spectrogram pictures (any other suffix); video as :func:`save_video_samples`
    does at ``sample_rate`` frames per second (:data:`DEFAULT_FPS` when 0): ``x.png`` is the
    frame strip plus ``x.gif`` and ``x.mp4`` of grids."""
    if modality == "video":
        return save_video_samples(x, path, nrow, sample_rate or DEFAULT_FPS)
    if modality == "points":
        return save_scatter(x, path, labels)
    if modality == "image":
        return save_grid(x, path, nrow)
    if modality == "audio":
        if Path(path).suffix.lower() == ".wav":
            if sample_rate < 1:
                raise ValueError("saving audio as WAV needs its sample_rate")
            return save_audio(x, path, sample_rate)
        return save_grid(spectrogram_images(x), path, nrow, scale=1)
    raise ValueError(f"no picture for modality {modality!r} yet")
