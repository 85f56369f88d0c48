"""``folder``: images from a directory with one subfolder per class.

::

    root/
      cat/  a.png  b.jpg  ...
      dog/  c.png  more/d.webp  ...

Class ids follow the sorted subfolder names; each class's images are found recursively
and taken in sorted path order. Hidden files and folders (``.name``) are ignored. Every
image is turned upright by its EXIF orientation, converted to greyscale (``channels=1``,
ITU-R 601-2 luma as in Pillow) or RGB (``channels=3``), resized so its shorter side is
``image_size`` (bicubic, antialiased, in float32 at the file's own bit depth),
center-cropped to a square and scaled to [-1, 1] by the white level of its bit depth:
``x`` is ``(N, C, S, S)`` float32, black -1 and white +1. For unlabelled data use a
single subfolder. Only the first frame of an animated file is read.

Pillow modes (the white level in brackets):

- ``1`` [1], ``L``, ``P``, ``RGB``, ``RGBX``, ``CMYK`` (naive, no ICC), ``YCbCr`` [255];
  2- and 4-bit PNGs open as ``L``/``P`` already rescaled. 16-bit RGB(A) PNGs are read by
  Pillow as 8 bits per channel (the high byte: the right scale, 8-bit precision).
- ``I;16``, ``I;16L``, ``I;16B``, ``I;16N`` (16-bit greyscale PNG, TIFF) [65535], and
  ``I`` from PNG or PGM/PPM, which Pillow scales to [65535].
- With transparency (``LA``, ``La``, ``PA``, ``RGBA``, ``RGBa``, or ``P``/``L``/``RGB``
  with a transparent colour): composited over the grey level ``background`` (default 1,
  white, as image viewers show them) before any other step.

Refused by name, with the file and the mode (:class:`~genlab.errors.DataError`): ``F``
(floating point) and ``I`` from other formats (32-bit or signed integers: no defined
white level), ``LAB`` and ``HSV`` (need a colour-managed conversion), a 16-bit image
with a transparent colour, and any other mode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from genlab.data.base import Dataset
from genlab.data.configs import ImageFolderConfig
from genlab.errors import ConfigError, DataError


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def list_images(
    cfg: ImageFolderConfig, what: str = "images"
) -> tuple[list[str], list[tuple[Path, int]]]:
    """The class names and ``(path, class id)`` of every file under ``cfg.root`` with one
    of ``cfg.extensions``; ``what`` names the files in errors ("images", "videos")."""
    if not cfg.root:
        raise ConfigError(f"data.root: set it to a folder with one subfolder of {what} per class")
    root = Path(cfg.root)
    if not root.is_dir():
        raise DataError(f"{root}: no such directory")
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in cfg.extensions}
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and _visible(p, root))
    if not classes:
        loose = [p for p in root.iterdir() if p.suffix.lower() in exts]
        extra = f" (found {len(loose)} {what} directly in it)" if loose else ""
        raise DataError(
            f"{root}: no class subfolders{extra}; put the {what} in one subfolder per class"
        )
    items = []
    for k, name in enumerate(classes):
        files = sorted(
            p
            for p in (root / name).rglob("*")
            if p.suffix.lower() in exts and p.is_file() and _visible(p, root)
        )
        if not files:
            raise DataError(f"{root / name}: no {what} with extensions {', '.join(sorted(exts))}")
        items += [(p, k) for p in files]
    return classes, items


GREY16 = ("I;16", "I;16L", "I;16B", "I;16N")
ALPHA = ("LA", "La", "PA", "RGBA", "RGBa")
PLAIN = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr")
REFUSED = {
    "F": "floating-point pixels have no defined white level; save it as 8- or 16-bit",
    "I": "32-bit or signed integer pixels have no defined white level; save it as 8- or 16-bit",
    "LAB": "convert it to RGB first (needs a colour-managed conversion)",
    "HSV": "convert it to RGB first",
}


def _refuse(path: Path, mode: str, why: str) -> DataError:
    return DataError(f"{path}: image mode {mode} is not supported: {why}")


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma (Pillow's ``convert("L")`` weights) of ``(H, W, 3)`` -> ``(H, W, 1)``."""
    return (299 * rgb[..., :1] + 587 * rgb[..., 1:2] + 114 * rgb[..., 2:]) / 1000


