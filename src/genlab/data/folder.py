"""``folder``: images from a directory with one subfolder per class.

::

    root/
      cat/  a.png  b.jpg  ...
      dog/  c.png  more/d.webp  ...

Class ids follow the sorted subfolder names; each class's images are found recursively
and taken in sorted path order. Hidden files and folders (``.name``) are ignored. Every
image is converted to greyscale (``channels=1``) or RGB (``channels=3``), resized so its
shorter side is ``image_size`` (bicubic, antialiased), center-cropped to a square and
scaled to [-1, 1]: ``x`` is ``(N, C, S, S)`` float32. For unlabelled data use a single
subfolder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from genlab.data.base import Dataset, DatasetSpec
from genlab.errors import ConfigError, DataError


@dataclass
class ImageFolderConfig:
    name: Literal["folder"] = "folder"
    root: str = ""
    image_size: int = 32
    channels: Literal[1, 3] = 3
    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def list_images(cfg: ImageFolderConfig) -> tuple[list[str], list[tuple[Path, int]]]:
    """The class names and ``(path, class id)`` of every image under ``cfg.root``."""
    if not cfg.root:
        raise ConfigError("data.root: set it to a folder with one subfolder of images per class")
    root = Path(cfg.root)
    if not root.is_dir():
        raise DataError(f"{root}: no such directory")
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in cfg.extensions}
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and _visible(p, root))
    if not classes:
        loose = [p for p in root.iterdir() if p.suffix.lower() in exts]
        extra = f" (found {len(loose)} images directly in it)" if loose else ""
        raise DataError(
            f"{root}: no class subfolders{extra}; put the images in one subfolder per class"
        )
    items = []
    for k, name in enumerate(classes):
        files = sorted(
            p
            for p in (root / name).rglob("*")
            if p.suffix.lower() in exts and p.is_file() and _visible(p, root)
        )
        if not files:
            raise DataError(f"{root / name}: no images with extensions {', '.join(sorted(exts))}")
        items += [(p, k) for p in files]
    return classes, items


def load_image(path: Path, size: int, channels: int) -> np.ndarray:
    """One image as ``(size, size, channels)`` uint8: shorter side resized, center-cropped."""
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            w, h = im.size
            scale = size / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            im = im.resize((nw, nh), Image.Resampling.BICUBIC)
            left, top = (nw - size) // 2, (nh - size) // 2
            im = im.crop((left, top, left + size, top + size))
            a = np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from None
    return a.reshape(size, size, channels)


def make_folder(cfg: ImageFolderConfig) -> Dataset:
    """Load every image under ``cfg.root`` into ``(N, C, S, S)`` in [-1, 1], labelled by folder."""
    if cfg.image_size < 1:
        raise ConfigError(f"data.image_size: must be positive, got {cfg.image_size}")
    if cfg.channels not in (1, 3):
        raise ConfigError(f"data.channels: must be 1 or 3, got {cfg.channels}")
    classes, items = list_images(cfg)
    x = np.stack([load_image(p, cfg.image_size, cfg.channels) for p, _ in items])
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1
    y = torch.tensor([k for _, k in items], dtype=torch.int64)
    return Dataset(x.contiguous(), {"class": y}, "image", len(classes), tuple(classes))


SPECS = {
    "folder": DatasetSpec(
        ImageFolderConfig,
        make_folder,
        "image",
        "images from a folder with one subfolder per class (PNG, JPEG, BMP, GIF, WebP)",
    ),
}
