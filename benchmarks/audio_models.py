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
  guidance nulls the runs trained with ``cond_drop``; none for a labelled run trained
  with ``cond_drop`` 0, as ``wavenet-fsdd``): IS, mIS, AM, FID, NDB, cells.

A mel-spectrogram run (``rf-mel-fsdd``: one class per digit x speaker) draws its mels
once and gives two rows: decoded by its vocoder and by Griffin-Lim. ``--vocoder RUN``
decodes with another vocoder run trained on the same mels (``vocos-fsdd``) instead of
the run's own ``objective.autoencoder``. A run trained without labels
(``model.num_classes=0``) gives the unconditional rows only. A self-conditioned run
(``data.label=cluster``, ``rf-mel-fsdd-selfcond``) gives a "self-conditioned" row, each
clip's cluster drawn from the training frequencies, and its agreement with the labels.
``--sampler KEY=VALUE ...`` changes every run's sampler, e.g. autoguidance of an
unconditional run by one of its earlier checkpoints: ``--sampler cfg=1
autoguidance=runs/rf-mel-fsdd-uncond/checkpoints/step_00001000``.

The real row scores the 300 held-out clips (takes 0-4) the same way. The targets of
issue 20 are ratios to it: unconditional IS >= 0.63x (DiffWave on SC09), conditional
digit accuracy >= 0.92x.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch
from audio import judge, quality, slug

from genlab.data import DATASETS, build_dataset
from genlab.data.audio import digit_speaker_class
from genlab.families import family_of
from genlab.families.diffusion import load_autoencoder
from genlab.runs import class_cond, class_prior, load_model, sampler_config
from genlab.viz import save_grid, spectrogram_images, write_wav

BATCH = 50


def run_cond(exp, digit: torch.Tensor, speaker: torch.Tensor) -> dict:
    """The condition asking for ``digit`` by ``speaker`` in the run's own keys: ``class``
    and ``speaker``, or one class ``10 * speaker + digit`` (``data.label=digit_speaker``)."""
    if getattr(exp.data, "label", "digit") == "digit_speaker":
        return {"class": digit_speaker_class(digit, speaker)}
    return {"class": digit, "speaker": speaker}


def clusters_vs_labels(exp) -> str:
    """How the run's training clusters (``data.label=cluster``) agree with the labels it
    never saw: normalised mutual information and purity, for digit and speaker."""
    from sklearn.metrics import normalized_mutual_info_score

    data = build_dataset(exp.data)
    c = data.cond["class"]
    out = []
    for key in ("digit", "speaker"):
        y = data.cond[key]
        purity = sum(int(torch.bincount(y[c == k]).max()) for k in c.unique()) / len(c)
        out.append(f"{key} NMI {normalized_mutual_info_score(y, c):.3f}, purity {purity:.3f}")
    return f"its {exp.data.clusters} clusters against the unseen labels: " + "; ".join(out)


def draw(exp, model, cond: dict, seeds: list[int], vocoder: str | None = None) -> dict:
    """``{decoder: (samples (n, 1, L), seconds)}`` of a loaded run for ``cond``
    (per-sample tensors). A mel-spectrogram run draws its mels once and decodes them
    twice: with its vocoder and with Griffin-Lim (each time: the drawing plus that
    decoding)."""
    fam = family_of(exp.objective.kind)
    if vocoder and exp.objective.kind == "denoise":
        exp = dataclasses.replace(
            exp, objective=dataclasses.replace(exp.objective, autoencoder=vocoder)
        )
    ae = load_autoencoder(exp) if exp.objective.kind == "denoise" else None
    mel = ae is not None and hasattr(ae, "griffin_lim")
    parts, took = {}, {}
    for at in range(0, len(seeds), BATCH):
        part = {k: v[at : at + BATCH] for k, v in cond.items()}
        tic = time.perf_counter()
        with torch.no_grad():
            x = fam.sample(model, exp, seeds[at : at + BATCH], part, exp.sampler, **(
                {"decode": False} if mel else {}))  # fmt: skip
        drawn = time.perf_counter() - tic
        decoders = {"vocoder": ae.decode, "Griffin-Lim": ae.griffin_lim} if mel else {"": None}
        for name, decode in decoders.items():
            tic = time.perf_counter()
            with torch.no_grad():
                y = x if decode is None else decode(x)
            parts.setdefault(name, []).append(y.cpu().clamp(-1, 1))
            took[name] = took.get(name, 0.0) + drawn + time.perf_counter() - tic
    return {name: (torch.cat(ys), took[name]) for name, ys in parts.items()}


