"""Evaluate a set of generated samples against a dataset's reference: what ``genlab eval``
runs. One function per step: pick the metrics, the reference set and the extractor,
then :func:`evaluate` computes every figure into one JSON-ready dict.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genlab.data import heldout_config  # noqa: F401 (public here: benchmarks, cli)
from genlab.errors import ConfigError
from genlab.metrics import METRICS

DEFAULT_IMAGE = ("fid", "kid", "pr", "dc")
DEFAULT_AUDIO = ("fid", "is", "mis", "am", "ndb", "cells")  # DiffWave's SC09 set, and cells
DEFAULT_POINTS = ("modes", "w", "mmd")
DEFAULT_VIDEO = ("fvd", "frame_fid", "consistency", "frame_change")
# dataset name -> the domain classifier whose features judge it (by image size)
EXTRACTOR_FOR = {
    "mnist": "mnist", "stacked-mnist": "mnist", "digits": "digits", "shapes": "shapes",
    "fsdd": "fsdd", "moving-mnist": "moving-mnist", "moving-shapes": "moving-shapes",
}  # fmt: skip
# video dataset name -> the image classifier that reads its frames (frame_fid, consistency)
FRAME_EXTRACTOR_FOR = {"moving-mnist": "mnist", "moving-shapes": "shapes"}
# --n when not given: samples drawn, and for video also reference clips (3.3 GB at 10,000)
DEFAULT_N = {"video": 500}
# the metrics that read the first head's logits as one softmax distribution
SOFTMAX_METRICS = ("is", "mis", "am", "acc", "stacked")


def video_classifier_domain(data_name: str, image_size: int) -> str | None:
    """The classifier whose clip features judge video data ``data_name`` of side
    ``image_size``: ``"moving-mnist-small"`` for Moving MNIST on the half-scale canvas of
    the ``*-moving-mnist-small`` recipes, else ``EXTRACTOR_FOR``'s (None: no built-in)."""
    from genlab.recipes.video import SMALL_MOVING_MNIST

    if data_name == "moving-mnist" and image_size == SMALL_MOVING_MNIST["image_size"]:
        return "moving-mnist-small"
    return EXTRACTOR_FOR.get(data_name)


# the data keys that set what a Moving MNIST clip shows (canvas, digit size, digit count,
# speed): a clip classifier judges runs of its own geometry only
MOVING_MNIST_GEOMETRY = ("image_size", "digit_size", "digits", "speed")


def video_geometry_mismatch(run_data, classifier_data: dict) -> str:
    """``""`` when a video classifier trained on ``classifier_data`` (its run's ``data``
    section) judges clips of ``run_data`` (a data config) of the same geometry, else
    what differs, e.g. ``"digits 2 (run: 1)"``. Only Moving MNIST has a geometry here."""
    name = getattr(run_data, "name", None)
    if name != "moving-mnist" or classifier_data.get("name") != name:
        return ""
    diff = [
        f"{k} {classifier_data[k]} (run: {getattr(run_data, k)})"
        for k in MOVING_MNIST_GEOMETRY
        if k in classifier_data and classifier_data[k] != getattr(run_data, k)
    ]
    return ", ".join(diff)


def default_n(modality: str) -> int:
    """How many samples ``genlab eval`` draws when ``--n`` is not given."""
    return DEFAULT_N.get(modality, 10_000)


