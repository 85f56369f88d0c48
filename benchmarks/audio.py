"""Spoken digits: the reference figures every audio model is measured against, under the
spoken-digit classifier (``genlab train eval-fsdd-classifier``; log-mel CNN).

    python benchmarks/audio.py [--classifier runs/eval-fsdd-classifier] [--fsdd DIR]
        [--griffin-lim-iters 32] [--vocoder runs/vocos-fsdd ...] [--codec runs/codec-fsdd ...]
        [--threads 2] [--examples docs/audio]

Two tables, both on the held-out takes 0-4 (300 clips; the classifier trained on 5-49):

1. **Real audio as if it were samples**: digit and speaker accuracy, Inception score and
   modified IS of the digit head, AM score and FID against the training takes (the
   classifier's penultimate features), NDB (K = 50) and the digit x speaker cells
   covered. A generator is compared with these as ratios (DiffWave's protocol on SC09).
2. **Resynthesis** of the same clips from a lossy representation, against the originals:
   the classifier's accuracy on the result (and its ratio to the originals'), the
   mel-cepstral distortion (dB), the multi-resolution STFT distance and the speed in
   seconds of audio per second. Rows: Griffin-Lim (fast, momentum 0.99) from the full
   STFT magnitude and from the 64-band mel spectrogram a vocoder gets (pseudo-inverse of
   the filterbank), from that mel floored at 1e-5 as a vocoder's log-mel is (the
   fair baseline for a vocoder: the floor hides the clips' zero padding), 8-bit mu-law
   (what WaveNet's softmax can express) and, with
   ``--vocoder RUN ...``, trained vocoders (``genlab train hifigan-fsdd``,
   ``vocos-fsdd``) from the same mel spectrogram, and with ``--codec RUN ...`` trained
   neural codecs (``genlab train codec-fsdd``) through their first 1, 2, ... K
   codebooks, each at its bitrate.

``--examples DIR`` writes the first clip of each row as a WAV and one spectrogram
picture of them all, for docs/audio.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import DATASETS, build_dataset
from genlab.metrics.audio import (
    am_score,
    cell_coverage,
    mel_cepstral_distortion,
    modified_inception_score,
    multi_resolution_stft,
    ndb,
)
from genlab.metrics.features import get_extractor
from genlab.metrics.fid import fid_from_features
from genlab.metrics.scores import inception_score
from genlab.nn.audio import (
    MelSpectrogram,
    griffin_lim,
    mel_to_linear,
    mu_law_decode,
    mu_law_encode,
    stft,
)
from genlab.viz import save_grid, spectrogram_images, write_wav

N_FFT, HOP, N_MELS = 256, 64, 64  # 32 ms windows, 8 ms hops, 64 bands at 8 kHz
MEL_FLOOR = 1e-5  # the log-mel floor of the vocoders (genlab.nn.audio.MelSpectrogram)


def slug(name: str) -> str:
    """``name`` as a file name: runs of anything but letters and digits become ``_``."""
    return "_".join("".join(c if c.isalnum() else " " for c in name).split())


def judge(classifier: str, fsdd: str):
    """The classifier, the train and test takes, and the training takes' features and
    logits (what every generated or resynthesised set is scored against)."""
    ext = get_extractor("fsdd", path=classifier)
    print(f"classifier {classifier}: {ext.fingerprint}")
    train = build_dataset(DATASETS["fsdd"].config(root=fsdd, split="train"))
    test = build_dataset(DATASETS["fsdd"].config(root=fsdd, split="test"))
    train_feats, train_logits = ext.features_and_logits(train.x)
    return ext, test, train_feats, train_logits


def quality(ext, x, labels, train_feats, train_logits) -> dict:
    feats, logits = ext.features_and_logits(x)
    digit, speaker = logits["digit"].argmax(1), logits["speaker"].argmax(1)
    return {
        "acc_digit": float((digit == labels["digit"]).double().mean()),
        "acc_speaker": float((speaker == labels["speaker"]).double().mean()),
        "is": inception_score(logits["digit"], splits=1)[0],
        "mis": modified_inception_score(logits["digit"]),
        "am": am_score(logits["digit"], train_logits["digit"]),
        "fid": fid_from_features(train_feats.numpy(), feats.numpy()),
        "ndb_over_k": ndb(train_feats.numpy(), feats.numpy(), k=50)["ndb_over_k"],
        "cells": cell_coverage(digit, speaker, sizes=(10, 6))["cells_covered"],
    }


def resyntheses(
    x: torch.Tensor,
    iters: int,
    sr: int,
    vocoders: tuple[str, ...] = (),
    codecs: tuple[str, ...] = (),
) -> dict:
    """``{row: (waveforms, seconds taken)}`` for every lossy round trip."""
    out = {}
    length = x.shape[-1]
    gen = torch.Generator().manual_seed(0)

    tic = time.perf_counter()
    mag = stft(x[:, 0], N_FFT, HOP).abs()
    y = griffin_lim(mag, N_FFT, HOP, n_iter=iters, length=length, generator=gen)
    out[f"Griffin-Lim {iters} it., STFT magnitude"] = (y[:, None], time.perf_counter() - tic)

    tic = time.perf_counter()
    mel = MelSpectrogram(sr, N_FFT, HOP, N_MELS, log=False)
    lin = mel_to_linear(mel(x)[:, 0], mel.filterbank)
    y = griffin_lim(lin, N_FFT, HOP, n_iter=iters, length=length, generator=gen)
    out[f"Griffin-Lim {iters} it., {N_MELS}-band mel"] = (y[:, None], time.perf_counter() - tic)

    # what a vocoder is given: the log-mel, floored at 1e-5 (HiFi-GAN's floor), so the
    # clips' zero padding reads as quiet rather than silent
    tic = time.perf_counter()
    floored = mel(x)[:, 0].clamp(min=MEL_FLOOR)
    y = griffin_lim(mel_to_linear(floored, mel.filterbank), N_FFT, HOP, n_iter=iters,
                    length=length, generator=gen)  # fmt: skip
    out[f"Griffin-Lim {iters} it., {N_MELS}-band mel floored at {MEL_FLOOR:g}"] = (
        y[:, None], time.perf_counter() - tic
    )  # fmt: skip

    tic = time.perf_counter()
    y = mu_law_decode(mu_law_encode(x))
    out["8-bit mu-law"] = (y, time.perf_counter() - tic)

    for vocoder in vocoders:
        from genlab.families.vocoder import mel_of
        from genlab.runs import load_model

        exp, g = load_model(vocoder)
        with torch.no_grad():
            tic = time.perf_counter()
            y = torch.cat([g(mel_of(exp, b)) for b in x.split(50)])
            kind = "Vocos" if exp.model.generator == "vocos" else "HiFi-GAN"
            out[f"{kind} {vocoder}, {exp.model.n_mels}-band mel"] = (
                y, time.perf_counter() - tic
            )  # fmt: skip
    for codec in codecs:
        from genlab.families.codec import resynthesize
        from genlab.runs import load_model

        exp, g = load_model(codec)
        for k in range(1, exp.model.codebooks + 1):
            with torch.no_grad():
                tic = time.perf_counter()
                y = torch.cat([resynthesize(g, b, k) for b in x.split(50)])
                kbps = exp.model.bitrate(k) / 1000
                name = f"codec {codec}, {k} codebook{'s' * (k > 1)}, {kbps:g} kbit/s"
                out[name] = (y, time.perf_counter() - tic)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifier", default="runs/eval-fsdd-classifier")
    p.add_argument("--fsdd", default=DATASETS["fsdd"].config().root)
    p.add_argument("--griffin-lim-iters", type=int, default=32)
    p.add_argument(
        "--vocoder", nargs="*", default=[], help="trained vocoder runs to resynthesise with"
    )
    p.add_argument(
        "--codec", nargs="*", default=[], help="trained codec runs (codec-fsdd, codec-mel-fsdd)"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--examples", help="a folder for one WAV per row and a spectrogram grid")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    _machine.report()

    ext, test, train_feats, train_logits = judge(args.classifier, args.fsdd)
    sr = test.sample_rate
    labels = {k: test.cond[k] for k in ("digit", "speaker")}

    print(f"\n## Real held-out audio ({len(test)} clips, takes 0-4) as samples")
    print("| set | digit acc. | speaker acc. | IS | mIS | AM | FID | NDB/K | cells of 60 |")
    print("|---|---|---|---|---|---|---|---|---|")
    real = quality(ext, test.x, labels, train_feats, train_logits)
    print(
        f"| real, takes 0-4 | {real['acc_digit']:.3f} | {real['acc_speaker']:.3f} | "
        f"{real['is']:.2f} | {real['mis']:.3g} | {real['am']:.3f} | {real['fid']:.2f} | "
        f"{real['ndb_over_k']:.2f} | {real['cells']} |"
    )

    print(f"\n## Resynthesis of the {len(test)} held-out clips")
    print("| from | digit acc. (ratio) | speaker acc. | MCD dB | MR-STFT | audio s / s |")
    print("|---|---|---|---|---|---|")
    seconds = len(test) * test.x.shape[-1] / sr
    print(f"| the originals | {real['acc_digit']:.3f} (1.000) | {real['acc_speaker']:.3f} | "
          "0 | 0 | - |")  # fmt: skip
    examples = {"original": test.x[:1]}
    for name, (y, took) in resyntheses(
        test.x, args.griffin_lim_iters, sr, tuple(args.vocoder), tuple(args.codec)
    ).items():
        q = quality(ext, y, labels, train_feats, train_logits)
        mcd = float(mel_cepstral_distortion(y, test.x, sr).mean())
        mr = float(multi_resolution_stft(y, test.x)["mrstft"].mean())
        print(
            f"| {name} | {q['acc_digit']:.3f} ({q['acc_digit'] / real['acc_digit']:.3f}) | "
            f"{q['acc_speaker']:.3f} | {mcd:.2f} | {mr:.3f} | {seconds / took:.0f} |"
        )
        examples[name] = y[:1]
    if args.examples:
        out = Path(args.examples)
        clips = torch.cat(list(examples.values()))
        for i, name in enumerate(examples):
            write_wav(clips[i], out / f"resynthesis_{i}_{slug(name.lower())}.wav", sr)
        save_grid(spectrogram_images(clips), out / "resynthesis.png", nrow=len(clips), scale=2)
        print(f"\nwrote {len(clips)} WAVs and resynthesis.png to {out} (rows: {list(examples)})")


if __name__ == "__main__":
    main()
