"""``genlab eval``: the command's steps from its parsed arguments (the extractor, the
dual encoder, the samples from a run or a file, their prompts' attributes), kept apart
from ``genlab.cli`` so that each stays short. The figures themselves are computed by
``genlab.evaluate``."""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

from genlab.errors import ConfigError


def set_threads_from(args) -> None:
    """The shared ``--batch`` check and ``--threads`` setting of sample, edit and eval."""
    if args.batch < 1:
        raise ConfigError(f"--batch: must be at least 1, got {args.batch}")
    from genlab.cpu import set_threads

    set_threads(args.threads)


def _eval_extractor(args, data_name: str, device):
    """The extractor ``--extractor`` / ``--inception-weights`` name, or the data's own."""
    from genlab.evaluate import EXTRACTOR_FOR
    from genlab.metrics.features import NAMES, get_extractor

    if args.inception_weights:
        return get_extractor("inception", inception_weights=args.inception_weights, device=device)
    if args.extractor in NAMES:
        return get_extractor(args.extractor, device=device)
    if args.extractor:
        if not (Path(args.extractor) / "config.yaml").is_file():
            raise ConfigError(
                f"--extractor: {args.extractor} is neither a built-in feature network "
                f"({', '.join(sorted(NAMES))}) nor a trained run (no config.yaml)"
            )
        return get_extractor("", path=args.extractor, device=device)
    if data_name not in EXTRACTOR_FOR:
        raise ConfigError(
            f"--extractor: no built-in feature network for '{data_name}'; pass --extractor RUN "
            "(a classifier run) or --inception-weights PATH"
        )
    return get_extractor(EXTRACTOR_FOR[data_name], device=device)


def _eval_video_extractors(args, metrics, name: str, made, device, data=None):
    """The networks of the video metrics: the video classifier whose clip features give
    ``fvd`` and whose heads read a text-to-video run's ``attributes`` (``--extractor``,
    default ``runs/eval-moving-mnist-classifier`` for moving-mnist and
    ``runs/eval-moving-mnist-small-classifier`` for its 32x32 clips) and the image
    classifier of the frames (``frame_fid``, ``consistency``; ``FRAME_EXTRACTOR_FOR``, e.g.
    ``runs/eval-mnist-classifier``), checked against the clips ``made`` ``(C, T, H, W)``
    a run makes (None: not known yet) and the geometry of the run's Moving MNIST
    ``data`` (its canvas, digit size, digits and speed) before sampling.

    Without the frame classifier, a default ``frame_fid`` is dropped and ``consistency``
    reads pixels; ``note`` says so in one line. Returns ``(ext, frame_ext, metrics,
    note)``."""
    from genlab.evaluate import (
        EXTRACTOR_FOR,
        FRAME_EXTRACTOR_FOR,
        video_classifier_domain,
        video_geometry_mismatch,
    )
    from genlab.metrics.features import default_classifier_dir, get_extractor

    ext = None
    if "fvd" in metrics or "attributes" in metrics:  # the clip classifier's features / heads
        if not (args.extractor or args.inception_weights) and name not in EXTRACTOR_FOR:
            raise ConfigError(
                f"--extractor: no built-in video classifier for '{name}'; pass --extractor RUN "
                "(a classifier run of kind=video on these clips)"
            )
        own = not (args.extractor or args.inception_weights)
        domain = video_classifier_domain(name, made[-1]) if made else EXTRACTOR_FOR.get(name)
        if own and domain != EXTRACTOR_FOR.get(name):  # 32x32 Moving MNIST: its own
            run = default_classifier_dir(domain)
            if not (run / "config.yaml").is_file():
                raise ConfigError(
                    f"--extractor: {args.run} makes {made[-1]}x{made[-1]} Moving MNIST clips and "
                    f"{run} holds no classifier of them; train it with `genlab train "
                    f"eval-{domain}-classifier --out {run}` or pass --extractor RUN"
                )
            ext = get_extractor("", path=run, device=device)
        else:
            ext = _eval_extractor(args, name, device)
        shape = ext.input_shape
        if shape is None or len(shape) != 4:
            what = "waveforms" if shape and len(shape) == 2 else "images"
            raise ConfigError(
                f"--extractor: '{ext.name}' reads {what}, not clips; fvd and attributes need "
                "a video classifier (`genlab train eval-moving-mnist-classifier`, or one of "
                "kind=video)"
            )
        if made is not None and made != tuple(shape):  # checked before sampling
            raise ConfigError(
                f"--extractor: '{args.extractor or ext.name}' reads clips {tuple(shape)}; "
                f"{args.run} makes {made}"
            )
        differ = video_geometry_mismatch(data, ext.data) if data is not None else ""
        if differ:  # same clip shape, other clips: its features would not describe them
            raise ConfigError(
                f"--extractor: {args.extractor or ext.cache_dir.parent} was trained on Moving "
                f"MNIST with {differ}; pass --extractor RUN, a classifier of "
                f"{args.run or 'these'} clips"
            )
    frame_ext, why = None, ""
    if "frame_fid" in metrics or "consistency" in metrics:
        domain = FRAME_EXTRACTOR_FOR.get(name)
        run = default_classifier_dir(domain) if domain else None
        if run is None:
            why = f"genlab has no image classifier of '{name}' frames"
        elif not (run / "config.yaml").is_file():
            why = f"no {run} (train it: `genlab train eval-{domain}-classifier --out {run}`)"
        else:
            frame_ext = get_extractor(domain, device=device)
            channels = frame_ext.input_shape[0]
            if made is not None and made[0] != channels:
                why, frame_ext = f"{run} reads {channels}-channel frames, not {made[0]}", None
    if not why:
        return ext, frame_ext, metrics, ""
    if "frame_fid" in metrics and args.metrics:  # asked for by name: an error, not a gap
        raise ConfigError(f"--metrics frame_fid: {why}")
    skipped = ["frame_fid skipped"] if "frame_fid" in metrics else []
    skipped += ["consistency of pixels"] if "consistency" in metrics else []
    metrics = [m for m in metrics if m != "frame_fid"]
    return ext, frame_ext, metrics, f"{', '.join(skipped)}: {why}"