def parse_metrics(spec: str | None, modality: str, data: str | None = None) -> list[str]:
    """``"fid,kid"`` -> ``["fid", "kid"]``, checked against the data before any sampling:
    unknown names suggest the nearest one; a metric for another modality or another
    dataset (``modes`` is defined on ring8 / grid25, ``stacked`` on Stacked MNIST) is a
    clear error. The default set applies to every built-in dataset of ``modality``."""
    from genlab.metrics.modes import PROTOCOLS

    if not spec:
        if modality == "points":
            return list(DEFAULT_POINTS if data in PROTOCOLS else DEFAULT_POINTS[1:])
        if modality == "video":
            return list(DEFAULT_VIDEO)
        return list(DEFAULT_AUDIO if modality == "audio" else DEFAULT_IMAGE)
    names = [m.strip() for m in spec.split(",") if m.strip()]
    # the MetricInfo.modality values that apply here: a classifier's on images and audio
    kinds = ("any", modality, "features") if modality in ("image", "audio") else ("any", modality)
    kinds += ("captioned",) if modality in ("image", "video") else ()
    fits = [k for k, v in METRICS.items() if v.modality in kinds]
    for m in names:
        if m not in METRICS:  # the nearest name for this data first ('fdi': fid, not fvd)
            near = difflib.get_close_matches(m, fits, n=1) or difflib.get_close_matches(
                m, list(METRICS), n=1
            )
            hint = f"; did you mean '{near[0]}'?" if near else f"; choose from {', '.join(METRICS)}"
            raise ConfigError(f"--metrics: unknown metric '{m}'{hint}")
        want = METRICS[m].modality
        if want not in kinds:
            want = "image or audio" if want == "features" else want
            hint = f" (video: {', '.join(DEFAULT_VIDEO)})" if modality == "video" else ""
            raise ConfigError(f"--metrics: '{m}' applies to {want} data, not {modality}{hint}")
    if data is not None and "modes" in names and data not in PROTOCOLS:
        raise ConfigError(f"--metrics modes: defined for {', '.join(PROTOCOLS)}, not '{data}'")
    if data is not None and "stacked" in names and data != "stacked-mnist":
        raise ConfigError(f"--metrics stacked: defined for stacked-mnist, not '{data}'")
    return names


def check_heads(names, ext) -> None:
    """Refuse (:class:`ConfigError`, one line) a metric that reads softmax logits from a
    multi-label head of ``ext`` (``Extractor.single_label``): IS, MIS, AM, accuracy and
    Stacked MNIST read the first head, cells every head."""
    for m in names:
        if m in SOFTMAX_METRICS:
            ext.single_label(m)
        if m == "cells":
            ext.single_label(m, list(ext.heads))


def _image_metrics(names, fake, fake_class, ref, ext, seed, fake_labels=None) -> dict:
    from genlab.metrics.audio import am_score, cell_coverage, modified_inception_score, ndb
    from genlab.metrics.fid import frechet_distance, gaussian_stats
    from genlab.metrics.kid import kid
    from genlab.metrics.prdc import density_coverage, precision_recall
    from genlab.metrics.scores import (
        class_accuracy,
        inception_score,
        intra_class_fid,
    )

    check_heads(names, ext)
    out: dict = {}
    need_feats = bool({"fid", "kid", "pr", "dc", "ifid", "ndb"} & set(names))
    need_logits = bool({"is", "acc", "mis", "am", "cells"} & set(names))
    ff = logits = heads = None
    if need_feats and need_logits:  # one pass over the samples
        ff, heads = ext.features_and_logits(fake)
        ff = ff.numpy()
    elif need_feats:
        ff = ext.features(fake).numpy()
    elif need_logits:
        heads = ext.all_logits(fake)
    if heads is not None:
        logits = next(iter(heads.values()))  # the first head's
    fr = ref["features"]
    if "fid" in names:
        out["fid"] = frechet_distance(ref["mu"], ref["sigma"], *gaussian_stats(ff))
    if "kid" in names:
        out["kid"], out["kid_std"] = kid(fr, ff, seed=seed)
    if "pr" in names:
        out.update(precision_recall(fr, ff, k=3))
    if "dc" in names:
        out.update(density_coverage(fr, ff, k=5))
    if "is" in names:
        out["is"], out["is_std"] = inception_score(logits)
    if "mis" in names:
        out["mis"] = modified_inception_score(logits)
    if "am" in names:  # against the classifier's predictions on the reference set
        ref_heads = ext.heads_of_features(torch.from_numpy(np.asarray(fr, np.float32)))
        out["am"] = am_score(logits, next(iter(ref_heads.values())))
    if "ndb" in names:
        out.update(ndb(fr, ff, k=min(50, len(fr)), seed=seed))
    if "cells" in names:  # every head's prediction, from the pass above
        preds = [z.argmax(1) for z in heads.values()]
        out.update(cell_coverage(*preds, sizes=tuple(ext.heads.values())))
    if "acc" in names:
        if fake_class is None:
            raise ConfigError("--metrics acc: the samples have no class labels")
        out["acc"] = class_accuracy(logits, fake_class)
    if "attributes" in names:
        out.update(attribute_scores(fake, ext, fake_labels))
    if "ifid" in names:
        if fake_class is None or "class" not in ref["labels"]:
            raise ConfigError("--metrics ifid: needs class labels for samples and reference")
        try:
            out["ifid"], per = intra_class_fid(fr, ref["labels"]["class"], ff, fake_class.numpy())
        except ValueError as e:
            raise ConfigError(f"--metrics ifid: {str(e).removeprefix('intra_class_fid: ')}; "
                              "draw more samples (--n)") from None  # fmt: skip
        out["ifid_per_class"] = per
    if "stacked" in names:
        from genlab.metrics.stacked import stacked_mnist_stats

        s = stacked_mnist_stats(fake, ext.logits)
        out["stacked_modes"], out["stacked_kl"] = s["modes"], s["kl"]
    return out


