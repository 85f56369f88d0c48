"""``genlab serve``, ``genlab arena rate`` and ``genlab arena judge`` (wired in genlab.cli)."""

from __future__ import annotations

import errno
import json
import random
import socket
import sys

from genlab.errors import ConfigError


def _limits(args):
    from genlab.app.studio import Limits

    for key in ("max_n", "max_steps", "max_prompt_chars", "max_frames", "concurrency"):
        v = getattr(args, key)
        if key == "max_frames" and v < 2:
            raise ConfigError(f"--max-frames: must be at least 2 (a walk has two ends), got {v}")
        if v < 1:
            raise ConfigError(f"--{key.replace('_', '-')}: must be positive, got {v}")
    return Limits(
        max_n=args.max_n,
        max_steps=args.max_steps,
        max_prompt_chars=args.max_prompt_chars,
        max_frames=args.max_frames,
    )


def _check_address(host: str, port: int) -> None:
    """The address must resolve and the port be free (a clear line, not gradio's trace)."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port: must be between 1 and 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ConfigError(f"--host: {host!r} is not an address of this machine") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"--host: {host} is not an address of this machine") from None
            raise ConfigError(f"--port: {port} on {host} is not free ({e.strerror})") from None


def cmd_serve(args) -> int:
    from genlab.cpu import set_threads

    limits = _limits(args)
    db = args.db
    if args.runs and not (args.arena or db):
        raise ConfigError("--runs: names the arena's contestants; add --arena (or --db)")
    if args.arena and db is None:
        db = f"{args.runs_dir.rstrip('/')}/arena.sqlite"
    # checked before gradio is imported (seconds): a bad folder or database fails at once
    from genlab.app.store import VoteStore
    from genlab.app.studio import Studio

    studio = Studio(args.runs_dir, limits, progress=True)
    contestants = args.runs.split(",") if args.runs else None
    arena = None
    if db is not None:
        from genlab.app.arena import Arena

        arena = Arena(studio, VoteStore(db), contestants)  # unknown contestants fail here
        if not arena.tasks and contestants:  # a fixed set that can never make a pair
            raise ConfigError(
                "--runs: no two of these runs share a task (same data and image size), so no "
                "pair can be drawn"
            )
        if not arena.tasks:  # the folder may still fill: runs are re-read at every draw
            print(
                "genlab serve: warning: no two runs share a task yet; the arena draws pairs "
                "once they do",
                file=sys.stderr,
            )
    _check_address(args.host, args.port)
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ConfigError(
            "genlab serve needs the app extra (gradio): pip install 'genlab[app]'"
        ) from None
    set_threads(args.threads)
    from genlab.app.ui import serve

    serve(studio, arena, host=args.host, port=args.port, concurrency=args.concurrency)
    return 0


def cmd_arena_rate(args) -> int:
    from genlab.app.arena import ratings
    from genlab.app.store import open_existing

    if args.rounds < 1:
        raise ConfigError(f"--rounds: must be at least 1, got {args.rounds}")
    out = ratings(open_existing(args.db), args.task, args.rounds)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if not out:
        print(f"{args.db}: no votes yet")
        return 0
    for task, board in out.items():
        print(f"\n## {task}\n")
        print("| rank | model | rating | 95% interval | online Elo | votes | W-T-L |")
        print("|---|---|---|---|---|---|---|")
        for r in board["models"]:
            print(
                f"| {r['rank']} | {r['model']} | {r['rating']:.0f} | {r['lo']:.0f} - "
                f"{r['hi']:.0f} | {r['elo']:.0f} | {r['votes']} | "
                f"{r['wins']}-{r['ties']}-{r['losses']} |"
            )
        bias = board["left_win_rate"]
        n = board["votes"]
        print(
            f"\n{n} vote{'s' * (n != 1)} (Bradley-Terry, Elo scale, {args.rounds} bootstrap "
            "rounds); "
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
    if args.n < 1:
        raise ConfigError(f"--n: must be at least 1, got {args.n}")
    if not args.voter.strip():
        raise ConfigError("--voter: must not be empty")
    set_threads(args.threads)
    studio = Studio(args.runs_dir, Limits(max_n=max(args.n, 64), max_steps=10_000))
    contestants = args.runs.split(",") if args.runs else None
    arena = Arena(studio, VoteStore(args.db), contestants, args.n)
    judge = ClassifierJudge(args.classifier)
    tasks = arena.tasks
    task = args.task or (max(tasks, key=lambda t: len(tasks[t])) if tasks else None)
    if task in tasks and tasks[task][0].data != judge.data:
        raise ConfigError(
            f"--classifier: it was trained on {judge.data}, but task {task} is "
            f"{tasks[task][0].data}"
        )
    rng = random.Random(args.seed)
    for i in range(args.votes):
        m, xa, xb = arena.next_match(task, rng, args.voter)
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
    s.add_argument(
        "runs_dir", nargs="?", default="runs", help="folder of run directories (default runs)"
    )
    s.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; the page has no login, so think before "
        "serving it on another address)",
    )
    s.add_argument("--port", type=int, default=7860, help="(default 7860)")
    s.add_argument("--arena", action="store_true", help="add the Arena and Leaderboard tabs")
    s.add_argument("--db", help="vote database (default RUNS_DIR/arena.sqlite)")
    s.add_argument("--runs", help="the arena's contestants, comma-separated (default: all)")
    s.add_argument("--max-n", type=int, default=64, help="cap on samples per request")
    s.add_argument("--max-steps", type=int, default=200, help="cap on sampling steps")
    s.add_argument("--max-prompt-chars", type=int, default=200, help="cap on prompt length")
    s.add_argument("--max-frames", type=int, default=16, help="cap on interpolation frames")
    s.add_argument("--concurrency", type=int, default=1, help="sampling requests at once")
    s.add_argument("--threads", type=int, default=0, help="torch threads (0: the free cores)")
    s.set_defaults(func=cmd_serve)

    arena = sub.add_parser("arena", parents=[common], help="ratings and automatic votes")
    asub = arena.add_subparsers(dest="arena_command", required=True, metavar="ACTION")
    r = asub.add_parser("rate", parents=[common], help="Bradley-Terry leaderboard of a vote DB")
    r.add_argument("db", help="the vote database genlab serve --arena wrote (opened read-only)")
    r.add_argument("--task", help="only this task (data:image size, e.g. mnist:28)")
    r.add_argument("--rounds", type=int, default=100, help="bootstrap rounds")
    r.add_argument("--json", action="store_true", help="print the leaderboards as JSON")
    r.set_defaults(func=cmd_arena_rate)
    j = asub.add_parser("judge", parents=[common], help="votes from a classifier judge")
    j.add_argument("runs_dir", help="folder of run directories")
    j.add_argument("--db", required=True, help="vote database to add the votes to")
    j.add_argument("--classifier", required=True, help="classifier run directory")
    j.add_argument("--votes", type=int, default=100, help="votes to cast (default 100)")
    j.add_argument("--runs", help="comma-separated run names (default: all)")
    j.add_argument("--task", help="data:image size, e.g. mnist:28 (default: most runs)")
    j.add_argument("--n", type=int, default=4, help="samples per side")
    j.add_argument("--seed", type=int, default=0, help="seeds the pair and prompt draws")
    j.add_argument("--voter", default="classifier-judge", help="voter id stored with the votes")
    j.add_argument("--threads", type=int, default=0)
    j.set_defaults(func=cmd_arena_judge)
