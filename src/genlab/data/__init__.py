"""Datasets by name. ``DATASETS`` maps a name to its :class:`DatasetSpec`.

Importing this package does not import torch: configs live in
:mod:`genlab.data.configs`, and a loader's module is imported by :func:`build_dataset`
the first time it builds (so ``genlab list`` and ``--dry-run`` start fast).

>>> from genlab.data import build_dataset, DATASETS
>>> ds = build_dataset(DATASETS["digits"].config())
>>> ds.x.shape
torch.Size([1797, 1, 8, 8])
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import genlab.config as C
from genlab.data import configs as K
from genlab.data.configs import TRAIN_STOP, Modality
from genlab.errors import ConfigError

if TYPE_CHECKING:
    from genlab.data.base import Dataset


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: the config dataclass, where its builder lives
    (``"module:function"``, imported on first use), how samples are shown and a one-line
    description."""

    config: type
    loader: str
    modality: Modality
    doc: str

    def build(self, cfg: Any) -> Dataset:
        module, name = self.loader.split(":")
        return getattr(importlib.import_module(module), name)(cfg)


DATASETS: dict[str, DatasetSpec] = {
    # genlab.data.toys
    "ring8": DatasetSpec(
        K.Ring8Config, "genlab.data.toys:make_ring8", "points", "8 Gaussians on a circle (PacGAN)"
    ),
    "grid25": DatasetSpec(
        K.Grid25Config,
        "genlab.data.toys:make_grid25",
        "points",
        "25 Gaussians on a 5x5 grid (PacGAN/VEEGAN)",
    ),
    "moons": DatasetSpec(
        K.MoonsConfig, "genlab.data.toys:make_moons", "points", "two interleaving half circles"
    ),
    "circles": DatasetSpec(
        K.CirclesConfig, "genlab.data.toys:make_circles", "points", "two concentric circles"
    ),
    "spiral": DatasetSpec(
        K.SpiralConfig, "genlab.data.toys:make_spiral", "points", "interleaved spiral arms"
    ),
    "checkerboard": DatasetSpec(
        K.CheckerboardConfig,
        "genlab.data.toys:make_checkerboard",
        "points",
        "uniform on the dark squares of a checkerboard",
    ),
    "swissroll": DatasetSpec(
        K.SwissRollConfig, "genlab.data.toys:make_swissroll", "points", "the 2-D swiss roll"
    ),
    # genlab.data.digits
    "digits": DatasetSpec(
        K.DigitsConfig,
        "genlab.data.digits:make_digits",
        "image",
        "1,797 8x8 handwritten digits from scikit-learn, labelled 0-9",
    ),
    # genlab.data.shapes
    "shapes": DatasetSpec(
        K.ShapesConfig,
        "genlab.data.shapes:make_shapes",
        "image",
        "coloured shapes on black with shape/colour/size/position labels and captions",
    ),
    # genlab.data.mnist
    "mnist": DatasetSpec(
        K.MNISTConfig,
        "genlab.data.mnist:make_mnist",
        "image",
        "MNIST handwritten digits (IDX files), labelled 0-9",
    ),
    "fashion-mnist": DatasetSpec(
        K.FashionMNISTConfig,
        "genlab.data.mnist:make_mnist",
        "image",
        "Fashion-MNIST clothing images (IDX files), 10 classes",
    ),
    # genlab.data.folder
    "folder": DatasetSpec(
        K.ImageFolderConfig,
        "genlab.data.folder:make_folder",
        "image",
        "images from a folder with one subfolder per class (PNG, JPEG, BMP, GIF, WebP)",
    ),
    # genlab.data.stacked
    "stacked-mnist": DatasetSpec(
        K.StackedMNISTConfig,
        "genlab.data.stacked:make_stacked_mnist",
        "image",
        "Stacked MNIST: 3 random MNIST digits as RGB channels, 1,000 modes",
    ),
    # genlab.data.audio
    "fsdd": DatasetSpec(
        K.FSDDConfig,
        "genlab.data.audio:make_fsdd",
        "audio",
        "Free Spoken Digit Dataset: 8 kHz spoken digits, 6 speakers (WAVs), digit/speaker labels "
        "or k-means clusters",
    ),
    "audio-folder": DatasetSpec(
        K.AudioFolderConfig,
        "genlab.data.audio:make_audio_folder",
        "audio",
        "audio files (WAV, FLAC, OGG) from a folder with one subfolder per class",
    ),
    "tones": DatasetSpec(
        K.TonesConfig,
        "genlab.data.audio:make_tones",
        "audio",
        "synthetic tones and chirps, 5 classes (no files needed)",
    ),
    # genlab.data.video
    "moving-mnist": DatasetSpec(
        K.MovingMNISTConfig,
        "genlab.data.video:make_moving_mnist",
        "video",
        "Moving MNIST: 2 MNIST digits bouncing in 64x64 for 20 frames, digit/direction labels",
    ),
    "moving-shapes": DatasetSpec(
        K.MovingShapesConfig,
        "genlab.data.video:make_moving_shapes",
        "video",
        "one coloured shape crossing the frame in 4 directions, with captions (no files needed)",
    ),
    "video-folder": DatasetSpec(
        K.VideoFolderConfig,
        "genlab.data.video:make_video_folder",
        "video",
        "video files (MP4, GIF) from a folder with one subfolder per class",
    ),
}


def dataset_config(name: str) -> type:
    """The config dataclass for dataset ``name``; a clear error names the valid ones."""
    if name not in DATASETS:
        raise ConfigError(
            f"data.name: unknown dataset {name!r}; choose from {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[name].config


def heldout_config(data_cfg) -> tuple[object, str]:
    """The reference set for a run trained on ``data_cfg``: its held-out part where the
    dataset defines one, else the training data. Returns ``(config, description)``."""
    name = data_cfg.name
    mnist_like = name in ("mnist", "fashion-mnist") and data_cfg.split == "test"
    if mnist_like and (data_cfg.start, data_cfg.stop) == (0, TRAIN_STOP):
        cfg = dataclasses.replace(data_cfg, start=TRAIN_STOP, stop=-1)
        return cfg, f"{name} test images [{TRAIN_STOP}, 10000) (held out)"
    if name == "fsdd" and data_cfg.split == "train":
        return dataclasses.replace(data_cfg, split="test"), "fsdd takes 0-4 (held out)"
    if name == "moving-mnist" and data_cfg.split == "train":
        cfg = dataclasses.replace(data_cfg, split="test")
        return cfg, f"moving-mnist from MNIST test images [{TRAIN_STOP}, 10000) (held out)"
    if name == "digits" and data_cfg.split == "train":
        return dataclasses.replace(data_cfg, split="test"), "digits test split (held out)"
    if hasattr(data_cfg, "seed") and hasattr(data_cfg, "n"):  # procedural: a fresh draw
        cfg = dataclasses.replace(data_cfg, seed=data_cfg.seed + 1, n=min(data_cfg.n, 10_000))
        return cfg, f"{name}, a fresh draw (seed {cfg.seed}, n {cfg.n})"
    return data_cfg, f"{name} training data (no held-out part defined)"


def build_dataset(cfg: Any) -> Dataset:
    """Build the dataset that config ``cfg`` (any registered data config) describes,
    checking its fields again first (it may have been changed since it was made)."""
    return DATASETS[cfg.name].build(C.revalidate(cfg))


__all__ = [
    "DATASETS",
    "DatasetSpec",
    "Modality",
    "build_dataset",
    "dataset_config",
    "heldout_config",
]
