"""Every dataset's config dataclass, importable without torch.

``genlab list``, ``--dry-run`` and config parsing read these alone; the loaders
(``genlab.data.toys``, ``genlab.data.mnist``, ...) import their config from here and are
imported by :func:`genlab.data.build_dataset` the first time a dataset is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from genlab.errors import ConfigError

# How samples are shown and saved (grid PNG, scatter, WAV, ...).
Modality = Literal["points", "image", "video", "audio", "tokens"]


# Field rules every dataset config shares, checked when a config is made (so --dry-run
# and config overrides catch them): field -> (test, what it must be).
_RULES = {
    "n": (lambda v: v >= 1, "at least 1"),
    "std": (lambda v: v >= 0, ">= 0"),
    "image_size": (lambda v: v >= 1, "positive"),
    "test_fraction": (lambda v: 0 < v < 1, "in (0, 1)"),
    "factor": (lambda v: 0 < v < 1, "in (0, 1)"),
    "arms": (lambda v: v >= 1, "at least 1"),
    "squares": (lambda v: v >= 2, "at least 2"),
    "start": (lambda v: v >= 0, ">= 0"),
    "stop": (lambda v: v >= -1, ">= 0, or -1 for the end"),
    "channels": (lambda v: v in (1, 3), "1 or 3"),
    "background": (lambda v: 0 <= v <= 1, "a grey level in [0, 1]"),
}


class Checked:
    """Base of the dataset configs: checks the shared field rules on creation and raises
    :class:`ConfigError` naming ``data.KEY``."""

    def __post_init__(self) -> None:
        for key, (ok, must) in _RULES.items():
            value = getattr(self, key, None)
            if value is not None and not ok(value):
                raise ConfigError(f"data.{key}: must be {must}, got {value}")
        start, stop = getattr(self, "start", 0), getattr(self, "stop", -1)
        if stop != -1 and start >= stop:
            raise ConfigError(f"data.start: {start} selects nothing (stop is {stop})")


# ---------------------------------------- toys (genlab.data.toys)


@dataclass
class Ring8Config(Checked):
    name: Literal["ring8"] = "ring8"
    n: int = 50_000
    modes: int = 8
    radius: float = 1.0
    std: float = 0.01
    seed: int = 0


@dataclass
class Grid25Config(Checked):
    name: Literal["grid25"] = "grid25"
    n: int = 50_000
    side: int = 5
    spacing: float = 2.0
    std: float = 0.05
    seed: int = 0


@dataclass
class MoonsConfig(Checked):
    name: Literal["moons"] = "moons"
    n: int = 50_000
    std: float = 0.05
    seed: int = 0


@dataclass
class CirclesConfig(Checked):
    name: Literal["circles"] = "circles"
    n: int = 50_000
    factor: float = 0.5
    std: float = 0.03
    seed: int = 0


@dataclass
class SpiralConfig(Checked):
    name: Literal["spiral"] = "spiral"
    n: int = 50_000
    arms: int = 2
    turns: float = 1.5
    std: float = 0.03
    seed: int = 0


@dataclass
class CheckerboardConfig(Checked):
    name: Literal["checkerboard"] = "checkerboard"
    n: int = 50_000
    squares: int = 4
    size: float = 4.0
    seed: int = 0


@dataclass
class SwissRollConfig(Checked):
    name: Literal["swissroll"] = "swissroll"
    n: int = 50_000
    std: float = 0.02
    seed: int = 0


# ---------------------------------------- digits (genlab.data.digits)


@dataclass
class DigitsConfig(Checked):
    name: Literal["digits"] = "digits"
    split: Literal["all", "train", "test"] = "all"
    test_fraction: float = 0.2
    image_size: int = 8


# ---------------------------------------- shapes (genlab.data.shapes)


COLORS: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "magenta": (1.0, 0.0, 1.0),
    "cyan": (0.0, 1.0, 1.0),
    "white": (1.0, 1.0, 1.0),
    "orange": (1.0, 0.5, 0.0),
}


SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star", "ring")


ATTRIBUTES = ("shape", "color", "size", "position")
# what shapes and moving-shapes draw unless told otherwise
DEFAULT_SHAPES = ("circle", "square", "triangle", "diamond", "cross")
DEFAULT_COLORS = ("red", "green", "blue", "yellow", "magenta", "cyan")
SIZES: dict[str, float] = {"small": 0.08, "medium": 0.11, "large": 0.145}  # r / image size
POSITIONS = (
    "top left", "top", "top right",
    "left", "center", "right",
    "bottom left", "bottom", "bottom right",
)  # fmt: skip


@dataclass
class ShapesConfig(Checked):
    name: Literal["shapes"] = "shapes"
    n: int = 10_000
    image_size: int = 32
    seed: int = 0
    shapes: tuple[str, ...] = DEFAULT_SHAPES
    colors: tuple[str, ...] = DEFAULT_COLORS
    label: Literal["shape", "color", "size", "position"] = "shape"
    # Attribute combinations left out ("cyan", "red+circle", "blue+top left": values of
    # different attributes joined by "+"): an image matching any entry is redrawn. For
    # held-out compositions and for concepts a base model never saw (LoRA).
    exclude: tuple[str, ...] = ()
    # If given, only images matching at least one entry (same syntax) are kept.
    keep: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        check_config(self)


def check_drawing(cfg) -> None:
    """Raise :class:`ConfigError` naming the key if ``cfg`` (``shapes`` or
    ``moving-shapes``) has a bad ``n``, ``image_size``, ``shapes`` or ``colors``."""
    if cfg.n < 1:
        raise ConfigError(f"data.n: must be at least 1, got {cfg.n}")
    if cfg.image_size < 8:
        raise ConfigError(f"data.image_size: must be at least 8, got {cfg.image_size}")
    for key, given, known in (("shapes", cfg.shapes, SHAPES), ("colors", cfg.colors, COLORS)):
        what = key[:-1]
        if not given:
            raise ConfigError(f"data.{key}: needs at least one {what}")
        for v in given:
            if v not in known:
                raise ConfigError(
                    f"data.{key}: unknown {what} {v!r}; choose from {', '.join(known)}"
                )
        if len(set(given)) != len(given):
            raise ConfigError(f"data.{key}: lists a {what} twice: {', '.join(given)}")


def check_config(cfg: ShapesConfig) -> None:
    """Raise :class:`ConfigError` naming the key if ``cfg`` holds a bad value."""
    check_drawing(cfg)
    if cfg.label not in ATTRIBUTES:
        raise ConfigError(f"data.label: {cfg.label!r} is not one of {', '.join(ATTRIBUTES)}")
    for key in ("exclude", "keep"):
        for entry in getattr(cfg, key):
            parse_combination(cfg, entry, f"data.{key}")
    if cfg.exclude or cfg.keep:
        import itertools

        names = attribute_values(cfg)
        allowed = [
            combo
            for combo in itertools.product(*(range(len(names[a])) for a in ATTRIBUTES))
            if _allowed(cfg, dict(zip(ATTRIBUTES, combo)))
        ]
        if not allowed:
            raise ConfigError("data.exclude/data.keep: leave no attribute combination to draw")


def attribute_values(cfg: ShapesConfig) -> dict[str, tuple[str, ...]]:
    """The values each attribute takes under ``cfg``, in label order."""
    return {
        "shape": tuple(cfg.shapes),
        "color": tuple(cfg.colors),
        "size": tuple(SIZES),
        "position": POSITIONS,
    }


_PHRASES = {"left": "on the left", "right": "on the right", "center": "in the center"}


def position_phrase(position: str) -> str:
    """``"top left"`` -> ``"at the top left"``, ``"center"`` -> ``"in the center"``."""
    return _PHRASES.get(position, f"at the {position}")


def caption(names: dict[str, tuple[str, ...]], shape: int, color: int, size: int, pos: int) -> str:
    """``"a small red circle at the top left"`` from attribute ids (:func:`attribute_values`)."""
    return (
        f"a {names['size'][size]} {names['color'][color]} {names['shape'][shape]} "
        f"{position_phrase(POSITIONS[pos])}"
    )


def all_captions(cfg: ShapesConfig) -> list[str]:
    """Every caption an image of ``cfg`` can have, attribute ids in :data:`ATTRIBUTES`
    order, the last varying fastest: what a text encoder's cache holds."""
    names = attribute_values(cfg)
    k = [len(names[a]) for a in ATTRIBUTES]
    return [
        caption(names, h, c, z, q)
        for h in range(k[0]) for c in range(k[1]) for z in range(k[2]) for q in range(k[3])
    ]  # fmt: skip