def attribute_scores(fake: Tensor, ext, fake_labels: dict) -> dict:
    """``attributes``: per-attribute accuracy and exact match of samples (images or clips)
    on what their prompts asked for (``fake_labels`` ``{attribute: (N,)}``), read by the
    classifier ``ext``'s heads of those names (``genlab.metrics.scores.attribute_accuracy``).

    Raises:
        ConfigError: samples without prompt attributes, or a classifier without a head
            for one of them (or a multi-label one).
    """
    from genlab.metrics.scores import attribute_accuracy

    if not fake_labels:
        raise ConfigError(
            "--metrics attributes: the samples have no prompt attributes (it scores a "
            "text-to-image or text-to-video run on shapes / moving-shapes)"
        )
    heads = ext.all_logits(fake)
    missing = [a for a in fake_labels if a not in heads]
    if missing:
        raise ConfigError(
            f"--metrics attributes: the extractor '{ext.name}' has no '{missing[0]}' head; "
            "use the data's classifier (eval-shapes-classifier, eval-moving-shapes-classifier)"
        )
    ext.single_label("attributes", list(fake_labels))
    return attribute_accuracy(heads, fake_labels)


def _video_metrics(names, fake: Tensor, ref_cfg, ext, frame_ext, cache_dir) -> tuple[dict, dict]:
    """The video figures of clips ``fake`` ``(N, C, T, H, W)`` in [-1, 1] against the clips
    of ``ref_cfg`` (``genlab.metrics.video``): ``fvd`` on the clip features of the video
    classifier ``ext``; ``frame_fid`` on the per-frame features of the image classifier
    ``frame_ext``; ``consistency`` of those per-frame features (of pixels when
    ``frame_ext`` is None) and ``frame_change`` ([0, 1] scale), each beside the real
    clips' value (``*_real``). Returns ``(metrics, reference info)``.

    Raises:
        ConfigError: clips the extractors do not read, or ``fvd`` / ``frame_fid`` without
            their extractor.
    """
    from genlab.data import build_dataset
    from genlab.metrics.features import clip_motion, reference_features, reference_frame_features
    from genlab.metrics.fid import frechet_distance, gaussian_stats
    from genlab.metrics.video import (
        frame_difference,
        frame_pixels,
        frechet_video_distance,
        per_frame_features,
        temporal_consistency,
    )

    if fake.ndim != 5:
        raise ConfigError(
            f"samples: video metrics need clips (N, C, T, H, W), got {tuple(fake.shape)}"
        )
    if "fvd" in names and ext is None:
        raise ConfigError("--metrics fvd: needs the video classifier (--extractor RUN)")
    if "frame_fid" in names and frame_ext is None:
        raise ConfigError("--metrics frame_fid: needs an image classifier of the frames")
    out, info = {}, {}
    if ext is not None:  # clip features, and the real clips' motion, cached together
        ext.check(fake)
        ref = reference_features(ref_cfg, ext, cache_dir)  # features (M, D)
        info.update(n=len(ref["features"]), cache=ref["path"])
    else:
        ref = clip_motion(build_dataset(ref_cfg).x)
        info.update(n=len(ref["frame_change"]))
    if "fvd" in names:
        out["fvd"] = frechet_video_distance(ref["features"], ext.features(fake))
    per_frame = frame_ext is not None and bool({"frame_fid", "consistency"} & set(names))
    if per_frame:
        fref = reference_frame_features(ref_cfg, frame_ext, cache_dir)
        info["frame_cache"] = fref["path"]
        ff = per_frame_features(frame_ext, fake)  # (N, T, D)
    if "frame_fid" in names:  # per_frame_fid, from the cached statistics of the N*T frames
        out["frame_fid"] = frechet_distance(
            fref["mu"], fref["sigma"], *gaussian_stats(ff.reshape(-1, ff.shape[-1]))
        )
    if "consistency" in names:  # per clip (N,), then the mean
        if per_frame:
            fake_c, real_c = temporal_consistency(ff), fref["consistency"]
        else:
            fake_c, real_c = temporal_consistency(frame_pixels(fake)), ref["pixel_consistency"]
        out["consistency"], out["consistency_real"] = float(fake_c.mean()), float(real_c.mean())
        info["consistency_of"] = frame_ext.name if per_frame else "pixels"
    if "frame_change" in names:
        fake_d, real_d = float(frame_difference(fake).mean()), float(ref["frame_change"].mean())
        out["frame_change"], out["frame_change_real"] = fake_d, real_d
        out["frame_change_ratio"] = fake_d / real_d if real_d > 0 else None  # still clips
    return out, info


