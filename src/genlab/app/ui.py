"""The Gradio page of ``genlab serve``: Runs, Sample, Interpolate, Compare, and with
``--arena`` the Arena and Leaderboard tabs.

Every handler turns a :class:`~genlab.errors.GenlabError` into a one-line message on the
page (``gr.Error``); anything else is logged on the server and shown as one line, never a
stack trace. Sampling handlers share one queue slot group (``concurrency`` at a time, so
the machine is never oversubscribed); votes have their own. Analytics are off and the
theme uses system fonts, so the page fetches nothing from the internet.

API names (for ``gradio_client``): ``/runs``, ``/sample``, ``/interpolate``,
``/compare``, ``/new_pair``, ``/vote_A``, ``/vote_B``, ``/vote_tie``, ``/vote_both_bad``,
``/leaderboard``.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import traceback
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import torch  # noqa: E402

from genlab.app.arena import Arena  # noqa: E402
from genlab.app.store import VoteStore  # noqa: E402
from genlab.app.studio import Limits, Studio  # noqa: E402
from genlab.errors import GenlabError  # noqa: E402
from genlab.metrics.preference import leaderboard, left_win_rate  # noqa: E402
from genlab.sampling import SAMPLER_INFO  # noqa: E402
from genlab.viz import image_grid  # noqa: E402

log = logging.getLogger("genlab.serve")
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["ui-monospace", "monospace"]
ANY = "any"


def _safe(fn):
    """Handler wrapper: genlab errors as one line on the page; others logged, one line."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except GenlabError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:  # the page gets a line; the server log the traceback
            log.error("request failed:\n%s", traceback.format_exc())
            raise gr.Error(f"internal error: {type(e).__name__} (see the server log)") from None

    return wrapped


def rating_rows(store: VoteStore, task: str | None = None) -> tuple[list[list], str]:
    """The leaderboard as table rows and a one-line footer (votes, position bias)."""
    votes = store.votes(task)
    names = sorted({v["left"] for v in votes} | {v["right"] for v in votes})
    if not votes:
        return [], "no votes yet"
    idx = {n: i for i, n in enumerate(names)}
    a = [idx[v["left"]] for v in votes]
    b = [idx[v["right"]] for v in votes]
    s = [v["score"] for v in votes]
    rows = leaderboard(names, a, b, s)
    table = [
        [
            r["rank"],
            r["model"],
            round(r["rating"]),
            f"{r['lo']:.0f} - {r['hi']:.0f}",
            round(r["elo"]),
            r["votes"],
            r["wins"],
            r["ties"],
            r["losses"],
        ]
        for r in rows
    ]
    bias = left_win_rate(s)
    foot = (
        f"{len(votes)} votes; left side wins {bias:.1%} of decisive votes"
        if bias is not None
        else f"{len(votes)} votes"
    )
    return table, foot


LEADERBOARD_HEADERS = [
    "rank",
    "model",
    "rating",
    "95% interval",
    "online Elo",
    "votes",
    "wins",
    "ties",
    "losses",
]