_WORD = re.compile(r"[a-z0-9]+")


def caption_words(cfg: ShapesConfig) -> tuple[str, ...]:
    """The sorted words of :func:`all_captions` (lower-cased runs of letters and
    digits): a word-level text encoder's vocabulary, without importing torch."""
    return tuple(sorted({w for c in all_captions(cfg) for w in _WORD.findall(c.lower())}))


def parse_combination(cfg: ShapesConfig, entry: str, key: str) -> dict[str, int]:
    """``"red+circle"`` -> ``{"color": 0, "shape": 0}``: label index per named attribute.

    Raises :class:`ConfigError` naming ``key`` for an unknown value, a value this config
    does not draw, or two values of one attribute.
    """
    names = attribute_values(cfg)
    out: dict[str, int] = {}
    for value in (v.strip() for v in entry.split("+")):
        owner = [a for a in ATTRIBUTES if value in names[a]]
        if not owner:
            known = "; ".join(a + ": " + ", ".join(names[a]) for a in ATTRIBUTES)
            raise ConfigError(
                f"{key}: {value!r} in {entry!r} is not a value of this data ({known})"
            )
        if owner[0] in out:
            raise ConfigError(f"{key}: {entry!r} names two values of {owner[0]}")
        out[owner[0]] = names[owner[0]].index(value)
    return out


