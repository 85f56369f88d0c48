"""MNIST and Fashion-MNIST from their official IDX files, with a checked download.

- :func:`read_idx` reads any IDX file (raw or gzipped) into a tensor, checking the
  header and that the payload has exactly the declared size.
- :func:`make_mnist` loads a split as images ``(N, 1, S, S)`` in [-1, 1] (``S = 28``
  unless ``image_size`` asks for a bilinear resize) with labels 0-9 in ``cond["class"]``.
- :func:`download` fetches the gzipped files from the official mirrors, verifies each
  file's md5 and writes it atomically.

genlab's MNIST split convention, stated once here (:data:`MNIST_ROOT`,
:data:`MNIST_SPLIT`, :data:`TRAIN_STOP`): models train on the official *test* images
``[0, TRAIN_STOP)`` of ``../shared/data/mnist`` and ``[TRAIN_STOP, 10000)`` is held out for
evaluation.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from genlab.data.base import Dataset
from genlab.data.configs import MNISTConfig
from genlab.errors import ConfigError, DataError

# IDX type byte -> big-endian numpy dtype of the payload.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaceb59b8a60cf1b0e0b3d",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
_PREFIX = {"train": "train", "test": "t10k"}


def _decompress(path: Path, raw: bytes) -> bytes:
    """``raw`` itself, or its gzip decompression if it is gzipped (or named ``.gz``)."""
    if raw[:2] != b"\x1f\x8b":
        if path.suffix == ".gz":
            raise DataError(f"{path}: not a gzip file")
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise DataError(f"{path}: corrupt gzip data ({e})") from None


def read_idx(path: str | Path) -> torch.Tensor:
    """Read an IDX file (optionally gzipped) into a tensor of its declared dims.

    The header is ``0x00 0x00 <type> <ndim>`` then ``ndim`` big-endian uint32 sizes; the
    payload must hold exactly ``prod(sizes)`` values. MNIST images come back as
    ``(N, 28, 28)`` uint8, labels as ``(N,)`` uint8.

    Raises:
        DataError: one line naming the file: missing, not gzip, corrupt gzip, bad magic
            number, truncated header or payload, or trailing bytes.
    """
    path = Path(path)
    try:
        data = _decompress(path, path.read_bytes())
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(data) < 4:
        raise DataError(f"{path}: truncated: {len(data)} bytes, too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    kind, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or ndim == 0:
        raise DataError(f"{path}: bad magic number 0x{magic:08x} (not an IDX file)")
    if kind not in IDX_TYPES:
        raise DataError(f"{path}: bad magic number 0x{magic:08x} (unknown IDX type 0x{kind:02x})")
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DataError(f"{path}: truncated: header declares {ndim} dims but the file ends")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_TYPES[kind])
    expected = int(np.prod(dims)) * dtype.itemsize
    found = len(data) - head
    if found != expected:
        what = "pixel data" if ndim >= 2 else "label data" if kind == 0x08 else "data"
        problem = "truncated" if found < expected else "trailing bytes"
        raise DataError(
            f"{path}: {problem}: expected {expected} bytes of {what}, found {found} "
            f"(header dims {'x'.join(map(str, dims))})"
        )
    array = np.frombuffer(data, dtype=dtype, offset=head).reshape(dims)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, dest: Path, expected_md5: str) -> None:
    """Stream ``url`` into a temporary file beside ``dest``, check its md5, rename it.

    Network errors propagate (the caller tries the next mirror); a wrong md5 raises
    :class:`DataError`. The temporary file never outlives this call.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        h = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            for block in iter(lambda: resp.read(1 << 20), b""):
                h.update(block)
                out.write(block)
        if h.hexdigest() != expected_md5:
            raise DataError(
                f"{dest}: md5 mismatch for {url}: expected {expected_md5}, got {h.hexdigest()}"
            )
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def download(
    root: str | Path,
    variant: Literal["mnist", "fashion-mnist"] = "mnist",
    *,
    base_url: str | Sequence[str] | None = None,
    files: Sequence[str] | None = None,
) -> list[Path]:
    """Fetch the gzipped IDX files of ``variant`` into ``root``; return their paths.

    Args:
        root: target directory (created if missing).
        variant: ``"mnist"`` or ``"fashion-mnist"``.
        base_url: one mirror URL or a list tried in order (default :data:`MIRRORS`).
        files: a subset of the four official file names (default: all four).

    Files already present with the right md5 are skipped. Each file is checked against
    its official md5 and written atomically; a mismatch raises :class:`DataError`
    (naming the file, expected and actual md5) and leaves nothing behind. Mirrors are
    tried in order on network errors; if all fail, the error names every URL tried.
    """
    if variant not in MD5:
        raise ConfigError(
            f"data.name: unknown variant {variant!r}; choose from mnist, fashion-mnist"
        )
    sums = MD5[variant]
    names = list(sums) if files is None else list(files)
    for name in names:
        if name not in sums:
            raise ValueError(f"unknown {TITLES[variant]} file {name!r}; known: {', '.join(sums)}")
    mirrors = MIRRORS[variant] if base_url is None else base_url
    mirrors = (mirrors,) if isinstance(mirrors, str) else tuple(mirrors)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        dest = root / name
        paths.append(dest)
        if dest.is_file() and _md5(dest) == sums[name]:
            continue
        failures = []
        for base in mirrors:
            url = base.rstrip("/") + "/" + name
            try:
                _fetch(url, dest, sums[name])
                break
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                if isinstance(e, urllib.error.HTTPError):
                    reason = f"HTTP {e.code} {e.reason}"
                else:
                    reason = getattr(e, "reason", None) or e
                failures.append(f"{url} ({reason})")
        else:
            raise DataError(f"{dest}: download failed; tried {'; '.join(failures)}")
    return paths


