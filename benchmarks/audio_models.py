"""Spoken-digit generators side by side, under the spoken-digit classifier
(``genlab train eval-fsdd-classifier``), with real held-out speech as the ceiling.

    python benchmarks/audio_models.py --runs runs/codec-lm-fsdd runs/codec-lm-cf-fsdd
        [--classifier runs/eval-fsdd-classifier] [--per-cell 5] [--threads 2]
        [--examples docs/audio]

For each run (any family whose samples are ``fsdd`` waveforms and that takes ``class``
= digit and ``speaker``: the codec LMs, WaveNet):

- **conditional**: ``per-cell`` clips for each of the 60 digit x speaker cells (seed
  ``i`` for clip ``i``), scored as DiffWave scores SC09: the classifier's digit and
  speaker accuracy against what was asked, IS and modified IS of the digit head, AM,
  FID against the training takes' features, NDB (K = 50), cells covered; the speed in
  seconds of audio per second of sampling (batches of 50, this machine's threads);
- **unconditional**: the same number of clips with the null digit and speaker (the
  guidance nulls the runs trained with ``cond_drop``): IS, mIS, AM, FID, NDB, cells.

A mel-spectrogram run (``rf-mel-fsdd``: one class per digit x speaker) decodes with its
vocoder; ``RUN@griffin-lim`` adds the same mels decoded by Griffin-Lim.

The real row scores the 300 held-out clips (takes 0-4) the same way. The targets of
issue 20 are ratios to it: unconditional IS >= 0.63x (DiffWave on SC09), conditional
digit accuracy >= 0.92x.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch
from audio import judge, quality

from genlab.data import DATASETS
from genlab.families import family_of
from genlab.runs import load_model
from genlab.viz import save_grid, spectrogram_images, write_wav

BATCH = 50


def run_cond(exp, digit: torch.Tensor, speaker: torch.Tensor) -> dict:
    """The condition asking for ``digit`` by ``speaker`` in the run's own keys: ``class``
    and ``speaker``, or one class ``10 * speaker + digit`` (``data.label=digit_speaker``)."""
    if getattr(exp.data, "label", "digit") == "digit_speaker":
        return {"class": 10 * speaker + digit}
    return {"class": digit, "speaker": speaker}


def draw(run: str, cond: dict, seeds: list[int], griffin_lim: bool = False):
    """Samples ``(n, 1, L)`` of ``run`` for ``cond`` (per-sample tensors), and seconds.
    ``griffin_lim``: a mel-spectrogram run's mels decoded by Griffin-Lim instead of its
    vocoder."""
    exp, model = load_model(run)
    fam = family_of(exp.objective.kind)
    out, tic = [], time.perf_counter()
    for at in range(0, len(seeds), BATCH):
        part = {k: v[at : at + BATCH] for k, v in cond.items()}
        with torch.no_grad():
            if griffin_lim:
                from genlab.families.diffusion import load_autoencoder

                z = fam.sample(model, exp, seeds[at : at + BATCH], part, exp.sampler, decode=False)
                out.append(load_autoencoder(exp).griffin_lim(z).cpu())
            else:
                out.append(fam.sample(model, exp, seeds[at : at + BATCH], part, exp.sampler).cpu())
    return torch.cat(out).clamp(-1, 1), time.perf_counter() - tic


def row(name: str, q: dict, real: dict, speed: str) -> str:
    acc = "- | -"  # unconditional samples: nothing was asked
    if "acc_digit" in q:
        acc = (f"{q['acc_digit']:.3f} ({q['acc_digit'] / real['acc_digit']:.2f}) | "
               f"{q['acc_speaker']:.3f}")  # fmt: skip
    return (
        f"| {name} | {acc} | {q['is']:.2f} ({q['is'] / real['is']:.2f}) | "
        f"{q['mis']:.3g} | {q['am']:.3f} | {q['fid']:.1f} | {q['ndb_over_k']:.2f} | "
        f"{q['cells']} | {speed} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--classifier", default="runs/eval-fsdd-classifier")
    p.add_argument("--fsdd", default=DATASETS["fsdd"].config().root)
    p.add_argument("--per-cell", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--examples", help="a folder for each run's digits 0-9 as WAVs and a picture")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    _machine.report()

    ext, test, train_feats, train_logits = judge(args.classifier, args.fsdd)
    sr = test.sample_rate
    real = quality(ext, test.x, {k: test.cond[k] for k in ("digit", "speaker")},
                   train_feats, train_logits)  # fmt: skip

    cells = [(d, s) for s in range(6) for d in range(10)]
    asked = torch.tensor([c for c in cells for _ in range(args.per_cell)])  # (n, 2)
    digit, speaker = asked[:, 0], asked[:, 1]
    seeds = list(range(len(asked)))
    print(f"\n## {len(seeds)} samples per row ({args.per_cell} per digit x speaker cell)")
    print("| run, samples | digit acc. (ratio) | speaker acc. | IS (ratio) | mIS | AM | FID | "
          "NDB/K | cells of 60 | audio s / s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(row(f"real, takes 0-4 ({len(test)})", real, real, "-"))
    examples = {}
    for spec in args.runs:
        run, _, how = spec.partition("@")  # RUN@griffin-lim: a mel run's Griffin-Lim row
        gl = how == "griffin-lim"
        exp, _ = load_model(run)
        nulls = family_of(exp.objective.kind).null_cond(exp)
        seconds = len(seeds) * exp.data.length / sr
        x, took = draw(run, run_cond(exp, digit, speaker), seeds, gl)
        q = quality(ext, x, {"digit": digit, "speaker": speaker}, train_feats, train_logits)
        print(row(f"{spec}, digit + speaker", q, real, f"{seconds / took:.2f}"), flush=True)
        null = {k: v.expand(len(seeds)).clone() for k, v in nulls.items()}
        u, took = draw(run, null, seeds, gl)
        q = quality(ext, u, {"digit": digit, "speaker": speaker}, train_feats, train_logits)
        del q["acc_digit"], q["acc_speaker"]
        print(row(f"{spec}, unconditional", q, real, f"{seconds / took:.2f}"), flush=True)
        examples[spec] = x[[digit.tolist().index(d) for d in range(10)]]
    if args.examples:
        out = Path(args.examples)
        for run, clips in examples.items():
            name = Path(run).name.replace("@", "_")
            for d, clip in enumerate(clips):
                write_wav(clip, out / f"{name}_digit{d}.wav", sr)
            save_grid(spectrogram_images(clips), out / f"{name}.png", nrow=10, scale=2)
        print(f"\nwrote digits 0-9 of each run (speaker 0) as WAVs and pictures to {out}")


if __name__ == "__main__":
    main()