def _eval_clip(args, device, data_name: str):
    """The dual encoder ``--clip RUN`` names (default ``runs/clip-shapes``), as a
    fingerprinted feature network; it must have been trained on ``data_name``'s images
    and captions."""
    from genlab.checkpoint import load_network

    args.clip = args.clip or "runs/clip-shapes"
    path = Path(args.clip)
    if not (path / "config.yaml").is_file():
        raise ConfigError(
            f"--clip: {path} is not a trained run; train the dual encoder first: "
            f"`genlab train clip-shapes --out {path}`"
        )
    import genlab.config as C

    stored = C.load_yaml(path / "config.yaml")
    arch = (stored.get("model") or {}).get("arch", "?")
    if arch != "clip":  # checked before building it
        raise ConfigError(f"--clip: {path} is a '{arch}' run, not a dual encoder")
    trained_on = (stored.get("data") or {}).get("name", "?")
    if trained_on != data_name:
        raise ConfigError(
            f"--clip: {path} was trained on {trained_on} images and captions; these samples "
            f"are compared with {data_name}"
        )
    return load_network(path, "ema", device)


def with_data_root(exp, args):
    """``exp`` with its data read from ``data.root=DIR`` when the overrides give one (a run
    stores the root it trained with, often relative to where it ran); the override is
    taken out of ``args.overrides``. Other ``data.*`` keys would change what the run is
    compared with and are refused (:class:`ConfigError`)."""
    import dataclasses

    data = [o for o in args.overrides if o.startswith("data.")]
    bad = [o for o in data if not o.startswith("data.root=")]
    if bad:
        raise ConfigError(
            f"{bad[0].split('=')[0]}: evaluating a run compares it with its own held-out "
            "data; only data.root=DIR (where that data is) may be given"
        )
    if not data:
        return exp
    if not hasattr(exp.data, "root"):
        raise ConfigError(f"data.root: {exp.data.name} is not read from files")
    args.overrides = [o for o in args.overrides if not o.startswith("data.")]
    root = data[-1].split("=", 1)[1]
    return dataclasses.replace(exp, data=dataclasses.replace(exp.data, root=root))