def _allowed(cfg: ShapesConfig, labels: dict[str, int]) -> bool:
    """Whether one image's labels pass ``cfg.exclude`` and ``cfg.keep``."""

    def hit(entry: str) -> bool:
        want = parse_combination(cfg, entry, "")
        return all(labels[a] == i for a, i in want.items())

    if any(hit(e) for e in cfg.exclude):
        return False
    return not cfg.keep or any(hit(e) for e in cfg.keep)


# ---------------------------------------- mnist (genlab.data.mnist)
MNIST_ROOT = "../shared/data/mnist"  # the 10,000 official test images, beside the project


MNIST_SPLIT = "test"  # the split genlab trains and evaluates on


TRAIN_STOP = 8000  # train on MNIST_SPLIT images [0, TRAIN_STOP); [TRAIN_STOP, end) is held out


@dataclass
class MNISTConfig(Checked):
    name: Literal["mnist", "fashion-mnist"] = "mnist"
    root: str = "data/mnist"
    split: Literal["train", "test"] = "train"
    start: int = 0
    stop: int = -1  # -1: to the end of the split
    image_size: int = 28
    download: bool = False


@dataclass
class FashionMNISTConfig(MNISTConfig):
    """:class:`MNISTConfig` with Fashion-MNIST defaults."""

    name: Literal["mnist", "fashion-mnist"] = "fashion-mnist"
    root: str = "data/fashion-mnist"


# ---------------------------------------- folder (genlab.data.folder)


@dataclass
class ImageFolderConfig(Checked):
    name: Literal["folder"] = "folder"
    root: str = ""
    image_size: int = 32
    channels: Literal[1, 3] = 3
    background: float = 1.0  # grey level in [0, 1] under transparent pixels (1 = white)
    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


# ---------------------------------------- stacked (genlab.data.stacked)


@dataclass
class StackedMNISTConfig(Checked):
    name: Literal["stacked-mnist"] = "stacked-mnist"
    root: str = MNIST_ROOT
    split: Literal["train", "test"] = MNIST_SPLIT
    start: int = 0
    stop: int = TRAIN_STOP
    n: int = 50_000  # stacked samples to build
    seed: int = 0