def _find(root: Path, stem: str) -> Path | None:
    """``root/stem`` or ``root/stem.gz``, whichever exists (raw first)."""
    for p in (root / stem, root / f"{stem}.gz"):
        if p.is_file():
            return p
    return None


def _locate(cfg: MNISTConfig) -> tuple[Path, Path]:
    """The image and label files of ``cfg.split``, downloading them if allowed."""
    root = Path(cfg.root)
    title = TITLES[cfg.name]
    stems = [f"{_PREFIX[cfg.split]}-{k}-ubyte" for k in ("images-idx3", "labels-idx1")]
    found = [_find(root, s) for s in stems]
    if None in found and cfg.download:
        download(root, cfg.name, files=[f"{s}.gz" for s in stems])
        found = [_find(root, s) for s in stems]
    hint = f"set data.download=true to fetch {title}, or data.root=DIR to point at it"
    if not root.is_dir():
        raise DataError(f"{root}: no such directory for {title}; {hint}")
    for stem, path in zip(stems, found):
        if path is None:
            raise DataError(f"{root}: missing {stem} (or {stem}.gz); {hint}")
    return found[0], found[1]


def _slice(cfg: MNISTConfig, n: int) -> slice:
    stop = n if cfg.stop == -1 else cfg.stop
    if stop > n:
        raise ConfigError(f"data.stop: {cfg.stop} is past the end of the {cfg.split} split ({n})")
    if cfg.start >= stop:
        raise ConfigError(f"data.start: {cfg.start} selects nothing (stop is {stop})")
    return slice(cfg.start, stop)


def make_mnist(cfg: MNISTConfig) -> Dataset:
    """Load ``cfg.split`` of MNIST or Fashion-MNIST as ``(N, 1, S, S)`` images in [-1, 1]."""
    if cfg.name not in TITLES:
        raise ConfigError(f"data.name: {cfg.name!r} is not one of mnist, fashion-mnist")
    image_path, label_path = _locate(cfg)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != torch.uint8 or images.ndim != 3:
        raise DataError(
            f"{image_path}: expected uint8 images (N, H, W), got "
            f"{images.dtype} {tuple(images.shape)}"
        )
    if labels.dtype != torch.uint8 or labels.ndim != 1:
        raise DataError(
            f"{label_path}: expected uint8 labels (N,), got {labels.dtype} {tuple(labels.shape)}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{label_path}: {len(labels)} labels for {len(images)} images in {image_path.name}"
        )
    if int(labels.max()) > 9:
        raise DataError(f"{label_path}: label {int(labels.max())} out of range 0-9")
    sl = _slice(cfg, len(images))
    x = images[sl, None].float() / 127.5 - 1  # (N, 1, 28, 28)
    if cfg.image_size != x.shape[-1]:
        down = cfg.image_size < x.shape[-1]
        x = F.interpolate(
            x, size=cfg.image_size, mode="bilinear", align_corners=False, antialias=down
        ).clamp(-1, 1)
    y = labels[sl].long()
    return Dataset(x, {"class": y}, "image", 10, CLASS_NAMES[cfg.name])
