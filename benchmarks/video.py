"""Video quality on Moving MNIST: the metrics' sanity rows, generators side by side,
frame prediction against its floors and published figures, and rollout drift.

    python benchmarks/video.py [--classifier runs/eval-moving-mnist-classifier]
        [--mnist runs/eval-mnist-classifier] [--n 200] [--threads 2]
        [--sanity] [--runs RUN ...] [--predict RUN ...] [--recon RUN ...]
        [--rollout RUN ...]
        [--rollout-n 50] [--frames 60] [--examples docs/video]
    python benchmarks/video.py --cost        # benchmarks/video_cost.py's table

Every figure is on held-out clips (``moving-mnist`` ``split=test``: digits from MNIST
test images [8000, 10000)) of the measured runs' geometry (canvas, digit size, digits,
speed: the standard protocol, or one digit on 32x32 for the ``*-moving-mnist-small`` runs)
and uses the local features of the 3-D CNN (``genlab train eval-moving-mnist-classifier``,
or ``eval-moving-mnist-small-classifier`` for 32x32 runs; ``--classifier`` to choose):

- **sanity** (no generator): FVD, per-frame FID (frames through the MNIST classifier,
  resized to 28x28; skipped without ``--mnist``), temporal consistency (the mean cosine
  of consecutive frames' features: the MNIST classifier's, else the pixels on [0, 1])
  and the mean squared frame change, for
  a second real draw, the same clips with their frames shuffled, frames drawn
  independently (frame ``t`` of each clip from another random clip) and a still clip (its
  first frame repeated). A metric worth having scores the shuffled, independent and still
  clips clearly worse than real vs real.
- **runs**: ``--n`` clips from each run (seeds 0..n-1) scored the same way, with the
  sampling speed.
- **predict**: OpenSTL's protocol (Tan et al. 2023): the first 10 frames given, the next
  10 predicted (one window of a video inpainting run, ``genlab.sampling.video``); MSE and
  MAE per frame (summed over pixels on [0, 1], averaged over frames and clips) and SSIM,
  beside the all-zero and copy-last-frame floors measured here and the published
  ConvLSTM (Shi et al. 2015) and SimVP (Gao et al. 2022) MSEs as OpenSTL reports them.
  Each run predicts twice: a sample (the run's sampler), and its posterior mean
  ``E[future | context]``, the x0 estimate at t = 1 (one Euler step), which is what a
  model trained by MSE regression, such as ConvLSTM and SimVP, predicts (a run given its
  past by replacement only has no such step: its sample alone). Latent runs are refused.
- **recon**: a video autoencoder's reconstructions of the held-out clips (the posterior
  mean decoded), scored as generated clips (FVD, frame FID, consistency: the ceiling of
  latent diffusion on it) and per frame against the originals (MSE, MAE, SSIM, PSNR).
- **rollout**: clips of 60 frames (a generated window of 20, then windows of 10 new
  frames after 10 known ones); FVD of frames 41-60 against frames 1-20 of the same clips
  and against real clips: the drift of a model trained on 20 frames.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import _machine  # noqa: I001  (benchmarks/_machine.py: the load and threads line)
import torch

from genlab.data import DATASETS, build_dataset
from genlab.errors import GenlabError
from genlab.evaluate import MOVING_MNIST_GEOMETRY, video_classifier_domain
from genlab.families import family_of
from genlab.families.base import continue_video
from genlab.metrics import video as V
from genlab.metrics.features import classifier_extractor, default_classifier_dir
from genlab.runs import draw, load_model, read_experiment, sampler_config
from genlab.sampling.video import predict_frames
from genlab.viz import save_video_samples

PUBLISHED_MSE = {"ConvLSTM (Shi et al. 2015)": 46.3, "SimVP (Gao et al. 2022)": 15.1}
CONTEXT, FUTURE = 10, 10


# the Moving MNIST geometry of the held-out clips (canvas, digit size, digits, speed):
# the standard protocol, or that of the runs measured (set in main)
GEOMETRY = {}


def held_out(n: int, seed: int = 0, frames: int = 20) -> torch.Tensor:
    """``n`` held-out Moving MNIST clips ``(n, 1, frames, S, S)`` of ``GEOMETRY``."""
    cfg = DATASETS["moving-mnist"].config(split="test", n=n, seed=seed, frames=frames, **GEOMETRY)
    return build_dataset(cfg).x


def set_geometry(runs: list[str]) -> str:
    """Take the held-out clips' geometry from the first of ``runs`` (a Moving MNIST run
    or its classifier); every other run must share it. Returns a line naming it."""
    keys = MOVING_MNIST_GEOMETRY
    seen = {}
    for run in runs:
        data = read_experiment(Path(run)).data
        if data.name != "moving-mnist":
            raise SystemExit(
                f"benchmarks/video.py: {run}: trained on {data.name}, not moving-mnist"
            )
        seen[run] = {k: getattr(data, k) for k in keys}
    if len({tuple(g.values()) for g in seen.values()}) > 1:
        raise SystemExit(
            "benchmarks/video.py: the runs (and --classifier) differ in Moving MNIST "
            f"geometry: {seen}"
        )
    standard = {k: getattr(DATASETS["moving-mnist"].config(), k) for k in keys}
    GEOMETRY.update({k: v for k, v in next(iter(seen.values()), {}).items() if standard[k] != v})
    g = {k: getattr(DATASETS["moving-mnist"].config(**GEOMETRY), k) for k in keys}
    return ", ".join(f"{k} {v}" for k, v in g.items())


def scores(x: torch.Tensor, real: dict, clip_ex, frame_ex) -> dict:
    """FVD (and per-frame FID) of clips ``x`` against ``real``'s features, with their
    temporal consistency and mean squared frame change."""
    out = {"fvd": V.frechet_video_distance(real["clip"], clip_ex.features(x))}
    if frame_ex is not None:  # per-frame features of the MNIST classifier
        pf = V.per_frame_features(frame_ex, x)  # (B, T, D)
        out["frame_fid"] = V.per_frame_fid(real["frame"], pf)
    else:  # pixels on [0, 1]: the background counts as zero
        b, t = x.shape[0], x.shape[2]
        pf = ((V.frames_as_images(x) + 1) / 2).flatten(1).view(b, t, -1)
    out["consistency"] = float(V.temporal_consistency(pf).mean())
    out["frame_change"] = float(V.frame_difference(x).mean())
    return out


def reference(x: torch.Tensor, clip_ex, frame_ex) -> dict:
    ref = {"clip": clip_ex.features(x)}
    if frame_ex is not None:
        ref["frame"] = V.per_frame_features(frame_ex, x)
    return ref


def shuffled_frames(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Each clip's frames in a random order of its own."""
    idx = torch.stack([torch.randperm(x.shape[2], generator=g) for _ in range(len(x))])
    return x[torch.arange(len(x))[:, None], :, idx].transpose(1, 2)