# ---------------------------------------- audio (genlab.data.audio)
FSDD_ROOT = "../shared/data/fsdd"  # the Free Spoken Digit Dataset, beside the project
FSDD_TEST_TAKES = 5  # takes 0-4 of every speaker and digit: the usual test split


class AudioChecked(Checked):
    """Base of the audio configs: ``data.length`` and ``data.sample_rate`` checked too."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.length < 64:
            raise ConfigError(f"data.length: must be at least 64 samples, got {self.length}")
        if self.sample_rate < 1000:
            raise ConfigError(f"data.sample_rate: must be at least 1000 Hz, got {self.sample_rate}")


@dataclass
class FSDDConfig(AudioChecked):
    """The Free Spoken Digit Dataset: ``{digit}_{speaker}_{take}.wav`` files under
    ``root`` (or ``root/recordings``), mono 8 kHz. ``split="test"`` is takes 0-4 of every
    speaker and digit, ``"train"`` the rest (5-49)."""

    name: Literal["fsdd"] = "fsdd"
    root: str = FSDD_ROOT
    split: Literal["all", "train", "test"] = "train"
    # what cond["class"] holds; "digit_speaker": 10 * speaker + digit (60 classes, so a
    # class-conditional network is conditioned on both); "cluster": no label, the k-means
    # cluster of the clip's MFCCs (data.clusters of them, fitted on the training takes;
    # genlab.data.clusters), for self-conditioned models
    label: Literal["digit", "speaker", "digit_speaker", "cluster"] = "digit"
    clusters: int = 60  # k of k-means, for label="cluster"
    length: int = 8192  # samples per clip (1.02 s at 8 kHz): padded with silence or cropped
    sample_rate: int = 8000
    resample: bool = False  # files at another rate: resample them (else an error)
    speakers: tuple[str, ...] = ()  # only these speakers (every one when empty)
    normalize: bool = False  # scale each clip so its peak is 0.95

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.label == "cluster" and self.clusters < 2:
            raise ConfigError(f"data.clusters: k-means needs at least 2, got {self.clusters}")


@dataclass
class AudioFolderConfig(AudioChecked):
    """Audio files (WAV, FLAC, OGG: whatever soundfile reads) in one subfolder per class."""

    name: Literal["audio-folder"] = "audio-folder"
    root: str = ""
    length: int = 16384
    sample_rate: int = 16000
    resample: bool = True
    mix_stereo: bool = False  # average a stereo file's channels (else stereo is an error)
    normalize: bool = False
    extensions: tuple[str, ...] = (".wav", ".flac", ".ogg")


@dataclass
class TonesConfig(AudioChecked):
    """Synthetic audio that needs no files: steady tones (low, mid, high) and rising and
    falling chirps, each with a random pitch offset, amplitude, onset and decay."""

    name: Literal["tones"] = "tones"
    n: int = 2000
    length: int = 8192
    sample_rate: int = 8000
    seed: int = 0


# ---------------------------------------- video (genlab.data.video)
MOTIONS = ("left to right", "right to left", "top to bottom", "bottom to top")
MOVING_ATTRIBUTES = ("shape", "color", "size", "direction")


class VideoChecked(Checked):
    """Base of the video configs: ``data.frames`` and ``data.fps`` checked too."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.frames < 1:
            raise ConfigError(f"data.frames: must be at least 1, got {self.frames}")
        if getattr(self, "fps", 1) < 1:
            raise ConfigError(f"data.fps: must be at least 1, got {self.fps}")