def _points_metrics(names, fake: Tensor, data_cfg, ref_x: Tensor, seed: int) -> dict:
    from genlab.metrics.modes import PROTOCOLS, protocol_stats
    from genlab.metrics.points import mmd2_gaussian, wasserstein

    out: dict = {}
    if "modes" in names:
        if data_cfg.name not in PROTOCOLS:
            raise ConfigError(
                f"--metrics modes: defined for {', '.join(PROTOCOLS)}, not '{data_cfg.name}'"
            )
        s = protocol_stats(fake, data_cfg.name)
        out.update(
            modes=s["modes"],
            high_quality=s["high_quality"],
            reverse_kl=s["reverse_kl"],  # of the high-quality samples (PacGAN's code)
            reverse_kl_all=s["reverse_kl_all"],  # of every sample's nearest mode
        )
    m = min(len(fake), len(ref_x), 2500)
    g = torch.Generator().manual_seed(seed)
    a = fake[torch.randperm(len(fake), generator=g)[:m]]
    b = ref_x[torch.randperm(len(ref_x), generator=g)[:m]]
    if "w" in names:
        out["w1"], out["w2"] = wasserstein(a, b, 1), wasserstein(a, b, 2)
    if "mmd" in names:
        out["mmd2"], out["mmd_bandwidth"] = mmd2_gaussian(a, b)
    return out


