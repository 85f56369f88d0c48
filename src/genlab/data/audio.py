"""Audio datasets: the Free Spoken Digit Dataset (``fsdd``), a folder of labelled audio
files (``audio-folder``) and synthetic tones and chirps (``tones``, no files needed).

Every clip becomes a mono waveform ``(1, length)`` float32 in [-1, 1] (16-bit PCM
divided by 32768, as soundfile reads it): shorter clips are padded with silence at the
end, longer ones keep their first ``length`` samples. Files are read with soundfile; a
file at another sample rate is resampled with ``scipy.signal.resample_poly`` when
``data.resample`` allows it. A file that cannot be used is one :class:`DataError` line
naming it: not an audio file, a WAV shorter than its header says (truncated), stereo
where mono is expected, another sample rate without ``data.resample``, no samples, or
(a float WAV) samples that are not finite or outside [-1, 1].

``fsdd`` (Jackson et al., github.com/Jakobovski/free-spoken-digit-dataset): 6 speakers
x 10 digits x 50 takes at 8 kHz, named ``{digit}_{speaker}_{take}.wav``. ``cond`` holds
``digit`` and ``speaker`` (speaker ids in sorted name order over the whole folder, so
every split and ``data.speakers`` subset agrees with a classifier trained on all) and
``class`` (the one ``data.label`` names; ``digit_speaker``: ``10 * speaker + digit``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlab.data.base import Dataset
from genlab.data.configs import FSDD_TEST_TAKES, AudioFolderConfig, FSDDConfig, TonesConfig
from genlab.errors import ConfigError, DataError

_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$", re.IGNORECASE)


def _wav_shortfall(path: Path) -> str | None:
    """For a RIFF/WAVE file whose ``data`` chunk declares more bytes than the file holds,
    what is missing; else None (also for other formats, which soundfile checks)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = path.stat().st_size
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, n = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                have = size - f.tell()
                return (
                    f"its header declares {n} bytes of samples, the file holds {have}"
                    if (
                        n > have and n != 0xFFFFFFFF  # streamed WAVs leave the size unset
                    )
                    else None
                )
            f.seek(n + (n & 1), 1)  # chunks are padded to an even size