def _eval_samples_from_run(args, metrics, device):
    """Sample ``--n`` from the run in batches; sample i uses seed ``--seed + i``."""

    from genlab.evaluate import heldout_config
    from genlab.families import family_of
    from genlab.families.base import heldout_attributes
    from genlab.runs import (
        class_cond,
        class_prior,
        control_cond,
        draw,
        load_model,
        prompt_rows,
        sampler_config,
        text_cond,
    )

    exp, model = load_model(
        Path(args.run), args.weights, device, args.accept_changed_deps, args.lora
    )
    exp = with_data_root(exp, args)
    ref_cfg, desc = heldout_config(exp.data)
    if metrics == ["bpd"]:
        return None, None, ref_cfg, desc, (exp, model), {}, None
    negative = {"negative_prompt": args.negative_prompt} if args.negative_prompt else {}
    scfg = sampler_config(
        exp, args.overrides, name=args.sampler, steps=args.steps, cfg=args.cfg, **negative
    )
    reference = family_of(exp.objective.kind).reference
    if reference is not None:  # e.g. a CycleGAN's target domain
        ref_cfg, desc = reference(exp, scfg)
    k = getattr(exp.model, "num_classes", 0)
    prior = class_prior(exp, args.run) if args.cls is None else None
    cond, _ = class_cond(k, args.n, args.cls, args.seed, prior)
    seeds = [args.seed + i for i in range(args.n)]
    labels, texts = {}, None
    if exp.text.encoder:  # sample i: the caption of held-out image seed + i
        texts = prompt_rows(exp, None, args.n, args.seed, args.run)[0]
        cond.update(text_cond(exp, texts))
        labels = heldout_attributes(exp, seeds)  # what each prompt asks for
    if args.control is not None:  # a ControlNet run: every sample follows this picture
        cond["control"] = control_cond(exp, args.control, args.n, args.run)
    x = draw(model, exp, seeds, cond, scfg, args.batch, progress=sys.stderr.isatty()).float()
    return x, cond.get("class"), ref_cfg, desc, (exp, model), labels, texts


def real_data_config(args):
    """The data config of ``--real DATASET`` with the ``data.*`` overrides applied.

    Raises:
        ConfigError: an override that is not ``data.*``, or a bad one.
    """
    import genlab.config as C
    from genlab.data import dataset_config

    data = [o.removeprefix("data.") for o in args.overrides if o.startswith("data.")]
    bad = [o for o in args.overrides if not o.startswith("data.")]
    if bad:
        raise ConfigError(f"{bad[0].split('=')[0]}: only data.* settings apply with --real")
    return C.revalidate(C.apply_overrides(dataset_config(args.real)(), data))


def _eval_samples_from_file(args, ref_cfg):
    """Samples from ``--fake FILE.npz`` (``genlab sample --out`` format: x, seed, class,
    prompt), with their prompts when the file has them, against the data ``ref_cfg``
    (:func:`real_data_config`)."""
    import numpy as np
    import torch

    path = Path(args.fake)
    if not path.is_file():
        raise ConfigError(f"--fake: {path}: no such file")
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
            raise ConfigError(
                f"--fake: {path}: not an .npz archive (write one with "
                "`genlab sample RUN --n N --out FILE.npz`)"
            )
    try:
        with np.load(path) as z:
            if "x" not in z.files:
                raise ConfigError(f"--fake: {path}: has no array 'x' (found {', '.join(z.files)})")
            x = torch.from_numpy(z["x"].astype(np.float32))
            y = torch.from_numpy(z["class"].astype(np.int64)) if "class" in z.files else None
            texts = [str(t) for t in z["prompt"]] if "prompt" in z.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ConfigError(f"--fake: {path}: not a readable .npz file ({e})") from None
    if args.n and args.n < len(x):
        x, y = x[: args.n], None if y is None else y[: args.n]
        texts = None if texts is None else texts[: args.n]
    if len(x) < 2:
        raise ConfigError(f"--fake: {path}: holds {len(x)} sample(s); the metrics need at least 2")
    if hasattr(ref_cfg, "frames"):  # clips: two real clips tell the reference's shape
        from genlab.evaluate import clip_shape

        one = clip_shape(ref_cfg)  # None for a folder of videos (not built to see)
        if one is not None and tuple(one) != tuple(x.shape[1:]):
            if x.ndim != 5:
                raise ConfigError(
                    f"--fake: {path} holds {tuple(x.shape[1:])}, not clips (C, T, H, W)"
                )
            _, t, h, _ = x.shape[1:]
            raise ConfigError(
                f"--fake: {path} holds clips {tuple(x.shape[1:])} but --real {args.real} gives "
                f"{tuple(one)}; set data.frames={t} data.image_size={h} to compare like with like"
            )
    return x, y, ref_cfg, f"{args.real} as configured", texts


