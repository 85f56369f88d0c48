"""The ``genlab`` command: list, train, sample, edit, eval, info, serve, arena.

User errors end with one line ``genlab: error: ...`` and exit status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from genlab.cli_eval import set_threads_from
from genlab.errors import ConfigError, GenlabError

LISTABLE = ("recipes", "datasets", "models", "samplers", "metrics")


# ------------------------------------------------------------------------------ list


def _listing(what: str) -> list[dict]:
    if what == "recipes":
        from genlab.families import family_name
        from genlab.recipes import RECIPES

        rows = []
        for name, r in RECIPES.items():
            exp = r.make()
            rows.append(
                {
                    "name": name,
                    "family": family_name(exp.objective.kind),
                    "data": exp.data.name,
                    "model": exp.model.arch,
                    "doc": r.doc,
                }
            )
        return rows
    if what == "datasets":
        from genlab.data import DATASETS

        return [{"name": k, "modality": s.modality, "doc": s.doc} for k, s in DATASETS.items()]
    if what == "models":
        from genlab.models import MODELS, PRESETS

        rows = [{"name": k, "kind": "architecture", "doc": s.doc} for k, s in MODELS.items()]
        return rows + [
            {"name": k, "kind": f"preset of {c.arch}", "doc": ""} for k, c in PRESETS.items()
        ]
    if what == "samplers":
        from genlab.sampling import SAMPLER_INFO

        return [{"name": k, "doc": doc} for k, (_, doc) in SAMPLER_INFO.items()]
    if what == "metrics":
        try:
            from genlab.metrics import METRICS
        except ImportError:
            METRICS = {}
        return [{"name": k, "doc": getattr(m, "doc", "")} for k, m in METRICS.items()]
    raise ConfigError(f"genlab list: unknown category {what!r}; choose from {', '.join(LISTABLE)}")


def cmd_list(args) -> int:
    cats = [args.what] if args.what else list(LISTABLE)
    out = {c: _listing(c) for c in cats}
    if args.json:
        print(json.dumps(out if not args.what else out[args.what], indent=1))
        return 0
    for c, rows in out.items():
        print(f"{c}:")
        width = max((len(r["name"]) for r in rows), default=0) + 2
        for r in rows:
            extra = "  ".join(f"{k}={v}" for k, v in r.items() if k not in ("name", "doc") and v)
            doc = f"  {r['doc']}" if r.get("doc") else ""
            print(f"  {r['name']:<{width}}{extra}{doc}")
    return 0


# ----------------------------------------------------------------------------- train


def cmd_train(args) -> int:
    import genlab.config as C
    from genlab.recipes import get_recipe

    out = Path(args.out or f"runs/{args.recipe}")
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if args.resume:  # reads the run (and its dependencies' weights): needs torch
        from genlab.runs import load_experiment, prepare_run

        stored = load_experiment(out, args.accept_changed_deps)
        if stored.recipe != args.recipe:
            raise ConfigError(f"{out}: is a '{stored.recipe}' run, not '{args.recipe}'")
        # The checks of a real resume (only train.* changes, no fewer steps), writing
        # nothing: --dry-run answers as the run would.
        exp, _ = prepare_run(
            stored,
            out,
            resume=True,
            overrides=args.overrides,
            write=False,
            accept_changed=args.accept_changed_deps,
        )
    else:  # torch is not imported until training starts (--dry-run stays fast)
        exp = get_recipe(args.recipe, args.overrides)
    if args.dry_run:
        print(C.dump_yaml(exp), end="")
        return 0
    from genlab.runs import fit

    out = fit(
        exp,
        out,
        resume=args.resume,
        accept_changed=args.accept_changed_deps,
        overrides=args.overrides if args.resume else [],
        write=main_rank,
    )
    if main_rank:
        from genlab.checkpoint import last_step
        from genlab.families import family_of

        done = last_step(out)
        more = (
            f"; stopped early (train.stop_after): continue with `genlab train {exp.recipe} "
            f"--out {shlex.quote(str(out))} --resume train.stop_after=0`"
            if done < exp.train.steps
            else ""
        )
        pics = f"; pictures in {out / 'samples'}" if (out / "samples").is_dir() else ""
        print(f"trained {out} (step {done} of {exp.train.steps}){pics}{more}")
        if family_of(exp.objective.kind).name not in ("classifier", "contrastive"):
            from genlab.data import DATASETS

            modality = DATASETS[exp.data.name].modality
            few = modality in ("audio", "video")  # a clip each: 8, not a 64-image grid
            file = {"audio": "sample.wav", "video": "sample.gif"}.get(modality)
            q = shlex.quote  # a command to paste into a shell, spaces and all
            print(
                f"sample again: genlab sample {q(str(out))} --n " + ("8" if few else "64")
                + (" --class 3" if getattr(exp.model, "num_classes", 0) > 3
                   and getattr(exp.data, "label", None) != "cluster" else "")
                + (f" --out {q(str(out / 'samples' / file))}" if file else "")
                + (f" --prompt {q(example_prompt(exp))}" if exp.text.encoder else "")
            )  # fmt: skip
    return 0


def example_prompt(exp) -> str:
    """A prompt a text run can take, for the hints: one of its data's captions."""
    from genlab.cond.prompts import captions_of

    try:
        captions = captions_of(exp.data)
    except ConfigError:  # data without captions
        return "a prompt"
    return captions[len(captions) // 3]


# ---------------------------------------------------------------------------- sample


def sampling_options(args) -> dict:
    """The keywords of the shared sampling flags, for ``runs.sample_with_cond`` and
    ``edit.edit``."""
    from genlab.train.distributed import pick_device

    return dict(
        weights=args.weights,
        device=pick_device(args.device),
        overrides=args.overrides,
        accept_changed=args.accept_changed_deps,
        lora=args.lora,
        batch=args.batch,
        name=args.sampler,
        steps=args.steps,
        cfg=args.cfg,
        **({"negative_prompt": args.negative_prompt} if args.negative_prompt else {}),
    )


SAMPLE_SUFFIXES = {
    ".png": "picture", ".jpg": "picture", ".jpeg": "picture", ".npz": "arrays", ".wav": "audio",
    ".gif": "video", ".mp4": "video",
}  # fmt: skip


def refuse_overwriting_inputs(out: Path, inputs) -> None:
    """A ConfigError when ``out`` is one of the ``(flag, path or None)`` input files."""
    for flag, given in inputs:
        if given and out.resolve() == Path(given).resolve():
            raise ConfigError(f"--out: {out} is the {flag} file; inputs are never overwritten")


def cmd_sample(args) -> int:
    import numpy as np
    import torch

    from genlab.data import DATASETS
    from genlab.runs import prompt_rows, read_prompts, sample_with_cond
    from genlab.viz import check_writable, save_image, save_samples

    set_threads_from(args)
    out = Path(args.out or Path(args.run) / "samples" / f"sample_seed{args.seed}.png")
    check_writable(out, "--out")
    kind = SAMPLE_SUFFIXES.get(out.suffix.lower())  # checked before any sampling
    if kind is None:
        raise ConfigError(
            f"--out: unsupported file type {out.suffix or '(none)'!r} for {out}; use one of "
            f"{', '.join(SAMPLE_SUFFIXES)} (any case)"
        )
    from genlab.runs import read_experiment

    name = read_experiment(Path(args.run)).data.name  # checked before any sampling too
    if kind in ("audio", "video") and DATASETS[name].modality != kind:
        what = "a WAV" if kind == "audio" else "an animation"
        raise ConfigError(f"--out: {out} is {what}, but {args.run} makes {name} samples")
    if kind == "picture" and DATASETS[name].modality == "video":  # the animations beside it
        for animation in (out.with_suffix(".gif"), out.with_suffix(".mp4")):
            check_writable(animation, "--out")
    refuse_overwriting_inputs(out, (("--control", args.control), ("--prompts", args.prompts)))
    texts = read_prompts(args.prompt, args.prompts)
    x, cond, nrow, exp = sample_with_cond(
        args.run,
        args.n,
        args.seed,
        progress=sys.stderr.isatty(),
        cls=args.cls,
        control=args.control,
        prompts=texts,
        speaker=args.speaker,
        frames=args.frames,
        context=args.context,
        **sampling_options(args),
    )
    seeds = [args.seed + i for i in range(args.n)] * (len(texts) if texts else 1)
    if kind == "arrays":
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp.npz")
        arrays = {"x": x.float().numpy(), "seed": np.array(seeds)}
        if "class" in cond:
            arrays["class"] = cond["class"].numpy()
        if exp.text.encoder:  # each sample's prompt
            arrays["prompt"] = np.array(prompt_rows(exp, texts, args.n, args.seed, args.run)[0])
            if args.negative_prompt:
                arrays["negative_prompt"] = np.array(args.negative_prompt)
        np.savez(tmp, **arrays)
        os.replace(tmp, out)
    elif kind == "audio":  # one WAV, or a folder of them in class order
        order = torch.argsort(cond["class"], stable=True) if "class" in cond else slice(None)
        out = save_samples(x[order], "audio", out, sample_rate=exp.data.sample_rate)
    elif len(x) == 1 and DATASETS[exp.data.name].modality == "image":
        save_image(x[0], out)  # at its own size, pixel for pixel (an input for genlab edit)
    else:  # a picture: one row per class (sample i keeps class i % K whatever --n is)
        labels = cond.get("class")
        order = torch.argsort(labels, stable=True) if labels is not None else torch.arange(len(x))
        labels = labels[order] if labels is not None else None
        fps = getattr(exp.data, "fps", 0)  # video: the data's frame rate
        modality = DATASETS[exp.data.name].modality
        save_samples(x[order], modality, out, nrow, labels, fps)
        if modality == "video" and kind == "picture":  # the animations beside the strip
            out = f"{out} (frame strip), {out.with_suffix('.gif')} and {out.with_suffix('.mp4')}"
    print(f"wrote {len(x)} sample{'s' * (len(x) != 1)} to {out}")
    return 0


# ------------------------------------------------------------------------------ edit


def cmd_edit(args) -> int:
    from genlab.edit import check_editable, edit, parse_extend
    from genlab.runs import read_experiment
    from genlab.viz import check_writable, save_grid, save_image

    set_threads_from(args)
    check_editable(read_experiment(Path(args.run)), args.run)  # before the output's name
    out = Path(args.out)
    check_writable(out, "--out")
    if out.suffix.lower() in (".jpg", ".jpeg"):
        raise ConfigError(f"--out: {out}: JPEG is lossy and would change the kept pixels; use .png")
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out: {out} is not a .png picture")
    inputs = (("--image", args.image), ("--mask", args.mask), ("--control", args.control))
    refuse_overwriting_inputs(out, inputs)
    y, _, mask = edit(
        args.run,
        args.image,
        mask=args.mask,
        extend=parse_extend(args.extend) if args.extend else None,
        strength=args.strength,
        n=args.n,
        seed=args.seed,
        cls=args.cls,
        prompt=args.prompt,
        control=args.control,
        jump_length=args.jump_length,
        resample=args.resample,
        **sampling_options(args),
    )
    if len(y) == 1:
        save_image(y[0], out)
    else:
        save_grid(y, out, nrow=len(y))
    h, w = y.shape[-2:]
    if mask is None:
        print(f"wrote the translation of {args.image} ({w}x{h}) to {out}")
    else:
        print(
            f"wrote {len(y)} edit(s) of {args.image} ({w}x{h}, {int(mask.sum())} pixels "
            f"regenerated) to {out}"
        )
    return 0


# ------------------------------------------------------------------------------ eval


def cmd_eval(args) -> int:
    from genlab.cli_eval import cmd_eval as run  # the command's steps live there

    return run(args)


# ------------------------------------------------------------------------------ info


def _plain(value):
    """A config section as plain data for JSON (other values as they are)."""
    import dataclasses

    from genlab.config import to_dict

    return to_dict(value) if dataclasses.is_dataclass(value) else value


def cmd_info(args) -> int:
    from genlab.checkpoint import checkpoints
    from genlab.families import family_of
    from genlab.runs import dependency_status, load_experiment
    from genlab.train.log import read_metrics

    run = Path(args.run)
    # Describes a run whatever became of its dependencies (each pin's state is shown).
    exp = load_experiment(run, accept_changed=True, missing_ok=True)
    pinned = dependency_status(run)
    try:
        n_params = sum(p.numel() for p in family_of(exp.objective.kind).build(exp).parameters())
    except GenlabError:  # the network reads a dependency that is missing
        n_params = None
    ckpts = checkpoints(run)
    metrics = run / "metrics.jsonl"
    last = read_metrics(metrics)[-1] if metrics.is_file() and metrics.stat().st_size else {}
    info = {
        "run": str(run),
        "recipe": exp.recipe,
        "family": family_of(exp.objective.kind).name,
        "objective": exp.objective.kind,
        "data": exp.data.name,
        "model": exp.model.arch,
        # a vocoder's kind (hifigan or vocos), or a GAN's generator settings
        "generator": _plain(getattr(exp.model, "generator", None)),
        "parameters": n_params,
        "step": ckpts[-1][0] if ckpts else 0,
        "steps": exp.train.steps,
        "checkpoints": [s for s, _ in ckpts],
        "dependencies": pinned,
        "last_metrics": last,
    }
    if exp.lora.rank:  # a LoRA run: its base and its adapter
        pin = run / "lora_base.json"
        info["lora"] = {
            "rank": exp.lora.rank,
            "alpha": exp.lora.alpha or exp.lora.rank,
            "target_modules": exp.lora.target_modules,
            "base": json.loads(pin.read_text()) if pin.is_file() else exp.train.init_from,
            "adapter": str(run / "adapter") if (run / "adapter").is_dir() else None,
        }
    if exp.text.encoder:  # a text run: what reads its prompts
        conditioning = {  # what reads the token states (a DiT's model.text_conditioning)
            "cross": "cross-attention, pooled into the time embedding",
            "pooled": "the pooled vector in adaLN only",
            "joint": "joint attention over image and text tokens (MM-DiT)",
        }[getattr(exp.model, "text_conditioning", "cross")]
        info["text"] = {
            "encoder": exp.text.encoder,
            "max_length": exp.text.length(),
            "conditioning": conditioning,
        }
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(
        f"{run}: recipe {info['recipe']} ({info['family']} family, objective {info['objective']})"
    )
    rate, length = getattr(exp.data, "sample_rate", 0), getattr(exp.data, "length", 0)
    shape = f" ({length:,} samples at {rate:,} Hz, {length / rate:.2f} s)" if rate else ""
    frames, fps = getattr(exp.data, "frames", 0), getattr(exp.data, "fps", 0)
    if frames and fps:  # a video dataset
        size = getattr(exp.data, "image_size", 0)
        shape = f" ({frames} frames of {size}x{size} at {fps:g} fps, {frames / fps:.2f} s)"
    print(f"  data        {info['data']}{shape}")
    if getattr(exp.data, "label", None) == "cluster":  # self-conditioned: no labels read
        print(f"  classes     {exp.data.clusters} k-means clusters of the clips' MFCCs "
              "(data.label=cluster: self-conditioned, no labels)")  # fmt: skip
    count = "unknown" if n_params is None else f"{n_params:,}"
    gen = ""
    if isinstance(info["generator"], str):  # a vocoder
        phase = getattr(exp.model, "phase", "predicted")
        extra = ", Griffin-Lim phase" if phase == "griffin-lim" else ""
        gen = f" ({info['generator']} generator{extra})"
    print(f"  model       {info['model']}{gen}, {count} parameters")
    if exp.model.arch == "codec":
        rates = ", ".join(
            f"{exp.model.bitrate(k) / 1000:g}" for k in range(1, exp.model.codebooks + 1)
        )
        print(f"  codec       {exp.model.codebooks} codebooks of {exp.model.codebook_size} codes "
              f"at {exp.model.sample_rate / exp.model.hop_length():g} frames/s: {rates} "
              f"kbit/s; {exp.model.encoder} encoder, {exp.model.decoder} decoder")  # fmt: skip
    if "lora" in info:
        lo, base = info["lora"], info["lora"]["base"]
        where = (
            f"{base['path']} (EMA weights {base['fingerprint']})"
            if isinstance(base, dict)
            else base
        )
        print(f"  LoRA        rank {lo['rank']}, alpha {lo['alpha']:g} on {lo['target_modules']} "
              f"layers of {where}; adapter: {lo['adapter'] or 'not written yet'}")  # fmt: skip
    if "text" in info:
        t = info["text"]
        frozen = " (frozen)" if t["encoder"] == "minilm" else ""
        print(f"  text        encoder {t['encoder']}{frozen}, up to {t['max_length']} tokens, "
              f"read by {t['conditioning']}")  # fmt: skip
    print(f"  trained     step {info['step']:,} of {info['steps']:,}")
    print(f"  checkpoints {', '.join(map(str, info['checkpoints'])) or 'none yet'}")
    for key, pin in pinned.items():
        state = {
            "ok": "unchanged",
            "changed": f"CHANGED: its weights are now {pin.get('found')}",
            "missing": f"MISSING: nothing at {pin['at']}",
            "unreadable": f"UNREADABLE: {pin.get('error')}",
        }[pin["status"]]
        print(
            f"  depends on  {key} = {pin['path']} ({pin['weights']} weights "
            f"{pin['fingerprint']}, {state})"
        )
    if last:
        shown = ", ".join(
            f"{k}={v:.1%}" if k == "mfu" else f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in last.items()
        )
        print(f"  last logged {shown}")
    return 0


# ---------------------------------------------------------------------------- parser


def _usage_line(prog: str, message: str) -> str:
    return f"{prog}: error: {message} ({prog} --help lists the options)\n"


class _Parser(argparse.ArgumentParser):
    """argparse with genlab's error style: one line and exit status 2, not the usage
    block (``--help`` still prints it)."""

    def error(self, message: str):
        self.exit(2, _usage_line(self.prog, message))


def build_parser() -> argparse.ArgumentParser:
    # --debug works before or after the command; SUPPRESS keeps a subcommand's default
    # from overwriting `genlab --debug COMMAND`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors"
    )
    p = _Parser(prog="genlab", description="Train, sample and evaluate generative models.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", parents=[common], help="list recipes, datasets, models, ...")
    s.add_argument("what", nargs="?", choices=LISTABLE)
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser(
        "train",
        parents=[common],
        help="train a recipe",
        description="Train RECIPE, with key=value overrides checked against "
        "the config's types (genlab train demo --dry-run shows them).",
    )
    s.add_argument("recipe")
    s.add_argument("overrides", nargs="*", metavar="key=value")
    s.add_argument("--out", help="run directory (default runs/RECIPE)")
    s.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    s.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    s.add_argument(
        "--accept-changed-deps",
        action="store_true",
        help="resume even if a run this one depends on was retrained since",
    )
    s.set_defaults(func=cmd_train)

    # Flags that say how to sample a run, shared by `sample` and `eval`.
    sampling = argparse.ArgumentParser(add_help=False)
    sampling.add_argument("--seed", type=int, default=0, help="sample i uses seed SEED+i")
    sampling.add_argument("--sampler", help="sampler name (genlab list samplers)")
    sampling.add_argument("--steps", type=int, help="number of sampling steps")
    sampling.add_argument(
        "--cfg",
        type=float,
        help="guidance weight w: (1+w) cond - w uncond; with sampler.autoguidance=GUIDE, "
        "(1+w) model - w guide",
    )
    sampling.add_argument(
        "--class",
        dest="cls",
        type=int,
        help="class label to sample (without it: sample i gets class i mod K, or, for a "
        "self-conditioned run (data.label=cluster), a cluster drawn by its training frequency)",
    )
    sampling.add_argument(
        "--control",
        help="ControlNet runs: the control picture (default: a held-out image's, by seed)",
    )
    sampling.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="RUN[:SCALE]",
        help="add a LoRA run's adapter at SCALE (default 1; repeat for several)",
    )
    sampling.add_argument(
        "--negative-prompt",
        help="text runs: guidance steers away from this prompt instead of the empty one",
    )
    sampling.add_argument("--weights", default="ema", help="ema (default) or model")
    sampling.add_argument("--device", default="auto")
    sampling.add_argument("--batch", type=int, default=500, help="samples per sampling batch")
    sampling.add_argument(
        "--threads", type=int, default=0, help="torch threads (default 0: the free cores)"
    )
    sampling.add_argument(
        "--accept-changed-deps",
        action="store_true",
        help="use a run this one depends on (tokenizer, codec, ...) even if it was retrained",
    )

    s = sub.add_parser("sample", parents=[common, sampling], help="draw samples from a trained run")
    s.add_argument("run")
    s.add_argument("overrides", nargs="*", metavar="key=value", help="sampler.* settings")
    s.add_argument(
        "--speaker",
        help="audio runs with speakers: the voice, an id or an FSDD name (e.g. jackson)",
    )
    s.add_argument(
        "--frames",
        type=int,
        help="video runs: roll each clip out to this many frames, window by window",
    )
    s.add_argument(
        "--context",
        type=int,
        help="with --frames: known frames per window, 1 .. window - 1 (default "
        "objective.context_frames, else half the window)",
    )
    s.add_argument(
        "--n",
        type=int,
        default=64,
        help="number of samples (default 64; per prompt with --prompts)",
    )
    s.add_argument(
        "--out",
        help="output .png (a grid; --n 1: the image at its own size; audio: spectrograms; "
        "video: a frame strip, with X.gif and X.mp4 beside it), .npz (arrays), for audio "
        ".wav (--n 1: that file; else a folder of WAVs), for video .gif or .mp4 alone",
    )
    s.add_argument("--prompt", help="text runs: the prompt of every sample")
    s.add_argument(
        "--prompts", metavar="FILE", help="text runs: prompts, one a line; --n samples of each"
    )
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser(
        "edit",
        parents=[common, sampling],
        help="inpaint (--mask), outpaint (--extend), SDEdit (--strength) or translate an image",
    )
    s.add_argument("run")
    s.add_argument("overrides", nargs="*", metavar="key=value", help="sampler.* settings")
    s.add_argument("--image", required=True, help="input picture, the run's size and channels")
    s.add_argument("--mask", help="picture of the same size; white pixels are regenerated")
    s.add_argument(
        "--extend", action="append", metavar="SIDE=PX", help="outpaint: left=8, top=4,bottom=4"
    )
    s.add_argument("--strength", type=float, help="SDEdit noise level in (0, 1] (default 1)")
    s.add_argument("--prompt", help="text prompt (runs with text conditioning)")
    s.add_argument("--resample", type=int, help="RePaint resamplings (default 1: none)")
    s.add_argument(
        "--jump-length", type=int, help="RePaint jump length in steps (default 10; with --resample)"
    )
    s.add_argument("--n", type=int, default=1, help="edits, seeds SEED.. (default 1)")
    s.add_argument("--out", required=True, help="output .png (n > 1: a row of the edits)")
    s.set_defaults(func=cmd_edit)

    s = sub.add_parser(
        "eval",
        parents=[common, sampling],
        help="evaluate a run (or an .npz of samples) with FID, KID, ...",
        description="Sample RUN (or read --fake FILE.npz) and compute metrics against the "
        "dataset's held-out reference (genlab list metrics).",
    )
    s.add_argument("run", nargs="?", help="run directory to sample from")
    s.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="sampler.*; data.root=DIR (a run's data elsewhere); data.* with --real",
    )
    s.add_argument("--metrics", help="comma-separated (default fid,kid,pr,dc or modes,w,mmd)")
    s.add_argument(
        "--n", type=int, default=None, help="number of samples (default 10000; video 500)"
    )
    s.add_argument("--real", help="dataset name of the reference (with --fake)")
    s.add_argument("--fake", help=".npz of samples (genlab sample --out x.npz)")
    s.add_argument(
        "--extractor",
        help="classifier run directory, or mnist|digits|shapes|moving-mnist|moving-shapes",
    )
    s.add_argument("--clip", help="--metrics clip: the dual-encoder run (default runs/clip-shapes)")
    s.add_argument("--inception-weights", help="pt_inception-2015-12-05-6726825d.pth")
    s.add_argument("--cache", help="reference-statistics cache dir (default: extractor's)")
    s.add_argument("--bpd-n", type=int, default=1000, help="held-out samples for bpd")
    s.add_argument("--bpd-steps", type=int, default=50, help="RK4 steps of the PF-ODE")
    s.add_argument("--json", help="write every figure to this JSON file")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("info", parents=[common], help="describe a run directory")
    s.add_argument("run")
    s.add_argument("--json", action="store_true", help="print the same as one JSON object")
    s.add_argument(  # info shows changed dependencies without it; kept for old scripts
        "--accept-changed-deps", action="store_true", help=argparse.SUPPRESS
    )
    s.set_defaults(func=cmd_info)

    from genlab.app.commands import add_parsers

    add_parsers(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # key=value overrides may come before or after options: collect the stragglers.
    args, extra = parser.parse_known_args(argv)
    stray = [e for e in extra if e.startswith("-") or "=" not in e]
    if stray or (extra and not hasattr(args, "overrides")):
        unknown = f"unrecognized arguments: {' '.join(stray or extra)}"
        parser.exit(2, _usage_line(f"genlab {args.command}", unknown))  # the subcommand's help
    if extra:
        args.overrides = list(args.overrides) + extra
    if not args.debug:  # warnings as one line each, without source paths
        import warnings

        warnings.showwarning = lambda msg, *_a, **_k: print(
            f"genlab: warning: {msg}", file=sys.stderr
        )
    if args.func is not cmd_list and not getattr(args, "dry_run", False):
        from genlab.cpu import prepare_process

        prepare_process()  # before torch is imported: sleeping OpenMP waits, the allocator
    try:
        return args.func(args)
    except GenlabError as e:
        if args.debug:
            raise
        print(f"genlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