def evaluate(
    fake: Tensor,
    fake_class: Tensor | None,
    ref_cfg,
    ref_desc: str,
    metrics: list[str],
    extractor=None,
    cache_dir=None,
    seed: int = 0,
    fake_labels: dict | None = None,
    frame_extractor=None,
) -> dict:
    """Every requested figure for samples ``fake`` ``(N, ...)`` against ``ref_cfg``;
    ``fake_labels`` ``{attribute: (N,)}``: the attributes each sample was asked for (a
    text run's prompts), for ``attributes``.

    Image and audio metrics need ``extractor`` (:class:`genlab.metrics.features.Extractor`);
    its reference features are cached (see ``reference_features``). Video (clips ``(N, C,
    T, H, W)``) takes the video classifier as ``extractor`` (``fvd``) and an image
    classifier of its frames as ``frame_extractor`` (``frame_fid``, ``consistency``; see
    :func:`_video_metrics`). Returns a JSON-ready dict: ``{"metrics": {...}, "n": N,
    "extractor": {...}, "reference": {...}}`` (video: also ``"frame_extractor"``).

    Raises:
        ConfigError: NaN/Inf samples, samples the extractor does not read, a metric
            without what it needs (an extractor, labels, a softmax head).
    """
    import genlab.config as C
    from genlab.data import DATASETS, build_dataset

    if len(fake) and not bool(torch.isfinite(fake).all()):
        bad = int((~torch.isfinite(fake.flatten(1)).all(1)).sum())
        raise ConfigError(
            f"samples: {bad} of {len(fake)} hold NaN or Inf; no metric is defined on them"
        )
    tic = time.perf_counter()
    modality = DATASETS[ref_cfg.name].modality
    result = {"n": len(fake), "reference": {"data": C.to_dict(ref_cfg), "set": ref_desc}}
    metrics = [m for m in metrics if m != "bpd"]  # computed from the model, see below
    if not metrics:
        result["metrics"] = {}
    elif modality == "points":
        ref = build_dataset(ref_cfg)
        if fake.ndim != 2 or fake.shape[1] != ref.x.shape[1]:
            raise ConfigError(
                f"samples of shape {tuple(fake.shape)} do not match '{ref_cfg.name}' "
                f"points {tuple(ref.x.shape[1:])}"
            )
        result["reference"]["n"] = len(ref)
        result["metrics"] = _points_metrics(metrics, fake.double(), ref_cfg, ref.x.double(), seed)
    elif modality == "video":
        video = [m for m in metrics if m != "attributes"]
        result["metrics"], info = _video_metrics(
            video, fake, ref_cfg, extractor, frame_extractor, cache_dir
        )
        if "attributes" in metrics:  # a text-to-video run's prompts
            result["metrics"].update(attribute_scores(fake, extractor, fake_labels))
        result["reference"].update(info)
        for key, e in (("extractor", extractor), ("frame_extractor", frame_extractor)):
            result[key] = e and {"name": e.name, "fingerprint": e.fingerprint}
    else:
        from genlab.metrics.features import reference_features

        if extractor is None:
            raise ConfigError("image metrics need a feature extractor (--extractor RUN)")
        only_stacked = set(metrics) == {"stacked"}
        if not only_stacked:
            extractor.check(fake)
        ref = {} if only_stacked else reference_features(ref_cfg, extractor, cache_dir)
        result["extractor"] = {"name": extractor.name, "fingerprint": extractor.fingerprint}
        if ref:
            result["reference"].update(n=len(ref["features"]), cache=ref["path"])
        result["metrics"] = _image_metrics(
            metrics, fake, fake_class, ref, extractor, seed, fake_labels
        )
    result["seconds"] = time.perf_counter() - tic
    return result


def video_reference(ref_cfg, n: int):
    """The reference of ``n`` video samples: the clips of ``ref_cfg`` cut to ``n`` (its
    ``data.n``, when it has one; Moving MNIST's 10,000 clips take 3.3 GB)."""
    if not hasattr(ref_cfg, "n") or ref_cfg.n <= n:
        return ref_cfg
    return dataclasses.replace(ref_cfg, n=n)