def prompt_attributes(path, data_cfg, texts: list[str] | None) -> dict:
    """``{attribute: (N,)}`` that the prompts of ``--fake`` samples asked for, read back
    from the captions of ``data_cfg`` (``{}`` for samples without prompts)."""
    if texts is None:
        return {}
    from genlab.cond.prompts import attribute_labels, captions_of

    captions = set(captions_of(data_cfg))
    bad = next((t for t in texts if t and t not in captions), None)
    if bad is not None:
        bad = bad if len(bad) <= 60 else bad[:60] + "..."
        raise ConfigError(
            f"--fake: {path}: prompt {bad!r} is not a caption of {data_cfg.name} as "
            "configured, so --metrics attributes cannot tell what it asked for"
        )
    labels, known = attribute_labels(data_cfg, texts)  # label indices, as cond holds them
    if not known.all():
        raise ConfigError(f"--fake: {path}: holds samples of the empty prompt; no attributes")
    return labels


def cmd_eval(args) -> int:
    import torch

    import genlab.config as C
    from genlab.data import DATASETS
    from genlab.evaluate import (
        check_heads,
        check_likelihood_run,
        clip_shape,
        default_n,
        evaluate,
        likelihood_metrics,
        parse_metrics,
        table,
        video_reference,
    )
    from genlab.runs import experiment_to_sample
    from genlab.train.distributed import pick_device

    set_threads_from(args)
    if args.json:  # before minutes of sampling, not after
        from genlab.viz import check_writable

        check_writable(Path(args.json), "--json")
    if args.n is not None and args.n < 2:
        raise ConfigError(
            f"--n: the metrics compare two sets of samples and need at least 2, got {args.n}"
        )
    if args.run is not None and "=" in args.run and not Path(args.run).exists():
        args.overrides, args.run = [args.run, *args.overrides], None  # a key=value, not a RUN
    if (args.run is None) == (args.real is None):
        raise ConfigError("eval: give a RUN directory, or --real DATASET --fake FILE.npz")
    if args.real is not None and args.fake is None:
        raise ConfigError("--real: needs --fake FILE.npz (samples to evaluate)")
    if args.run is not None and args.fake is not None:
        raise ConfigError(
            f"--fake: evaluates samples already drawn, with --real DATASET; {args.run} "
            "would be sampled instead (give one of them)"
        )
    if args.fake is not None:  # the samples are drawn: how to draw them cannot apply
        for flag, value in (
            ("--lora", args.lora), ("--control", args.control), ("--sampler", args.sampler),
            ("--steps", args.steps), ("--cfg", args.cfg), ("--class", args.cls),
            ("--negative-prompt", args.negative_prompt),
        ):  # fmt: skip
            if value not in (None, []):
                raise ConfigError(
                    f"{flag}: says how to sample a RUN; --fake {args.fake} holds samples "
                    "already drawn (pass it to genlab sample --out FILE.npz instead)"
                )
    device = pick_device(args.device)
    if args.real is not None:
        real = real_data_config(args)  # the data the samples are compared with
        name, stored = real.name, None
    else:
        real, stored = None, experiment_to_sample(Path(args.run), args.accept_changed_deps)
        name = stored.data.name
    modality = DATASETS[name].modality
    args.n = default_n(modality) if args.n is None else args.n
    # Everything that can be checked is checked before sampling: names, data, extractor.
    metrics = parse_metrics(args.metrics, modality, name)
    if args.run is not None and "bpd" in metrics:
        check_likelihood_run(stored)
    for key in ("acc", "ifid"):  # cluster ids are not the judge's labels
        if key in metrics and stored is not None and getattr(stored.data, "label", "") == "cluster":
            raise ConfigError(
                f"--metrics {key}: {args.run} is conditioned on k-means clusters "
                "(data.label=cluster), not on the judge's classes"
            )
    image_metrics = [m for m in metrics if m not in ("bpd", "clip")]
    ext = frame_ext = None
    note = ""
    if modality == "video" and image_metrics:
        made = clip_shape(stored.data) if stored is not None else None  # (C, T, H, W)
        data = stored.data if stored is not None else real
        ext, frame_ext, metrics, note = _eval_video_extractors(
            args, metrics, name, made, device, data
        )
        if note:  # before sampling, which may take a while
            print(f"genlab: note: {note}", file=sys.stderr)
    elif modality != "points" and image_metrics:
        ext = _eval_extractor(args, name, device)
        check_heads(metrics, ext)  # no softmax of a multi-label head
        if modality == "audio" and args.run is not None and ext.input_shape is not None:
            made = (1, stored.data.length)  # audio samples are clips; checked before sampling
            if made != tuple(ext.input_shape):
                raise ConfigError(
                    f"--extractor: '{ext.name}' reads waveforms {tuple(ext.input_shape)}; "
                    f"{args.run} makes {made}"
                )
    clip = _eval_clip(args, device, name) if "clip" in metrics else None
    if args.run is not None and clip is not None:
        if not stored.text.encoder:
            raise ConfigError(
                f"--metrics clip: scores samples against their prompts; {args.run} has no "
                "text conditioning"
            )
        size = getattr(stored.data, "image_size", clip.model.image_size)
        if size != clip.model.image_size:  # checked before sampling
            raise ConfigError(
                f"--clip: {args.clip} reads {clip.model.image_size}x{clip.model.image_size} "
                f"images; {args.run} makes {size}x{size}"
            )
    if args.real is not None:
        if "bpd" in metrics:
            raise ConfigError("--metrics bpd: needs a RUN (the model), not --fake samples")
        fake, fake_class, ref_cfg, desc, texts = _eval_samples_from_file(args, real)
        labels = prompt_attributes(args.fake, ref_cfg, texts) if "attributes" in metrics else {}
        if clip is not None and texts is None:
            raise ConfigError(
                f"--metrics clip: {args.fake} has no 'prompt' array (genlab sample writes "
                "one for a text run)"
            )
    else:
        fake, fake_class, ref_cfg, desc, (exp, model), labels, texts = _eval_samples_from_run(
            args, metrics, device
        )
    if fake is None:  # only bpd: no samples needed
        fake = torch.empty(0)
    if modality == "video" and len(fake) and video_reference(ref_cfg, len(fake)) != ref_cfg:
        ref_cfg = video_reference(ref_cfg, len(fake))  # as many real clips as samples
        desc = f"{desc}, {ref_cfg.n} clips"
    plain = [m for m in metrics if m != "clip"]
    result = evaluate(
        fake, fake_class, ref_cfg, desc, plain, ext, args.cache, args.seed, labels, frame_ext
    )
    if note:
        result["note"] = note
    if clip is not None:
        from genlab.metrics.clip import clip_cosines, clip_scores

        want = tuple(clip.model.input_shape())
        if tuple(fake.shape[1:]) != want:
            raise ConfigError(
                f"--clip: {args.clip} reads images {want}; the samples are {tuple(fake.shape[1:])}"
            )
        result["metrics"].update(clip_scores(clip_cosines(clip.module, fake, texts)))
        result["clip"] = {"run": args.clip, "fingerprint": clip.fingerprint}
    if "bpd" in metrics:
        n = min(args.n, args.bpd_n)
        result["metrics"].update(
            likelihood_metrics(model, exp, ref_cfg, n, args.bpd_steps, args.seed)
        )
    result = {"run": args.run, "fake": args.fake, "metrics_requested": metrics, **result}
    if args.lora or args.control is not None:  # what else shaped the samples
        result = {**result, "lora": list(args.lora), "control": args.control}
    line = f"{len(fake)} samples vs {desc}" + (f"; extractor {ext.fingerprint}" if ext else "")
    print(line + (f"; frames {frame_ext.fingerprint}" if frame_ext else ""))
    print(table(result))
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(C.to_dict(result), indent=1, default=float) + "\n")
        os.replace(tmp, out)
        print(f"wrote {out}")
    return 0
