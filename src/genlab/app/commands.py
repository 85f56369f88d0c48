"""``genlab serve``, ``genlab arena rate`` and ``genlab arena judge`` (wired in genlab.cli)."""

from __future__ import annotations

import json
import random
import sys

from genlab.errors import ConfigError


def _limits(args):
    from genlab.app.studio import Limits

    for key in ("max_n", "max_steps", "max_prompt_chars", "concurrency", "port"):
        v = getattr(args, key)
        if v < (0 if key == "port" else 1):
            raise ConfigError(f"--{key.replace('_', '-')}: must be positive, got {v}")
    if args.port > 65535:
        raise ConfigError(f"--port: must be at most 65535, got {args.port}")
    return Limits(
        max_n=args.max_n, max_steps=args.max_steps, max_prompt_chars=args.max_prompt_chars
    )


def cmd_serve(args) -> int:
    from genlab.cpu import set_threads

    limits = _limits(args)
    db = args.db
    if args.runs and not (args.arena or db):
        raise ConfigError("--runs: names the arena's contestants; add --arena (or --db)")
    if args.arena and db is None:
        db = f"{args.runs_dir.rstrip('/')}/arena.sqlite"
    if db is not None and not args.arena:
        args.arena = True
    # checked before gradio is imported (seconds): a bad folder or database fails at once
    from genlab.app.store import VoteStore
    from genlab.app.studio import Studio

    studio = Studio(args.runs_dir, limits)
    contestants = args.runs.split(",") if args.runs else None
    if db is not None:
        from genlab.app.arena import Arena

        Arena(studio, VoteStore(db), contestants)  # unknown contestants fail here
    set_threads(args.threads)
    from genlab.app.ui import serve

    serve(
        args.runs_dir,
        host=args.host,
        port=args.port,
        db=db if args.arena else None,
        limits=limits,
        concurrency=args.concurrency,
        contestants=contestants,
    )
    return 0


def rate(db: str, task: str | None = None, rounds: int = 100) -> dict:
    """Leaderboard of the votes in ``db`` (see genlab.metrics.preference.leaderboard)."""
    from genlab.app.store import open_existing
    from genlab.metrics.preference import leaderboard, left_win_rate

    votes = open_existing(db).votes(task)
    names = sorted({v["left"] for v in votes} | {v["right"] for v in votes})
    idx = {n: i for i, n in enumerate(names)}
    a = [idx[v["left"]] for v in votes]
    b = [idx[v["right"]] for v in votes]
    s = [v["score"] for v in votes]
    rows = leaderboard(names, a, b, s, rounds=rounds) if votes else []
    return {"votes": len(votes), "left_win_rate": left_win_rate(s), "models": rows}


def cmd_arena_rate(args) -> int:
    if args.rounds < 1:
        raise ConfigError(f"--rounds: must be at least 1, got {args.rounds}")
    out = rate(args.db, args.task, args.rounds)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if not out["votes"]:
        print(f"{args.db}: no votes yet")
        return 0
    print("| rank | model | rating | 95% interval | online Elo | votes | W-T-L |")
    print("|---|---|---|---|---|---|---|")
    for r in out["models"]:
        print(
            f"| {r['rank']} | {r['model']} | {r['rating']:.0f} | {r['lo']:.0f} - {r['hi']:.0f} | "
            f"{r['elo']:.0f} | {r['votes']} | {r['wins']}-{r['ties']}-{r['losses']} |"
        )
    bias = out["left_win_rate"]
    print(
        f"\n{out['votes']} votes (Bradley-Terry, Elo scale, {args.rounds} bootstrap rounds); "
        + (
            f"left side won {bias:.1%} of decisive votes"
            if bias is not None
            else "no decisive votes"
        )
    )
    return 0


def cmd_arena_judge(args) -> int:
    """Automatic votes from the classifier judge, through the same arena code as people."""
    from genlab.app.arena import Arena, ClassifierJudge
    from genlab.app.store import VoteStore
    from genlab.app.studio import Limits, Studio
    from genlab.cpu import set_threads

    if args.votes < 1:
        raise ConfigError(f"--votes: must be at least 1, got {args.votes}")
    set_threads(args.threads)
    studio = Studio(args.runs_dir, Limits())
    arena = Arena(studio, VoteStore(args.db), args.runs.split(",") if args.runs else None, args.n)
    judge = ClassifierJudge(args.classifier)
    rng = random.Random(args.seed)
    for i in range(args.votes):
        m = arena.next_match(args.task, rng)
        xa, xb = arena.samples(m)
        choice = judge.choose(xa, xb, m.cls)
        arena.vote(m.id, args.voter, choice)
        print(
            f"{i + 1}/{args.votes} {m.prompt}: {m.left} vs {m.right} -> {choice}", file=sys.stderr
        )
    print(f"wrote {args.votes} votes to {args.db}")
    return 0


def add_parsers(sub, common) -> None:
    """The ``serve`` and ``arena`` subcommands."""
    s = sub.add_parser(
        "serve",
        parents=[common],
        help="web app: sample, interpolate and compare runs; --arena for preference votes",
    )
    s.add_argument("runs_dir", nargs="?", default="runs", help="folder of run directories")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--arena", action="store_true", help="add the Arena and Leaderboard tabs")
    s.add_argument("--db", help="vote database (default RUNS_DIR/arena.sqlite)")
    s.add_argument("--runs", help="the arena's contestants, comma-separated (default: all)")
    s.add_argument("--max-n", type=int, default=64, help="cap on samples per request")
    s.add_argument("--max-steps", type=int, default=200, help="cap on sampling steps")
    s.add_argument("--max-prompt-chars", type=int, default=200, help="cap on prompt length")
    s.add_argument("--concurrency", type=int, default=1, help="sampling requests at once")
    s.add_argument("--threads", type=int, default=0, help="torch threads (0: the free cores)")
    s.set_defaults(func=cmd_serve)

    arena = sub.add_parser("arena", parents=[common], help="ratings and automatic votes")
    asub = arena.add_subparsers(dest="arena_command", required=True, metavar="ACTION")
    r = asub.add_parser("rate", parents=[common], help="Bradley-Terry leaderboard of a vote DB")
    r.add_argument("db")
    r.add_argument("--task", help="only this task's votes (e.g. mnist:1x28)")
    r.add_argument("--rounds", type=int, default=100, help="bootstrap rounds")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_arena_rate)
    j = asub.add_parser("judge", parents=[common], help="votes from a classifier judge")
    j.add_argument("runs_dir")
    j.add_argument("--db", required=True)
    j.add_argument("--classifier", required=True, help="classifier run directory")
    j.add_argument("--votes", type=int, default=100)
    j.add_argument("--runs", help="comma-separated run names (default: all)")
    j.add_argument("--task")
    j.add_argument("--n", type=int, default=4, help="samples per side")
    j.add_argument("--seed", type=int, default=0)
    j.add_argument("--voter", default="classifier-judge")
    j.add_argument("--threads", type=int, default=0)
    j.set_defaults(func=cmd_arena_judge)
