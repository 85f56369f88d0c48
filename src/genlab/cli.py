"""The ``genlab`` command: list, train, sample, eval, info.

User errors end with one line ``genlab: error: ...`` and exit status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from genlab.errors import ConfigError, GenlabError

LISTABLE = ("recipes", "datasets", "models", "samplers", "metrics")


# ------------------------------------------------------------------------------ list


def _listing(what: str) -> list[dict]:
    if what == "recipes":
        from genlab.recipes import RECIPES, get_task

        rows = []
        for name, r in RECIPES.items():
            exp = r.make()
            rows.append(
                {
                    "name": name,
                    "family": get_task(exp.objective.kind).family,
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
        from genlab.sampling import SAMPLERS

        return [
            {"name": k, "doc": (f.__doc__ or "").strip().splitlines()[0]}
            for k, f in SAMPLERS.items()
        ]
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
    from genlab import config as C
    from genlab.recipes import get_recipe, override
    from genlab.runs import load_experiment, prepare_run
    from genlab.train.loop import fit

    out = Path(args.out or f"runs/{args.recipe}")
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if args.resume:
        stored = load_experiment(out)
        if stored.recipe != args.recipe:
            raise ConfigError(f"{out}: is a '{stored.recipe}' run, not '{args.recipe}'")
        exp = override(stored, [])
    else:
        exp = override(get_recipe(args.recipe), args.overrides)
    if args.dry_run:
        if args.resume:
            exp = override(exp, args.overrides)
        print(C.dump_yaml(exp), end="")
        return 0
    exp, out = prepare_run(
        exp,
        out,
        resume=args.resume,
        overrides=args.overrides if args.resume else [],
        write=main_rank,
    )
    fit(exp, out, resume=args.resume)
    if main_rank:
        print(f"trained {out} ({exp.train.steps} steps); pictures in {out / 'samples'}")
        print(
            f"sample again: genlab sample {out} --n 64"
            + (" --class 3" if getattr(exp.model, "num_classes", 0) > 3 else "")
        )
    return 0


# ---------------------------------------------------------------------------- sample


def cmd_sample(args) -> int:
    import numpy as np

    from genlab.data import DATASETS
    from genlab.runs import sample_with_cond
    from genlab.train.distributed import pick_device
    from genlab.viz import save_samples

    out = Path(args.out or Path(args.run) / "samples" / f"sample_seed{args.seed}.png")
    if out.suffix.lower() not in (".npz", ".png", ".jpg", ".jpeg"):
        raise ConfigError(f"--out: unsupported file type {out.suffix!r} (use .png or .npz)")
    x, cond, nrow, exp = sample_with_cond(
        args.run,
        args.n,
        args.seed,
        cls=args.cls,
        weights=args.weights,
        device=pick_device(args.device),
        overrides=args.overrides,
        name=args.sampler,
        steps=args.steps,
        cfg=args.cfg,
    )
    seeds = [args.seed + i for i in range(args.n)]
    if out.suffix == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp.npz")
        arrays = {"x": x.float().numpy(), "seed": np.array(seeds)}
        if cond:
            arrays["class"] = cond["class"].numpy()
        np.savez(tmp, **arrays)
        os.replace(tmp, out)
    else:
        save_samples(x, DATASETS[exp.data.name].modality, out, nrow, cond.get("class"))
    print(f"wrote {len(x)} samples to {out}")
    return 0


# ------------------------------------------------------------------------------ info


def cmd_info(args) -> int:
    from genlab.recipes import get_task
    from genlab.runs import load_experiment
    from genlab.train.checkpoint import checkpoints
    from genlab.train.log import read_metrics

    run = Path(args.run)
    exp = load_experiment(run)
    model = get_task(exp.objective.kind).build(exp)
    ckpts = checkpoints(run)
    metrics = run / "metrics.jsonl"
    last = read_metrics(metrics)[-1] if metrics.is_file() and metrics.stat().st_size else {}
    info = {
        "run": str(run),
        "recipe": exp.recipe,
        "family": get_task(exp.objective.kind).family,
        "objective": exp.objective.kind,
        "data": exp.data.name,
        "model": exp.model.arch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "step": ckpts[-1][0] if ckpts else 0,
        "steps": exp.train.steps,
        "checkpoints": [s for s, _ in ckpts],
        "last_metrics": last,
    }
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        for k, v in info.items():
            print(f"{k:<13}{v}")
    return 0


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    # --debug works before or after the command; SUPPRESS keeps a subcommand's default
    # from overwriting `genlab --debug COMMAND`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors"
    )
    p = argparse.ArgumentParser(
        prog="genlab", description="Train, sample and evaluate generative models."
    )
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
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", parents=[common], help="draw samples from a trained run")
    s.add_argument("run")
    s.add_argument("overrides", nargs="*", metavar="key=value", help="sampler.* settings")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=int, default=0, help="sample i uses seed SEED+i")
    s.add_argument("--sampler", help="sampler name (genlab list samplers)")
    s.add_argument("--steps", type=int, help="number of sampling steps")
    s.add_argument("--cfg", type=float, help="guidance weight w: (1+w) cond - w uncond")
    s.add_argument("--class", dest="cls", type=int, help="class label to sample")
    s.add_argument("--weights", default="ema", help="ema (default) or model")
    s.add_argument("--device", default="auto")
    s.add_argument("--out", help="output .png (picture) or .npz (arrays)")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("info", parents=[common], help="describe a run directory")
    s.add_argument("run")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # key=value overrides may come before or after options: collect the stragglers.
    args, extra = parser.parse_known_args(argv)
    stray = [e for e in extra if e.startswith("-") or "=" not in e]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = list(args.overrides) + extra
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