def row(name: str, q: dict, real: dict, speed: str) -> str:
    acc = "- | -"  # unconditional samples: nothing was asked
    if "acc_digit" in q:
        acc = (f"{q['acc_digit']:.3f} ({q['acc_digit'] / real['acc_digit']:.2f}) | "
               f"{q['acc_speaker']:.3f}")  # fmt: skip
    return (
        f"| {name} | {acc} | {q['is']:.2f} ({q['is'] / real['is']:.3f}) | "
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
    p.add_argument("--vocoder", help="decode mel runs with this vocoder run instead of their own")
    p.add_argument("--sampler", nargs="*", default=[], metavar="KEY=VALUE",
                   help="sampler settings for every run (e.g. cfg=1 "
                   "autoguidance=RUN/checkpoints/step_N)")  # fmt: skip
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
    labels = {"digit": digit, "speaker": speaker}
    for run in args.runs:
        exp, model = load_model(run)
        if args.sampler:
            exp.sampler = sampler_config(exp, args.sampler)
        nulls = family_of(exp.objective.kind).null_cond(exp)
        seconds = len(seeds) * exp.data.length / sr
        null = {k: v.expand(len(seeds)).clone() for k, v in nulls.items()}
        labelled = bool(family_of(exp.objective.kind).cond_keys(exp))
        # a labelled run trained without condition dropout never trained its null
        null_trained = not labelled or getattr(exp.objective, "cond_drop", 0) > 0
        rows = [("digit + speaker", run_cond(exp, digit, speaker))] if labelled else []
        prior = class_prior(exp, run)
        if prior is not None:  # clusters found in the data: drawn, not asked
            rows = [("self-conditioned", class_cond(len(prior), len(seeds), None, 0, prior)[0])]
            print(f"| {run}: {clusters_vs_labels(exp)} | " + "- | " * 9, flush=True)
        rows += [("unconditional", null)] if null_trained else []
        for how, cond in rows:
            for decoder, (x, took) in draw(exp, model, cond, seeds, args.vocoder).items():
                if decoder == "vocoder" and args.vocoder:
                    decoder = Path(args.vocoder).name
                name = f"{run}{f' ({decoder})' if decoder else ''}"
                q = quality(ext, x, labels, train_feats, train_logits)
                if how != "digit + speaker":  # no digit was asked
                    del q["acc_digit"], q["acc_speaker"]
                else:
                    examples[name] = x[[digit.tolist().index(d) for d in range(10)]]
                print(row(f"{name}, {how}", q, real, f"{seconds / took:.2f}"), flush=True)
        if not null_trained:
            print(f"| {run}: no unconditional row (trained with objective.cond_drop 0) | "
                  + "- | " * 9, flush=True)  # fmt: skip
    if args.examples:
        out = Path(args.examples)
        for run, clips in examples.items():
            name = slug(Path(run).name)
            for d, clip in enumerate(clips):
                write_wav(clip, out / f"{name}_digit{d}.wav", sr)
            save_grid(spectrogram_images(clips), out / f"{name}.png", nrow=10, scale=2)
        print(f"\nwrote digits 0-9 of each run (speaker 0) as WAVs and pictures to {out}")


if __name__ == "__main__":
    main()