def independent_frames(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Frame ``t`` of clip ``i`` taken from a random clip: real frames, no motion."""
    src = torch.randint(0, len(x), (len(x), x.shape[2]), generator=g)
    return x[src, :, torch.arange(x.shape[2])[None, :]].permute(0, 2, 1, 3, 4)


def row(name: str, s: dict, extra: str = "") -> None:
    def cell(k: str, digits: int) -> str:  # "-": not measured (frame FID without --mnist)
        return f"{s[k]:>12.{digits}f}" if k in s else f"{'-':>12}"

    cells = [cell(k, 2) for k in ("fvd", "frame_fid")]
    cells += [cell(k, 3) for k in ("consistency", "frame_change")]
    print(f"{name:<34}{''.join(cells)}  {extra}")


def header() -> None:
    print(f"{'clips':<34}{'FVD':>12}{'frame FID':>12}{'consistency':>12}{'frame chg':>12}")


def sanity(real_a, real_b, clip_ex, frame_ex, examples="") -> None:
    g = torch.Generator().manual_seed(0)
    if examples:  # the real clips and the broken ones the metrics must catch
        for name, x in (("real", real_a), ("shuffled", shuffled_frames(real_a, g))):
            save_video_samples(x[:16], Path(examples) / f"moving-mnist-{name}.png", 4)
    ref = reference(real_a, clip_ex, frame_ex)
    print(f"\nsanity: {len(real_a)} held-out clips (seed 0) as the reference")
    header()
    row("real (seed 0) vs itself", scores(real_a, ref, clip_ex, frame_ex))
    row("real, a second draw (seed 1)", scores(real_b, ref, clip_ex, frame_ex))
    row("real, frames shuffled", scores(shuffled_frames(real_b, g), ref, clip_ex, frame_ex))
    row("frames drawn independently", scores(independent_frames(real_b, g), ref, clip_ex, frame_ex))
    still = real_b[:, :, :1].expand_as(real_b).contiguous()
    row("still clips (first frame repeated)", scores(still, ref, clip_ex, frame_ex))


def generators(runs, real, n, clip_ex, frame_ex, examples) -> None:
    ref = reference(real, clip_ex, frame_ex)
    print(f"\ngenerators: {n} clips each (seeds 0..{n - 1}) against {len(real)} held-out clips")
    header()
    row("real, a second draw (seed 1)", scores(held_out(n, seed=1), ref, clip_ex, frame_ex))
    for run in runs:
        exp, model = load_model(Path(run), "ema", "cpu")
        t0 = time.perf_counter()
        x = draw(model, exp, list(range(n)), {}, sampler_config(exp), batch=25)
        secs = time.perf_counter() - t0
        row(Path(run).name, scores(x, ref, clip_ex, frame_ex), f"{n / secs:.2f} clips/s")
        if examples:
            save_video_samples(x[:16], Path(examples) / f"{Path(run).name}.png", 4)


def filler(fam, model, exp, scfg, seeds):
    """The run's window filler (``genlab.sampling.video``) for clips of ``seeds``."""
    return lambda w, m, k: fam.edit(model, exp, seeds, {}, scfg, w, m, key=(k,))


def reads_its_past(exp) -> bool:
    """Whether a run's network is given its known frames as input (an inpainting input,
    or per-frame times), rather than only by replacement sampling."""
    return exp.objective.diffusion_forcing or getattr(exp.model, "inpaint", False)


@torch.no_grad()
def context_use(run: str, n: int = 8, times=(0.3, 0.6, 0.9)) -> None:
    """Does a video inpainting run read its known frames? The rectified-flow velocity
    error (mean squared, per element) of ``n`` held-out clips noised to time t, on the 10
    known and the 10 future frames, with the first 10 frames given clean and with nothing
    given. A run that predicts from its context has a lower future error with it. A
    diffusion forcing run is given them clean at time 0 (its known-frame error is then
    the unpredictable velocity of a clean frame, about 1), and nothing means every frame
    at t. A run with neither has no such input and is skipped."""
    from genlab.sampling.video import future_mask

    exp, model = load_model(Path(run), "ema", "cpu")
    x, g = held_out(n), torch.Generator().manual_seed(0)
    forcing = exp.objective.diffusion_forcing  # the past given by its time (0), not a mask
    if not reads_its_past(exp):
        print(f"\ncontext use of {Path(run).name}: none to measure (no inpainting input, no "
              "per-frame times: it is given its past by replacement only)")  # fmt: skip
        return
    m = future_mask(x.shape[2], CONTEXT, *x.shape[-2:]).expand(n, -1, -1, -1, -1)
    nothing = {"mask": torch.ones_like(m), "image": torch.zeros_like(x)}
    given = {"context given": {"mask": m, "image": x * (1 - m)}, "nothing given": nothing}
    print(f"\ncontext use of {Path(run).name}: velocity error on {n} held-out clips")
    print(f"{'t':>5}{'condition':>16}{'known frames':>14}{'future frames':>15}")
    for t in times:
        noise = torch.randn(x.shape, generator=g)
        xt = (1 - t) * x + t * noise
        for name, cond in given.items():
            tt, inp = torch.full((n,), t), xt
            if forcing:  # given: the known frames clean at t = 0; nothing: all at t
                cond = {}
                if name == "context given":
                    tt = tt[:, None].repeat(1, x.shape[2]).index_fill(1, torch.arange(CONTEXT), 0)
                    inp = torch.where(m.bool(), xt, x)
            err = (model(inp, tt, cond) - (noise - x)).pow(2)
            known, future = err[:, :, :CONTEXT].mean(), err[:, :, CONTEXT:].mean()
            print(f"{t:>5.1f}{name:>16}{float(known):>14.4f}{float(future):>15.4f}")


def predict(runs, n, examples) -> None:
    for run in runs:  # before any table: a latent run's window is latent frames
        if read_experiment(Path(run)).objective.autoencoder:
            raise SystemExit(
                f"benchmarks/video.py: --predict {run}: a latent run; frame prediction "
                "works on pixel-space runs"
            )
    real = held_out(n)  # (n, 1, 20, S, S)
    ctx, target = real[:, :, :CONTEXT], real[:, :, CONTEXT : CONTEXT + FUTURE]
    print(f"\nframe prediction: {n} held-out clips, {CONTEXT} frames in, {FUTURE} out")
    print(f"{'predictor':<34}{'MSE':>10}{'MAE':>10}{'SSIM':>8}{'PSNR':>8}")

    def show(name, pred, extra=""):
        s = V.prediction_scores(pred, target)
        print(f"{name:<34}{s['mse']:>10.1f}{s['mae']:>10.1f}{s['ssim']:>8.3f}{s['psnr']:>8.2f}  "
              f"{extra}")  # fmt: skip

    show("all-zero (black) frames", V.zero_prediction(ctx, FUTURE))
    show("copy the last frame", V.copy_last_frame(ctx, FUTURE))
    for name, mse in PUBLISHED_MSE.items() if not GEOMETRY else ():  # standard set only
        print(f"{name:<34}{mse:>10.1f}{'':>26}  published (OpenSTL, Tan et al. 2023)")
    for run in runs:
        context_use(run)
    for run in runs:
        exp, model = load_model(Path(run), "ema", "cpu")
        fam, scfg = family_of(exp.objective.kind), sampler_config(exp)
        window = exp.model.input_shape()[1]
        # a sample, and the posterior mean: one Euler step from t = 1 is the network's
        # x0 estimate there, E[future | context] (what MSE regression models predict)
        mean_cfg = dataclasses.replace(scfg, name="euler", steps=1)
        todo = [(Path(run).name, scfg), ("  same, posterior mean", mean_cfg)]
        if not reads_its_past(exp):
            todo = todo[:1]  # replacement sampling: one step from t = 1 never sees the past
        for label, cfg in todo:
            t0 = time.perf_counter()
            preds = []
            for lo in range(0, n, 25):
                fill = filler(fam, model, exp, cfg, list(range(lo, min(n, lo + 25))))
                preds.append(predict_frames(fill, ctx[lo : lo + 25], window)[:, :, :FUTURE])
            pred = torch.cat(preds)
            show(label, pred, f"{n / (time.perf_counter() - t0):.2f} clips/s")
            if examples:
                name = Path(run).name + ("-predict" if cfg is scfg else "-predict-mean")
                both = torch.cat([real[:8], torch.cat([ctx[:8], pred[:8]], 2)])
                save_video_samples(both, Path(examples) / f"{name}.png", 8)


@torch.no_grad()
def recon(runs, real, clip_ex, frame_ex, examples) -> None:
    """Each autoencoder run's reconstructions of ``real`` against ``real`` itself."""
    ref = reference(real, clip_ex, frame_ex)
    print(f"\nreconstructions of {len(real)} held-out clips (the reference)")
    header()
    for run in runs:
        _, model = load_model(Path(run), "ema", "cpu")
        t0 = time.perf_counter()
        x = torch.cat([model.reconstruct(real[lo : lo + 25]) for lo in range(0, len(real), 25)])
        secs = time.perf_counter() - t0
        p = V.prediction_scores(x.clamp(-1, 1), real)
        per = f"MSE {p['mse']:.1f} MAE {p['mae']:.1f} SSIM {p['ssim']:.3f} PSNR {p['psnr']:.2f}"
        row(
            Path(run).name,
            scores(x, ref, clip_ex, frame_ex),
            f"{per}; {len(real) / secs:.1f} clips/s",
        )
        if examples:
            both = torch.cat([real[:8], x[:8].clamp(-1, 1)])
            save_video_samples(both, Path(examples) / f"{Path(run).name}-recon.png", 8)


def rollout(runs, n, total, clip_ex, examples) -> None:
    if total < 40:  # two 20-frame segments to compare
        raise SystemExit(f"benchmarks/video.py: --frames {total}: a rollout needs at least 40")
    real = held_out(n)
    print(f"\nrollout to {total} frames: {n} clips per run; FVD of 20-frame segments")
    last = f"{total - 19}-{total}"
    print(f"{'run':<34}{'1-20 vs real':>14}{last + ' vs real':>15}{last + ' vs 1-20':>15}")
    fr = clip_ex.features(real)
    for run in runs:
        exp, model = load_model(Path(run), "ema", "cpu")
        scfg, seeds, fam = sampler_config(exp), list(range(n)), family_of(exp.objective.kind)
        first = draw(model, exp, seeds, {}, scfg, batch=25)
        parts = []
        for lo in range(0, n, 25):
            one = slice(lo, lo + 25)
            parts.append(continue_video(fam, model, exp, first[one], total, seeds[one], {}, scfg,
                                        CONTEXT))  # fmt: skip
        x = torch.cat(parts)
        a, b = clip_ex.features(x[:, :, :20]), clip_ex.features(x[:, :, total - 20 : total])
        fvd = V.frechet_video_distance
        print(f"{Path(run).name:<34}{fvd(fr, a):>14.2f}{fvd(fr, b):>15.2f}{fvd(a, b):>15.2f}")
        if examples:
            save_video_samples(x[:8], Path(examples) / f"{Path(run).name}-rollout.png", 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--classifier",
        default="",
        help="default: runs/eval-moving-mnist-"
        "classifier, or runs/eval-moving-mnist-small-classifier for 32x32 runs",
    )
    ap.add_argument("--mnist", default="", help="an MNIST classifier run for per-frame FID")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sanity", action="store_true")
    ap.add_argument("--runs", nargs="*", default=[])
    ap.add_argument("--predict", nargs="*", help="the floors, and these runs' predictions")
    ap.add_argument("--recon", nargs="*", default=[], help="video autoencoder runs")
    ap.add_argument("--rollout", nargs="*", default=[])
    ap.add_argument("--frames", type=int, default=60, help="rollout length")
    ap.add_argument("--rollout-n", type=int, default=50, help="clips rolled out per run")
    ap.add_argument("--cost", action="store_true", help="benchmarks/video_cost.py's table")
    ap.add_argument("--examples", default="", help="write GIF/MP4/PNG examples here")
    ap.add_argument("--quick", action="store_true", help="the prediction floors on 50 clips")
    args = ap.parse_args()
    if args.quick:
        args.n, args.predict = 50, args.predict or []
    torch.set_num_threads(args.threads)
    _machine.report()
    need_ex = args.sanity or args.runs or args.rollout or args.recon
    measured = (args.predict or []) + args.runs + args.recon + args.rollout
    if need_ex and not args.classifier:  # the classifier of the measured runs' clips
        side = read_experiment(Path(measured[0])).data.image_size if measured else 64
        args.classifier = str(default_classifier_dir(video_classifier_domain("moving-mnist", side)))
    for run in args.recon:  # before any table (set_geometry checks the clips)
        arch = read_experiment(Path(run)).model.arch
        if arch != "video_vae":
            raise SystemExit(
                f"benchmarks/video.py: --recon {run}: a '{arch}' run, not a video autoencoder"
            )
    print("held-out Moving MNIST:", set_geometry(measured + ([args.classifier] if need_ex else [])))
    if args.cost:
        import video_cost

        video_cost.table([4, 8, 16, 32], 2, 3)
        video_cost.latent_vs_pixel()
    if args.predict is not None:  # needs no feature network
        predict(args.predict, args.n, args.examples)
    if not need_ex:
        return
    clip_ex = classifier_extractor(args.classifier)
    frame_ex = classifier_extractor(args.mnist) if args.mnist else None
    if args.sanity:
        sanity(held_out(args.n), held_out(args.n, seed=1), clip_ex, frame_ex, args.examples)
    if args.runs:
        generators(args.runs, held_out(args.n), args.n, clip_ex, frame_ex, args.examples)
    if args.recon:
        recon(args.recon, held_out(args.n), clip_ex, frame_ex, args.examples)
    if args.rollout:
        rollout(args.rollout, args.rollout_n, args.frames, clip_ex, args.examples)


if __name__ == "__main__":
    try:
        main()
    except GenlabError as e:  # a missing or damaged run: one line
        raise SystemExit(f"benchmarks/video.py: {e}") from None
