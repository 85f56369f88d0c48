"""Evaluate a set of generated samples against a dataset's reference: what ``genlab eval``
runs. One function per step: pick the metrics, the reference set and the extractor,
then :func:`evaluate` computes every figure into one JSON-ready dict.
"""

from __future__ import annotations

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
# dataset name -> the domain classifier whose features judge it (by image size)
EXTRACTOR_FOR = {
    "mnist": "mnist", "stacked-mnist": "mnist", "digits": "digits", "shapes": "shapes",
    "fsdd": "fsdd",
}  # fmt: skip


def parse_metrics(spec: str | None, modality: str, data: str | None = None) -> list[str]:
    """``"fid,kid"`` -> ``["fid", "kid"]``, checked against the data before any sampling:
    unknown names suggest the nearest one; a metric for another modality or another
    dataset (``modes`` is defined on ring8 / grid25, ``stacked`` on Stacked MNIST) is a
    clear error. The default set applies to every built-in dataset of ``modality``."""
    from genlab.metrics.modes import PROTOCOLS

    if not spec:
        if modality == "points":
            return list(DEFAULT_POINTS if data in PROTOCOLS else DEFAULT_POINTS[1:])
        return list(DEFAULT_AUDIO if modality == "audio" else DEFAULT_IMAGE)
    names = [m.strip() for m in spec.split(",") if m.strip()]
    for m in names:
        if m not in METRICS:
            near = difflib.get_close_matches(m, list(METRICS), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else f"; choose from {', '.join(METRICS)}"
            raise ConfigError(f"--metrics: unknown metric '{m}'{hint}")
        want = METRICS[m].modality
        if want == "features" and modality in ("image", "audio"):
            continue
        if want not in ("any", modality):
            want = "image or audio" if want == "features" else want
            raise ConfigError(f"--metrics: '{m}' applies to {want} data, not {modality}")
    if data is not None and "modes" in names and data not in PROTOCOLS:
        raise ConfigError(f"--metrics modes: defined for {', '.join(PROTOCOLS)}, not '{data}'")
    if data is not None and "stacked" in names and data != "stacked-mnist":
        raise ConfigError(f"--metrics stacked: defined for stacked-mnist, not '{data}'")
    return names


def _image_metrics(names, fake, fake_class, ref, ext, seed, fake_labels=None) -> dict:
    from genlab.metrics.audio import am_score, cell_coverage, modified_inception_score, ndb
    from genlab.metrics.fid import frechet_distance, gaussian_stats
    from genlab.metrics.kid import kid
    from genlab.metrics.prdc import density_coverage, precision_recall
    from genlab.metrics.scores import (
        attribute_accuracy,
        class_accuracy,
        inception_score,
        intra_class_fid,
    )

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
        if not fake_labels:
            raise ConfigError(
                "--metrics attributes: the samples have no prompt attributes (it scores a "
                "text-to-image run on shapes)"
            )
        heads = ext.all_logits(fake)
        missing = [a for a in fake_labels if a not in heads]
        if missing:
            raise ConfigError(
                f"--metrics attributes: the extractor '{ext.name}' has no '{missing[0]}' head; "
                "use the shapes classifier (--extractor runs/eval-shapes-classifier)"
            )
        out.update(attribute_accuracy(heads, fake_labels))
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
) -> dict:
    """Every requested figure for samples ``fake`` ``(N, ...)`` against ``ref_cfg``;
    ``fake_labels`` ``{attribute: (N,)}``: the attributes each sample was asked for (a
    text run's prompts), for ``attributes``.

    Image metrics need ``extractor`` (:class:`genlab.metrics.features.Extractor`); its
    reference features are cached (see ``reference_features``). Returns a JSON-ready
    dict: ``{"metrics": {...}, "n": N, "extractor": {...}, "reference": {...}}``.
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
    """The run directory of domain classifier ``name``, training it first (recipe
    ``eval-<name>-classifier`` with ``overrides``) if it holds no finished run.
    For benchmarks and scripts; ``genlab eval`` never trains implicitly."""
    from genlab.metrics.features import DOMAINS, default_classifier_dir
    from genlab.recipes import get_recipe
    from genlab.runs import fit, override

    if name not in DOMAINS:
        raise ConfigError(f"ensure_classifier: unknown domain {name!r}; choose from {DOMAINS}")
    run = Path(run) if run else default_classifier_dir(name)
    if not (run / "ema.safetensors").is_file():
        exp = override(get_recipe(f"eval-{name}-classifier"), list(overrides))
        fit(exp, run)
    return run