def build_app(
    studio: Studio,
    store: VoteStore | None = None,
    concurrency: int = 1,
    workdir: Path | None = None,
    contestants: list[str] | None = None,
) -> gr.Blocks:
    """The Blocks of the page; ``store`` adds the Arena and Leaderboard tabs (between the
    ``contestants`` runs, default every generator)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-serve-"))
    arena = Arena(studio, store, contestants) if store is not None else None
    runs = studio.runs()
    names = [r.name for r in runs if r.family != "classifier"]
    samplers = [""] + sorted(SAMPLER_INFO)
    counter = iter(range(1 << 62))

    def out_dir() -> Path:
        return workdir / f"r{next(counter):06d}"

    def classes_for(run: str):
        if not run:
            return gr.update(choices=[ANY], value=ANY)
        info = studio.info(run)
        choices = [ANY] + [str(k) for k in range(info.num_classes)]
        return gr.update(choices=choices, value=ANY)

    @_safe
    def do_runs():
        rows = [
            [r.name, r.family, r.kind, r.model, r.data, r.num_classes or "-", r.steps]
            for r in studio.runs()
        ]
        return rows

    @_safe
    def do_config(run):
        if not run:
            return ""
        info = studio.info(run)
        text = (studio.resolve(run) / "config.yaml").read_text()
        return f"# {info.summary()}\n{text}"

    @_safe
    def do_sample(
        run,
        seed,
        n,
        sampler,
        steps,
        cfg,
        cls,
        prompt,
        negative,
        progress=gr.Progress(track_tqdm=True),
    ):
        if negative and negative.strip():
            studio._cond(studio.model(run)[0], 1, None, negative, 0)  # same checks as prompt
        x, cond, nrow, exp = studio.sample(
            run, seed, n, sampler or None, steps or None, cfg, cls, prompt
        )
        png, npz = studio.save(
            x, exp, out_dir(), f"{Path(run).name}_seed{int(seed)}", nrow, cond.get("class")
        )
        return (
            str(png),
            [str(png), str(npz)],
            f"{len(x)} samples of {run}, seeds {int(seed)}..{int(seed) + len(x) - 1}",
        )

    @_safe
    def do_interpolate(
        run,
        seed_a,
        seed_b,
        frames,
        mode,
        sampler,
        steps,
        cfg,
        cls,
        progress=gr.Progress(track_tqdm=True),
    ):
        x, exp = studio.interpolate(
            run, seed_a, seed_b, frames, mode, sampler or None, steps or None, cfg, cls
        )
        png, npz = studio.save(
            x, exp, out_dir(), f"{Path(run).name}_walk{int(seed_a)}-{int(seed_b)}", len(x)
        )
        return str(png), [str(png), str(npz)]

    @_safe
    def do_compare(run_a, run_b, seed, n, cls, progress=gr.Progress(track_tqdm=True)):
        if not run_a or not run_b:
            raise gr.Error("compare: choose two runs")
        d = out_dir()
        pics = []
        for side, run in (("A", run_a), ("B", run_b)):
            x, cond, nrow, exp = studio.sample(run, seed, n, None, None, None, cls, None)
            pics.append(
                str(studio.save(x, exp, d, f"{side}_{Path(run).name}", nrow, cond.get("class"))[0])
            )
        return pics[0], pics[1]

    def to_png(x: torch.Tensor, path: Path) -> str:
        from PIL import Image

        grid = image_grid(x, nrow=len(x))
        scale = max(1, 96 // x.shape[-1])
        img = Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid)
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
        return str(path)

    @_safe
    def do_new_pair(progress=gr.Progress(track_tqdm=True)):
        m = arena.next_match()
        xa, xb = arena.samples(m)
        d = out_dir()
        return (
            m.id,
            f"Which side shows **{m.prompt}** better?",
            to_png(xa, d / "A.png"),
            to_png(xb, d / "B.png"),
            "",
        )

    def make_vote(choice):
        @_safe
        def do_vote(cid, request: gr.Request):
            if not cid:
                raise gr.Error("vote: draw a pair first")
            voter = getattr(request, "session_hash", None) or "anonymous"
            arena.vote(cid, voter, choice)
            c = store.comparison(cid)
            return f"Recorded **{choice}**. A was `{c['left']}`, B was `{c['right']}`."

        return do_vote

    @_safe
    def do_leaderboard():
        table, foot = rating_rows(store)
        return table, foot

    theme = gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
    with gr.Blocks(title="genlab", analytics_enabled=False) as app:
        app.genlab_theme = theme
        gr.Markdown(f"# genlab\nRuns under `{studio.root}`: {len(names)}")
        with gr.Tabs():
            with gr.Tab("Runs"):
                table = gr.Dataframe(
                    headers=["run", "family", "kind", "model", "data", "classes", "steps"],
                    value=do_runs(),
                    interactive=False,
                )
                gr.Button("Refresh").click(do_runs, None, table, api_name="runs")
                pick = gr.Dropdown(
                    [r.name for r in runs], label="run", value=None, allow_custom_value=True
                )
                config = gr.Code(label="config.yaml", language="yaml", interactive=False)
                pick.change(do_config, pick, config, api_name="config")
            with gr.Tab("Sample"):
                with gr.Row():
                    with gr.Column():
                        run = gr.Dropdown(
                            names,
                            label="run",
                            value=names[0] if names else None,
                            allow_custom_value=True,
                        )
                        with gr.Row():
                            seed = gr.Number(0, label="seed", precision=0)
                            n = gr.Number(16, label="n", precision=0)
                        with gr.Row():
                            sampler = gr.Dropdown(
                                samplers, value="", label="sampler (blank: the run's)"
                            )
                            steps = gr.Number(0, label="steps (0: the run's)", precision=0)
                            cfg = gr.Number(0, label="CFG weight")
                        cls = gr.Dropdown([ANY], value=ANY, label="class", allow_custom_value=True)
                        prompt = gr.Textbox("", label="prompt (text runs)")
                        negative = gr.Textbox("", label="negative prompt (text runs)")
                        go = gr.Button("Sample", variant="primary", elem_id="sample-button")
                    with gr.Column():
                        image = gr.Image(type="filepath", label="samples", elem_id="sample-image")
                        msg = gr.Markdown()
                        files = gr.File(label="download", file_count="multiple")
                go.click(
                    do_sample,
                    [run, seed, n, sampler, steps, cfg, cls, prompt, negative],
                    [image, files, msg],
                    api_name="sample",
                    concurrency_id="sampling",
                    concurrency_limit=concurrency,
                )
                run.change(_safe(classes_for), run, cls, api_name=False)
            with gr.Tab("Interpolate"):
                with gr.Row():
                    irun = gr.Dropdown(
                        names,
                        label="run",
                        value=names[0] if names else None,
                        allow_custom_value=True,
                    )
                    sa = gr.Number(0, label="seed A", precision=0)
                    sb = gr.Number(1, label="seed B", precision=0)
                    frames = gr.Number(8, label="frames", precision=0)
                    mode = gr.Radio(["slerp", "lerp"], value="slerp", label="path")
                    icls = gr.Dropdown([ANY], value=ANY, label="class", allow_custom_value=True)
                istrip = gr.Image(type="filepath", label="walk from A to B")
                ifiles = gr.File(label="download", file_count="multiple")
                gr.Button("Interpolate", variant="primary").click(
                    do_interpolate,
                    [irun, sa, sb, frames, mode, sampler, steps, cfg, icls],
                    [istrip, ifiles],
                    api_name="interpolate",
                    concurrency_id="sampling",
                    concurrency_limit=concurrency,
                )
                irun.change(_safe(classes_for), irun, icls, api_name=False)
            with gr.Tab("Compare"):
                with gr.Row():
                    ca = gr.Dropdown(
                        names,
                        label="run A",
                        value=names[0] if names else None,
                        allow_custom_value=True,
                    )
                    cb = gr.Dropdown(
                        names,
                        label="run B",
                        value=names[-1] if names else None,
                        allow_custom_value=True,
                    )
                    cseed = gr.Number(0, label="seed", precision=0)
                    cn = gr.Number(16, label="n", precision=0)
                    ccls = gr.Dropdown([ANY], value=ANY, label="class", allow_custom_value=True)
                with gr.Row():
                    ia = gr.Image(type="filepath", label="A")
                    ib = gr.Image(type="filepath", label="B")
                gr.Button("Compare", variant="primary").click(
                    do_compare,
                    [ca, cb, cseed, cn, ccls],
                    [ia, ib],
                    api_name="compare",
                    concurrency_id="sampling",
                    concurrency_limit=concurrency,
                )
                ca.change(_safe(classes_for), ca, ccls, api_name=False)
            if arena is not None:
                with gr.Tab("Arena", elem_id="arena-tab"):
                    question = gr.Markdown("Draw a pair, then vote.", elem_id="arena-question")
                    cid = gr.Textbox("", label="comparison", interactive=False, elem_id="arena-cid")
                    with gr.Row():
                        pa = gr.Image(type="filepath", label="A", elem_id="arena-a")
                        pb = gr.Image(type="filepath", label="B", elem_id="arena-b")
                    result = gr.Markdown(elem_id="arena-result")
                    with gr.Row():
                        buttons = {
                            c: gr.Button(label, elem_id=f"vote-{c}")
                            for c, label in (
                                ("A", "A is better"),
                                ("B", "B is better"),
                                ("tie", "Tie"),
                                ("both_bad", "Both are bad"),
                            )
                        }
                    draw_btn = gr.Button("New pair", variant="primary", elem_id="new-pair")
                    draw_btn.click(
                        do_new_pair,
                        None,
                        [cid, question, pa, pb, result],
                        api_name="new_pair",
                        concurrency_id="sampling",
                        concurrency_limit=concurrency,
                    )
                    for c, b in buttons.items():
                        b.click(
                            make_vote(c),
                            cid,
                            result,
                            api_name=f"vote_{c}",
                            concurrency_id="votes",
                            concurrency_limit=8,
                        )
                with gr.Tab("Leaderboard", elem_id="leaderboard-tab"):
                    board = gr.Dataframe(
                        headers=LEADERBOARD_HEADERS, interactive=False, elem_id="board"
                    )
                    foot = gr.Markdown()
                    gr.Button("Refresh", elem_id="refresh-board").click(
                        do_leaderboard,
                        None,
                        [board, foot],
                        api_name="leaderboard",
                        concurrency_id="votes",
                    )
    return app


def serve(
    runs_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 7860,
    db: str | Path | None = None,
    limits: Limits | None = None,
    concurrency: int = 1,
    max_queue: int = 64,
    block: bool = True,
    contestants: list[str] | None = None,
):
    """Build and launch the page (``db``: the arena's SQLite file; None: no arena).

    Raises:
        ConfigError: ``runs_dir`` is missing, or ``db`` is corrupt or locked.
    """
    studio = Studio(runs_dir, limits or Limits(), progress=True)
    store = VoteStore(db) if db is not None else None
    app = build_app(studio, store, concurrency, contestants=contestants)
    app.queue(default_concurrency_limit=concurrency, max_size=max_queue)
    print(
        f"genlab serve: {len(studio.runs())} runs under {studio.root}; http://{host}:{port}",
        flush=True,
    )
    return app.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        show_error=True,
        quiet=True,
        ssr_mode=False,
        enable_monitoring=False,
        theme=app.genlab_theme,
        max_file_size="1mb",
    )
