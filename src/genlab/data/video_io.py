"""Reading video files: MP4 (and anything else ffmpeg decodes) and animated GIF.

:func:`read_video` returns ``(x, fps)``: ``x`` is ``(C, T, H, W)`` float32 in [-1, 1]
(black -1, white +1), ``fps`` the frame rate in frames per second.

- MP4 and other containers are decoded by the ffmpeg binary that ships in the
  ``imageio-ffmpeg`` package (``imageio_ffmpeg.read_frames``), as 8-bit RGB.
- GIF is read with Pillow, each frame composited by Pillow's GIF reader (a frame that
  updates part of the picture shows the whole picture); transparent pixels are black, the
  video background. A GIF stores a delay per frame in 1/100 s, not a frame rate: the
  shortest delay is taken as the frame period (``fps = 1000 / delay_ms``; a GIF without
  delays plays at 10 fps, as browsers show it) and a frame shown ``k`` periods long is
  repeated ``k`` times. So a clip written by :func:`genlab.viz.save_video`, whose GIF
  writer merges identical consecutive frames into one longer frame, reads back with all
  its frames.

Grey output (``channels=1``) is the ITU-R 601-2 luma of the RGB frames, as
:mod:`genlab.data.folder` computes it.

Every failure (a missing, empty, truncated or corrupt file, a file with no video stream,
a text file named ``.gif``) raises :class:`~genlab.errors.DataError` with one line naming
the file and what is wrong; ffmpeg's own log never becomes the message.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence
from torch import Tensor

from genlab.data.folder import _luma
from genlab.errors import DataError

GIF_DEFAULT_DELAY_MS = 100  # a GIF frame with no delay plays this long in browsers

_FFMPEG_PREFIX = re.compile(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*")
# ffmpeg log phrases -> the reason given (the first found wins); else its last line.
_FFMPEG_REASONS = (
    ("does not contain any stream", "no video stream"),
    ("partial file", "truncated file"),
    ("moov atom not found", "no MP4 index (moov atom): truncated or not an MP4"),
    ("Invalid data found when processing input", "invalid data: not a video ffmpeg reads"),
    ("Permission denied", "permission denied"),
)


def _ffmpeg_reason(e: BaseException) -> str:
    """A short reason for ffmpeg's failure ``e`` (its message holds ffmpeg's whole log):
    a known phrase's meaning, else the log's last line without its ``[demuxer @ 0x...]``
    prefix."""
    text = str(e)
    for phrase, reason in _FFMPEG_REASONS:
        if phrase in text:
            return reason
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(e).__name__
    last = _FFMPEG_PREFIX.sub("", lines[-1])
    for head in ("Error opening input files: ", "Error opening input: "):
        last = last.removeprefix(head)
    return last[:200]


def _stack(path: Path, frames: list[np.ndarray]) -> np.ndarray:
    """The frames ``(T, H, W, 3)``; frames of different sizes are a :class:`DataError`."""
    sizes = sorted({f.shape[:2] for f in frames})
    if len(sizes) > 1:
        shown = ", ".join(f"{w}x{h}" for h, w in sizes[:3])
        raise DataError(f"{path}: frames of different sizes ({shown}): corrupt file")
    return np.stack(frames)


def _read_ffmpeg(path: Path, max_frames: int | None) -> tuple[np.ndarray, float]:
    """``(frames (T, H, W, 3) uint8, fps)`` decoded by ffmpeg."""
    import imageio_ffmpeg

    frames = []
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
        w, h = meta["size"]
        for raw in reader:
            frames.append(np.frombuffer(raw, np.uint8).reshape(h, w, 3))
            if max_frames is not None and len(frames) >= max_frames:
                break
    except (OSError, RuntimeError, ValueError, KeyError, StopIteration) as e:
        raise DataError(f"{path}: cannot read the video ({_ffmpeg_reason(e)})") from None
    finally:
        reader.close()  # stops ffmpeg if frames are left
    fps = float(meta.get("fps") or 0)
    if fps <= 0:
        raise DataError(f"{path}: the video declares no frame rate")
    if not frames:
        raise DataError(f"{path}: the video has no frames")
    return _stack(path, frames), fps


def _rgb_over_black(frame: Image.Image) -> np.ndarray:
    """One Pillow frame as ``(H, W, 3)`` float32 in [0, 255], transparency over black."""
    if frame.mode in ("RGBA", "PA", "LA", "La", "RGBa") or "transparency" in frame.info:
        rgba = np.asarray(frame.convert("RGBA"), dtype=np.float32)
        return rgba[..., :3] * (rgba[..., 3:] / 255)
    return np.asarray(frame.convert("RGB"), dtype=np.float32)


def _read_gif(path: Path, max_frames: int | None) -> tuple[np.ndarray, float]:
    """``(frames (T, H, W, 3) float32 in [0, 255], fps)`` from an animated (or still) GIF."""
    frames, delays = [], []
    try:
        with Image.open(path) as im:
            if im.format != "GIF":
                raise DataError(f"{path}: not a GIF file (Pillow reads it as {im.format})")
            for frame in ImageSequence.Iterator(im):
                frames.append(_rgb_over_black(frame))
                delays.append(int(frame.info.get("duration") or 0))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except (IndexError, struct.error, EOFError):  # Pillow running off the end of the data
        raise DataError(f"{path}: cannot read the GIF (truncated or corrupt data)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read the GIF ({e})") from None
    period = min((d for d in delays if d > 0), default=GIF_DEFAULT_DELAY_MS)
    repeats = [max(1, round(d / period)) if d > 0 else 1 for d in delays]
    out = _stack(path, [f for f, k in zip(frames, repeats) for _ in range(k)])
    return (out if max_frames is None else out[:max_frames]), 1000.0 / period


def read_video(
    path: str | Path, channels: int = 3, max_frames: int | None = None
) -> tuple[Tensor, float]:
    """Read the video at ``path`` (``.gif`` with Pillow, anything else with ffmpeg).

    Args:
        path: an MP4 (or other ffmpeg-readable video) or a GIF.
        channels: 3 for RGB, 1 for grey (ITU-R 601-2 luma).
        max_frames: stop after this many frames (None: read them all).

    Returns:
        ``(x, fps)``: ``x`` ``(channels, T, H, W)`` float32 in [-1, 1], ``fps`` in frames
        per second (module docstring for GIF timing).

    Raises:
        DataError: one line naming ``path``: missing, empty, unreadable or corrupt, not a
            GIF though named ``.gif``, no video stream or no frames.
    """
    path = Path(path)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if not path.is_file():
        raise DataError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the video file is empty (0 bytes)")
    if path.suffix.lower() == ".gif":
        a, fps = _read_gif(path, max_frames)
    else:
        a, fps = _read_ffmpeg(path, max_frames)
    a = a.astype(np.float32)
    if channels == 1:
        a = _luma(a)
    x = torch.from_numpy(np.clip(a, 0, 255) / 127.5 - 1).float()  # (T, H, W, C)
    return x.permute(3, 0, 1, 2).contiguous(), fps