def clip_shape(data_cfg) -> tuple[int, ...] | None:
    """``(C, T, H, W)`` of the clips of video dataset ``data_cfg``, from two clips built
    to see (None for data without ``data.n``, such as a folder, which is not built)."""
    from genlab.data import build_dataset

    if not hasattr(data_cfg, "n"):
        return None
    return tuple(build_dataset(dataclasses.replace(data_cfg, n=2)).x.shape[1:])


def check_likelihood_run(exp) -> None:
    """``bpd`` needs a flow/diffusion run (a :class:`ConfigError` otherwise)."""
    from genlab.families import family_of

    if family_of(exp.objective.kind).name != "diffusion":
        raise ConfigError(
            f"--metrics bpd: needs a flow/diffusion run, not '{exp.objective.kind}' "
            "(VAEs report their importance-weighted bound)"
        )
    if getattr(exp.objective, "autoencoder", ""):
        raise ConfigError(
            "--metrics bpd: a latent diffusion run's likelihood is of its latents, not of "
            "the images; use a pixel-space run"
        )


def likelihood_metrics(model, exp, ref_cfg, n: int, steps: int = 50, seed: int = 0) -> dict:
    """NLL (nats) and bits/dim of the first ``n`` reference samples under a flow run's
    probability-flow ODE (RK4, Hutchinson probes seeded by ``seed``). Images in [-1, 1]
    are reported on the 256-level scale (``bits_per_dim(..., data_range=2)``)."""
    from genlab.data import DATASETS, build_dataset
    from genlab.families import family_of
    from genlab.families.diffusion import velocity_field
    from genlab.metrics.likelihood import bits_per_dim, pf_ode_log_likelihood

    check_likelihood_run(exp)
    data = build_dataset(ref_cfg)
    x = data.x[:n].to(next(model.parameters()).device)
    keys = family_of(exp.objective.kind).cond_keys(exp)
    if exp.text.encoder:  # the images' own captions
        from genlab.families.diffusion import text_cond

        keys = [k for k in keys if k in data.cond]
        text = text_cond(exp, list(data.captions[:n]), x.device)
    cond = {k: data.cond[k][:n].to(x.device) for k in keys}
    if exp.text.encoder:
        cond.update(text)
    g = torch.Generator().manual_seed(seed)
    logp = pf_ode_log_likelihood(velocity_field(model, exp), x, cond, steps, generator=g)
    dims = x[0].numel()
    image = DATASETS[ref_cfg.name].modality != "points"
    nll = -logp.cpu().double()
    bpd = bits_per_dim(nll, dims, data_range=2.0 if image else None)
    return {
        "nll": float(nll.mean()),
        "bpd": float(bpd.mean()),
        "bpd_std_error": float(bpd.std() / len(bpd) ** 0.5),
        "bpd_n": len(bpd),
    }


def table(result: dict) -> str:
    """A two-column markdown table of the scalar figures in ``result["metrics"]``."""
    rows = ["| metric | value |", "|---|---|"]
    for k, v in result["metrics"].items():
        if isinstance(v, (int, float, np.floating)):
            rows.append(f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |")
    return "\n".join(rows)


def ensure_classifier(name: str, run: str | Path | None = None, overrides=()) -> Path:
    """The run directory of classifier ``name`` (a domain, or any recipe
    ``eval-<name>-classifier`` such as ``moving-mnist-small``), training it first with
    that recipe and ``overrides`` if it holds no finished run.
    For benchmarks and scripts; ``genlab eval`` never trains implicitly."""
    from genlab.metrics.features import DOMAINS, default_classifier_dir
    from genlab.recipes import RECIPES, get_recipe
    from genlab.runs import fit, override

    if name not in DOMAINS and f"eval-{name}-classifier" not in RECIPES:
        raise ConfigError(f"ensure_classifier: unknown domain {name!r}; choose from {DOMAINS}")
    run = Path(run) if run else default_classifier_dir(name)
    if not (run / "ema.safetensors").is_file():
        exp = override(get_recipe(f"eval-{name}-classifier"), list(overrides))
        fit(exp, run)
    return run