def read_audio(
    path: str | Path, sample_rate: int, resample: bool = False, mix_stereo: bool = False
) -> Tensor:
    """The samples ``(L,)`` float32 of the mono audio file ``path`` at ``sample_rate``.

    Raises :class:`DataError` (one line naming the file) for a file soundfile cannot
    read, a truncated WAV, more than one channel without ``mix_stereo``, another rate
    without ``resample``, or no samples."""
    import soundfile as sf

    path = Path(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (L, channels)
    except (sf.LibsndfileError, RuntimeError) as e:
        reason = str(e).split(": ", 1)[-1]
        raise DataError(f"{path}: not an audio file soundfile can read ({reason})") from None
    missing = _wav_shortfall(path)
    if missing:
        raise DataError(f"{path}: truncated WAV ({missing})")
    if data.shape[1] != 1:
        if not mix_stereo:
            raise DataError(
                f"{path}: has {data.shape[1]} channels, mono expected "
                "(data.mix_stereo=true averages them)"
            )
        data = data.mean(1, keepdims=True)
    if len(data) == 0:
        raise DataError(f"{path}: holds no samples")
    x = data[:, 0]
    if not np.isfinite(x).all():
        raise DataError(f"{path}: holds NaN or infinite samples")
    peak = float(np.abs(x).max())
    if peak > 1.0:  # only a float WAV can: integer PCM is read as [-1, 1)
        raise DataError(f"{path}: has samples outside [-1, 1] (peak {peak:.3g}); scale it first")
    if rate != sample_rate:
        if not resample:
            raise DataError(
                f"{path}: is at {rate} Hz, not data.sample_rate={sample_rate} "
                "(data.resample=true resamples it)"
            )
        from scipy.signal import resample_poly

        g = math.gcd(rate, sample_rate)
        x = resample_poly(x, sample_rate // g, rate // g).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x))


def fit_length(x: Tensor, length: int) -> Tensor:
    """``(L,)`` -> ``(length,)``: zeros appended, or the first ``length`` samples kept."""
    if len(x) >= length:
        return x[:length]
    return torch.cat([x, x.new_zeros(length - len(x))])


def peak_normalize(x: Tensor, peak: float = 0.95) -> Tensor:
    """Scale each clip ``(N, 1, L)`` so its largest absolute sample is ``peak`` (silent
    clips stay silent)."""
    top = x.abs().amax(dim=(1, 2), keepdim=True)
    return torch.where(top > 0, x * (peak / top.clamp(min=1e-12)), x)


def _stack(clips: list[Tensor], length: int, normalize: bool) -> Tensor:
    x = torch.stack([fit_length(c, length) for c in clips])[:, None]  # (N, 1, length)
    return peak_normalize(x) if normalize else x


# ---------------------------------------------------------------------------- fsdd


def fsdd_files(root: str | Path) -> list[tuple[Path, int, str, int]]:
    """``(path, digit, speaker, take)`` of every FSDD recording under ``root`` (or
    ``root/recordings``), sorted by speaker, digit and take. Raises :class:`DataError`
    for a missing folder, no recordings, or a WAV whose name is not
    ``{digit}_{speaker}_{take}.wav``."""
    root = Path(root)
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    if not folder.is_dir():
        raise DataError(
            f"{root}: no such directory (data.root: the Free Spoken Digit Dataset's "
            "folder of {digit}_{speaker}_{take}.wav files)"
        )
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() != ".wav":
            continue
        m = _FSDD_NAME.match(p.name)
        if not m:
            raise DataError(f"{p}: not an FSDD name ({{digit}}_{{speaker}}_{{take}}.wav)")
        out.append((p, int(m[1]), m[2], int(m[3])))
    if not out:
        raise DataError(f"{folder}: holds no .wav recordings")
    return sorted(out, key=lambda r: (r[2], r[1], r[3]))


def speaker_names(cfg: FSDDConfig) -> list[str]:
    """Every FSDD speaker under ``cfg.root``, in id order (sorted names; reads no audio)."""
    return sorted({s for _, _, s, _ in fsdd_files(cfg.root)})


def speaker_ids(cfg: FSDDConfig) -> list[int]:
    """The ids of the speakers ``cfg`` keeps (``data.speakers``, or all), among every
    speaker of its folder: what a run trained on ``cfg`` has seen. Lists the folder
    only (reads no audio)."""
    return [i for i, s in enumerate(speaker_names(cfg)) if not cfg.speakers or s in cfg.speakers]


def digit_speaker_class(digit, speaker):
    """The class of ``digit`` said by ``speaker`` under ``data.label=digit_speaker``:
    ``10 * speaker + digit`` (ints or tensors)."""
    return 10 * speaker + digit


def fsdd_clusters(cfg: FSDDConfig, x: Tensor) -> Tensor:
    """``(N,)`` the k-means cluster (``cfg.clusters`` of them) of each clip ``x (N, 1, L)``
    of ``cfg``'s split, fitted on the MFCCs of the training takes (of ``cfg.speakers``),
    so that every split shares the clusters; no label is read
    (``genlab.data.clusters``)."""
    from genlab.data.clusters import kmeans_labels, speech_features

    feats = speech_features(x, cfg.sample_rate)
    if cfg.split == "train":
        fit = feats
    else:
        train = dataclasses.replace(cfg, split="train", label="digit")
        fit = speech_features(make_fsdd(train).x, cfg.sample_rate)
    if len(fit) < cfg.clusters:
        raise ConfigError(
            f"data.clusters: {cfg.clusters} clusters, but {cfg.root} has {len(fit)} "
            "training clips to find them in"
        )
    return kmeans_labels(fit, feats, cfg.clusters)


def make_fsdd(cfg: FSDDConfig) -> Dataset:
    files = fsdd_files(cfg.root)
    speakers = tuple(sorted({s for _, _, s, _ in files}))
    if cfg.speakers:
        unknown = [s for s in cfg.speakers if s not in speakers]
        if unknown:
            raise ConfigError(
                f"data.speakers: {', '.join(unknown)} not in {cfg.root} "
                f"(it has {', '.join(speakers)})"
            )
        files = [f for f in files if f[2] in cfg.speakers]  # ids stay those of the folder
    if cfg.split != "all":
        test = cfg.split == "test"
        files = [f for f in files if (f[3] < FSDD_TEST_TAKES) == test]
    if not files:
        raise DataError(f"{cfg.root}: no recordings in split {cfg.split!r}")
    clips = [read_audio(p, cfg.sample_rate, cfg.resample) for p, *_ in files]
    digit = torch.tensor([d for _, d, _, _ in files])
    speaker = torch.tensor([speakers.index(s) for _, _, s, _ in files])
    digits = tuple(str(d) for d in range(10))
    names = {"digit": digits, "speaker": speakers}
    pairs = tuple(f"{d} by {s}" for s in speakers for d in digits)  # class 10 * s + d
    classes = {"digit": (digit, digits), "speaker": (speaker, speakers),
               "digit_speaker": (digit_speaker_class(digit, speaker), pairs)}  # fmt: skip
    x = _stack(clips, cfg.length, cfg.normalize)
    if cfg.label == "cluster":
        classes["cluster"] = (
            fsdd_clusters(cfg, x),
            tuple(f"cluster {i}" for i in range(cfg.clusters)),
        )
    label, class_names = classes[cfg.label]
    return Dataset(
        x,
        {"class": label, "digit": digit, "speaker": speaker},
        modality="audio",
        num_classes=len(class_names),
        class_names=class_names,
        attributes=names,
        sample_rate=cfg.sample_rate,
    )


# ---------------------------------------------------------------------------- folder


def make_audio_folder(cfg: AudioFolderConfig) -> Dataset:
    """Class ids follow the sorted subfolder names; each class's files are found
    recursively (hidden ones skipped) and read in sorted path order."""
    if not cfg.root:
        raise ConfigError("data.root: set it to a folder with one subfolder of audio per class")
    root = Path(cfg.root)
    if not root.is_dir():
        raise DataError(f"{root}: no such directory")
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in cfg.extensions}
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: no class subfolders (put each class's files in root/NAME/)")
    clips, labels = [], []
    for k, name in enumerate(classes):
        found = 0
        for p in sorted((root / name).rglob("*")):
            hidden = any(part.startswith(".") for part in p.relative_to(root).parts)
            if hidden or p.suffix.lower() not in exts or p.is_dir():
                continue
            if not p.is_file():
                raise DataError(f"{p}: not a readable file (a broken link?)")
            clips.append(read_audio(p, cfg.sample_rate, cfg.resample, cfg.mix_stereo))
            labels.append(k)
            found += 1
        if not found:
            raise DataError(
                f"{root / name}: a class folder with no audio files ({', '.join(sorted(exts))})"
            )
    return Dataset(
        _stack(clips, cfg.length, cfg.normalize),
        {"class": torch.tensor(labels)},
        modality="audio",
        num_classes=len(classes),
        class_names=tuple(classes),
        sample_rate=cfg.sample_rate,
    )


# ---------------------------------------------------------------------------- tones

TONE_CLASSES = ("low tone", "mid tone", "high tone", "rising chirp", "falling chirp")


def make_tones(cfg: TonesConfig) -> Dataset:
    """``cfg.n`` clips, class ``i % 5`` of :data:`TONE_CLASSES`: a sine at 220, 440 or 880
    Hz (times a random factor in [0.94, 1.06]), or a chirp whose frequency sweeps
    exponentially between 200 and 1600 Hz (capped below Nyquist), with amplitude in
    [0.3, 0.9], a random onset in the first quarter and an exponential decay."""
    g = torch.Generator().manual_seed(cfg.seed)
    n, L, sr = cfg.n, cfg.length, cfg.sample_rate
    label = torch.arange(n) % len(TONE_CLASSES)
    t = torch.arange(L, dtype=torch.float64) / sr  # (L,) seconds
    dur = L / sr
    jitter = 0.94 + 0.12 * torch.rand(n, 1, generator=g, dtype=torch.float64)
    base = torch.tensor([220.0, 440.0, 880.0, 200.0, 1600.0], dtype=torch.float64)[label, None]
    top = min(1600.0, 0.45 * sr)
    f0 = (base * jitter).clamp(max=0.45 * sr)
    # instantaneous frequency f(t) = f0 r^(t / dur); the phase is its integral
    ratio = torch.ones(n, 1, dtype=torch.float64)
    ratio[label == 3] = top / 200.0
    ratio[label == 4] = 200.0 / top
    k = torch.log(ratio) / dur  # (N, 1) per second
    steady = k.abs() < 1e-12
    phase = torch.where(steady, f0 * t, f0 * (torch.exp(k * t) - 1) / torch.where(steady, 1, k))
    start = torch.rand(n, 1, generator=g, dtype=torch.float64) * dur / 4
    amp = 0.3 + 0.6 * torch.rand(n, 1, generator=g, dtype=torch.float64)
    decay = 1.0 + 3.0 * torch.rand(n, 1, generator=g, dtype=torch.float64)  # per second
    offset = 2 * math.pi * torch.rand(n, 1, generator=g, dtype=torch.float64)
    on = (t >= start).double()
    env = amp * on * torch.exp(-decay * (t - start).clamp(min=0))
    x = env * torch.sin(2 * math.pi * phase + offset)
    return Dataset(
        x.float()[:, None],
        {"class": label},
        modality="audio",
        num_classes=len(TONE_CLASSES),
        class_names=TONE_CLASSES,
        sample_rate=sr,
    )