@dataclass
class MovingMNISTConfig(VideoChecked):
    """Moving MNIST (Srivastava et al. 2015): ``digits`` MNIST digits bouncing in a square
    canvas. ``split="train"`` draws digits from the MNIST test images ``[0, TRAIN_STOP)``,
    ``"test"`` from ``[TRAIN_STOP, 10000)`` (genlab's MNIST convention)."""

    name: Literal["moving-mnist"] = "moving-mnist"
    root: str = MNIST_ROOT
    download: bool = False  # fetch the MNIST files into root if missing (checksummed)
    split: Literal["train", "test"] = "train"
    n: int = 10_000  # clips (float32: 3.3 GB at the defaults)
    frames: int = 20
    image_size: int = 64  # canvas side in pixels
    digit_size: int = 28  # digits are resized to this (28: as stored)
    digits: int = 2
    # distance per frame as a fraction of the free range image_size - digit_size (0.1 is
    # 3.6 px at 64/28, the step length of the original protocol)
    speed: float = 0.1
    # what cond["class"] holds: nothing, or the digits read as a number (10**digits classes)
    label: Literal["none", "digits"] = "none"
    fps: int = 8  # frames per second when shown (GIF/MP4)
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.digits <= 8:
            raise ConfigError(f"data.digits: must be 1 to 8, got {self.digits}")
        if not 1 <= self.digit_size <= self.image_size:
            raise ConfigError(
                f"data.digit_size: must be 1 to data.image_size={self.image_size}, "
                f"got {self.digit_size}"
            )
        if self.speed < 0:
            raise ConfigError(f"data.speed: must be >= 0, got {self.speed}")
        if self.label == "digits" and self.digits > 3:
            raise ConfigError(
                f"data.label: 'digits' makes 10**digits classes; use at most 3 digits, "
                f"got {self.digits}"
            )


@dataclass
class MovingShapesConfig(VideoChecked):
    """One coloured shape (as in ``shapes``) crossing the frame at constant speed in one of
    :data:`MOTIONS`, with captions like "a small red circle moves left to right"."""

    name: Literal["moving-shapes"] = "moving-shapes"
    n: int = 5_000
    image_size: int = 32
    frames: int = 16
    shapes: tuple[str, ...] = DEFAULT_SHAPES
    colors: tuple[str, ...] = DEFAULT_COLORS
    label: Literal["shape", "color", "size", "direction"] = "direction"
    fps: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_drawing(self)  # n, image_size, shapes, colors: the rules of shapes
        if self.label not in MOVING_ATTRIBUTES:
            raise ConfigError(
                f"data.label: {self.label!r} is not one of {', '.join(MOVING_ATTRIBUTES)}"
            )


def moving_attribute_values(cfg: MovingShapesConfig) -> dict[str, tuple[str, ...]]:
    """The values each attribute of ``moving-shapes`` takes, in label order."""
    return {
        "shape": tuple(cfg.shapes),
        "color": tuple(cfg.colors),
        "size": tuple(SIZES),
        "direction": MOTIONS,
    }


def moving_caption(names: dict[str, tuple[str, ...]], shape: int, color: int, size: int,
                   direction: int) -> str:  # fmt: skip
    """``"a small red circle moves left to right"`` from attribute ids."""
    return (
        f"a {names['size'][size]} {names['color'][color]} {names['shape'][shape]} "
        f"moves {names['direction'][direction]}"
    )


def all_moving_captions(cfg: MovingShapesConfig) -> list[str]:
    """Every caption of ``cfg``, ids in :data:`MOVING_ATTRIBUTES` order, the last varying
    fastest (``cond["caption"]`` indexes this list)."""
    names = moving_attribute_values(cfg)
    k = [len(names[a]) for a in MOVING_ATTRIBUTES]
    return [
        moving_caption(names, h, c, z, d)
        for h in range(k[0]) for c in range(k[1]) for z in range(k[2]) for d in range(k[3])
    ]  # fmt: skip


def moving_caption_words(cfg: MovingShapesConfig) -> tuple[str, ...]:
    """The sorted words of :func:`all_moving_captions` (a word encoder's vocabulary)."""
    return tuple(sorted({w for c in all_moving_captions(cfg) for w in _WORD.findall(c.lower())}))


@dataclass
class VideoFolderConfig(VideoChecked):
    """Video files (MP4, GIF) in one subfolder per class; each clip is its first
    ``frames`` frames (a shorter file is an error), resized and center-cropped."""

    name: Literal["video-folder"] = "video-folder"
    root: str = ""
    image_size: int = 32
    frames: int = 16
    channels: Literal[1, 3] = 3
    extensions: tuple[str, ...] = (".mp4", ".gif")