def pixels(
    im: Image.Image, channels: int, background: float, path: Path
) -> tuple[np.ndarray, float]:
    """``(a, white)``: ``im`` as ``(H, W, channels)`` float32 on its own scale ``[0, white]``
    (exact for 8- and 16-bit values; module docstring for each mode).

    Raises:
        DataError: ``im``'s mode is refused; the message names ``path`` and the mode.
    """
    mode, transparent = im.mode, "transparency" in im.info
    if mode in GREY16 or (mode == "I" and im.format in ("PNG", "PPM")):
        if transparent:
            raise _refuse(path, mode, "16-bit pixels with a transparent colour")
        a = np.asarray(im, dtype=np.float32)[..., None]
        return np.repeat(a, channels, axis=2), 65535.0
    if mode in ALPHA or (transparent and mode in PLAIN):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255
        rgb = rgba[..., :3] * rgba[..., 3:] + background * (1 - rgba[..., 3:])
        grey = mode in ("LA", "La") or (mode == "L" and transparent)
        if channels == 3:
            return rgb, 1.0
        return (rgb[..., :1] if grey else _luma(rgb)), 1.0
    if mode in PLAIN:
        a = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32)
        return a.reshape(*a.shape[:2], channels), 255.0
    raise _refuse(path, mode, REFUSED.get(mode, "unknown to this loader"))


def _resize_crop(a: np.ndarray, size: int) -> np.ndarray:
    """Shorter side to ``size`` (bicubic, antialiased, float32 per channel), center crop."""
    h, w = a.shape[:2]
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    left, top = (nw - size) // 2, (nh - size) // 2
    box = (left, top, left + size, top + size)
    planes = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(a[..., c]))
            .resize((nw, nh), Image.Resampling.BICUBIC)
            .crop(box)
        )
        for c in range(a.shape[2])
    ]
    return np.stack(planes, axis=2)


def load_image(path: Path, size: int, channels: int, background: float = 1.0) -> np.ndarray:
    """One image as ``(size, size, channels)`` float32 in [-1, 1] (black -1, white +1 at the
    file's bit depth): upright by EXIF, shorter side resized, center-cropped.

    Raises:
        DataError: the file cannot be read, or its mode is refused (module docstring).
    """
    try:
        with Image.open(path) as im:
            ImageOps.exif_transpose(im, in_place=True)
            a, white = pixels(im, channels, background, path)
            a = _resize_crop(a, size)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from None
    return to_unit(a, white)


def to_unit(a: np.ndarray, white: float) -> np.ndarray:
    """Pixel values on the scale ``[0, white]`` as float32 in [-1, 1] (black -1, white +1)."""
    return (np.clip(a.astype(np.float64), 0.0, white) / white * 2 - 1).astype(np.float32)


def make_folder(cfg: ImageFolderConfig) -> Dataset:
    """Load every image under ``cfg.root`` into ``(N, C, S, S)`` in [-1, 1], labelled by folder."""
    classes, items = list_images(cfg)
    x = np.stack([load_image(p, cfg.image_size, cfg.channels, cfg.background) for p, _ in items])
    x = torch.from_numpy(x).permute(0, 3, 1, 2)
    y = torch.tensor([k for _, k in items], dtype=torch.int64)
    return Dataset(x.contiguous(), {"class": y}, "image", len(classes), tuple(classes))


GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")


def open_picture(path: Path, what: str) -> Image.Image:
    """The picture at ``path``, loaded; a missing or unreadable file is a :class:`DataError`
    naming it as ``what`` ("image", "mask", ...)."""
    if path.is_dir():
        raise DataError(f"{path}: the {what} is a folder, not a file")
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        im = Image.open(path)
        im.load()
        return im
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read the {what} ({e})") from None


def read_picture(
    path: str | Path, shape: tuple[int, int, int], role: str = "images", any_channels=False
) -> Tensor:
    """The picture at ``path`` as ``(C, H, W)`` float32 in [-1, 1], checked against the
    run's ``shape`` ``(C, H, W)``: upright by its EXIF orientation; a grey file (modes 1,
    L, LA, I;16, ...) has 1 channel, any other (palette, RGB, RGBA) 3; transparency is
    composited on white; 16-bit values keep their precision here (outputs are 8-bit).

    ``role`` names what the run makes in messages ("images", "controls");
    ``any_channels``: keep the file's own channel count (1 or 3) instead of checking it.

    Raises:
        DataError: a missing or unreadable file, or another size or channel count (the
            message names the file and both sizes).
    """
    path = Path(path)
    c, h, w = shape
    with open_picture(path, "image") as im:
        ImageOps.exif_transpose(im, in_place=True)  # upright, as the training loader reads
        have = 1 if im.mode in GREY_MODES else 3
        if (im.height, im.width) != (h, w):
            hint = " (genlab sample RUN --n 1 --out x.png writes one)" if role == "images" else ""
            raise DataError(
                f"{path}: the image is {im.width}x{im.height} pixels but the run makes "
                f"{w}x{h} {role}{hint}"
            )
        if any_channels:
            c = have
        if have != c:
            raise DataError(
                f"{path}: the image has {have} channel(s) (mode {im.mode}) but the run makes "
                f"{c}-channel {role}"
            )
        a, white = pixels(im, c, 1.0, path)
    return torch.from_numpy(to_unit(a, white)).permute(2, 0, 1).contiguous()
