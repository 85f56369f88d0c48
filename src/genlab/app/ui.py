"""The Gradio page of ``genlab serve``: Runs, Sample, Interpolate, Compare, and with
``--arena`` the Arena and Leaderboard tabs.

Every handler turns a :class:`~genlab.errors.GenlabError` into a one-line message on the
page (``gr.Error``); anything else is logged on the server and shown as one line, never a
stack trace. Sampling handlers share one queue slot group (``concurrency`` at a time, so
the machine is never oversubscribed); votes have their own. Analytics are off and the
theme uses system fonts, so the page fetches nothing from the internet.

API names (for ``gradio_client``), with their inputs:

- ``/runs`` () and ``/config`` (run);
- ``/sample`` (run, seed, n, sampler, steps, cfg, class, prompt, negative prompt): blank
  sampler/steps/cfg keep the run's; class "any" or a number;
- ``/interpolate`` (run, seed A, seed B, frames, "slerp" | "lerp", class);
- ``/compare`` (run A, run B, seed, n, class);
- ``/new_pair`` () -> (comparison id, question, picture A, picture B, result);
- ``/vote_A``, ``/vote_B``, ``/vote_tie``, ``/vote_both_bad`` (comparison id), by the
  session that drew the pair;
- ``/leaderboard`` ().
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import tempfile
import traceback
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import torch  # noqa: E402

from genlab.app.arena import Arena, ratings  # noqa: E402
from genlab.app.store import VoteStore  # noqa: E402
from genlab.app.studio import ANY_CLASS, Studio  # noqa: E402
from genlab.errors import GenlabError  # noqa: E402
from genlab.sampling import SAMPLER_INFO  # noqa: E402
from genlab.viz import save_grid  # noqa: E402

log = logging.getLogger("genlab.serve")
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["ui-monospace", "monospace"]
ANY = ANY_CLASS


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
            msg = f"internal error: {type(e).__name__} (see the server log)"
            raise gr.Error(msg, print_exception=False) from None

    return wrapped


def rating_rows(store: VoteStore) -> tuple[list[list], str]:
    """Every task's leaderboard as table rows, and a footer (votes, position bias)."""
    boards = ratings(store)
    if not boards:
        return [], "no votes yet"
    table, foot = [], []
    for task, board in boards.items():
        for r in board["models"]:
            table.append(
                [
                    task,
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
            )
        n, bias = board["votes"], board["left_win_rate"]
        line = f"{task}: {n} vote{'s' * (n != 1)}"
        if bias is not None:
            line += f"; left side wins {bias:.1%} of decisive votes"
        foot.append(line)
    return table, "  \n".join(foot)


LEADERBOARD_HEADERS = [
    "task",
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
    arena: Arena | None = None,
    concurrency: int = 1,
    workdir: Path | None = None,
) -> gr.Blocks:
    """The Blocks of the page; ``arena`` adds the Arena and Leaderboard tabs."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-serve-"))
    store = arena.store if arena is not None else None
    runs = studio.runs()
    names = [r.name for r in runs if r.family != "classifier"]
    samplers = [""] + sorted(SAMPLER_INFO)
    counter = iter(range(1 << 62))

    def voter_of(request: gr.Request) -> str:
        """The browser session (each visitor's page load); votes are per session."""
        return getattr(request, "session_hash", None) or "anonymous"

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
        x, cond, nrow, exp = studio.sample(
            run, seed, n, sampler or None, steps or None, cfg, cls, prompt, negative
        )
        s0 = int(seed)
        seeds = list(range(s0, s0 + len(x)))
        png, npz = studio.save(
            x, exp, out_dir(), f"{Path(run).name}_seed{s0}", nrow, cond.get("class"), seeds
        )
        msg = f"{len(x)} samples of {run}, seeds {s0}..{seeds[-1]}"
        return str(png), [str(png), str(npz)], msg

    @_safe
    def do_interpolate(
        run, seed_a, seed_b, frames, mode, cls, progress=gr.Progress(track_tqdm=True)
    ):
        x, exp = studio.interpolate(run, seed_a, seed_b, frames, mode, cls=cls)
        stem = f"{Path(run).name}_walk{int(seed_a)}-{int(seed_b)}"
        png, npz = studio.save(x, exp, out_dir(), stem, len(x))
        return str(png), [str(png), str(npz)]

    @_safe
    def do_compare(run_a, run_b, seed, n, cls, progress=gr.Progress(track_tqdm=True)):
        if not run_a or not run_b:
            raise gr.Error("compare: choose two runs", print_exception=False)
        for side, run in (("A", run_a), ("B", run_b)):  # both checked before sampling
            exp, _ = studio.model(run)
            if cls not in (None, "", ANY) and not getattr(exp.model, "num_classes", 0):
                raise gr.Error(
                    f"class: run {side} ({run}) is not class-conditional", print_exception=False
                )
        d = out_dir()
        pics = []
        for side, run in (("A", run_a), ("B", run_b)):
            x, cond, nrow, exp = studio.sample(run, seed, n, cls=cls)
            stem = f"{side}_{Path(run).name}"
            pics.append(str(studio.save(x, exp, d, stem, nrow, cond.get("class"))[0]))
        return pics[0], pics[1]

    def to_png(x: torch.Tensor, path: Path) -> str:
        """One row of images, at least 96 px tall (``genlab.viz.save_grid``)."""
        return str(save_grid(x, path, nrow=len(x), scale=max(1, 96 // x.shape[-1])))

    @_safe
    def do_new_pair(request: gr.Request, progress=gr.Progress(track_tqdm=True)):
        m, xa, xb = arena.next_match(voter=voter_of(request))
        d = out_dir()
        what = f"**{m.prompt}**" if m.prompt != "any" else "better samples (any class)"
        question = (
            f"Which side shows {what}?" if m.prompt == "any" else f"Which side shows {what} better?"
        )
        return m.id, question, to_png(xa, d / "A.png"), to_png(xb, d / "B.png"), ""

    def make_vote(choice):
        @_safe
        def do_vote(cid, request: gr.Request):
            if not cid:
                raise gr.Error("vote: draw a pair first", print_exception=False)
            arena.vote(cid, voter_of(request), choice)
            c = store.comparison(cid)
            return f"Recorded **{choice}**. A was `{c['left']}`, B was `{c['right']}`."

        return do_vote

    @_safe
    def do_leaderboard():
        table, foot = rating_rows(store)
        return table, foot

    def run_picker(label: str, index: int) -> gr.Dropdown:
        """A run dropdown (names typed in are accepted and checked by the Studio)."""
        value = names[index] if names else None
        return gr.Dropdown(names, label=label, value=value, allow_custom_value=True)

    # sampling handlers share one queue group of `concurrency` slots
    sampling = {"concurrency_id": "sampling", "concurrency_limit": concurrency}
    theme = gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
    # outputs live in workdir (removed at exit) and gradio's cache (files older than an
    # hour deleted hourly)
    atexit.register(shutil.rmtree, workdir, True)
    with gr.Blocks(title="genlab", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
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
                        run = run_picker("run", 0)
                        with gr.Row():
                            seed = gr.Number(0, label="seed")
                            n = gr.Number(16, label="n")
                        with gr.Row():
                            sampler = gr.Dropdown(
                                samplers, value="", label="sampler (blank: the run's)"
                            )
                            steps = gr.Textbox("", label="steps", placeholder="the run's")
                            cfg = gr.Textbox("", label="CFG weight", placeholder="the run's")
                        cls = gr.Dropdown([ANY], value=ANY, label="class", allow_custom_value=True)
                        # shown once a run takes text (text-to-image); the API checks them
                        text_runs = any("text" in r.cond for r in runs)
                        prompt = gr.Textbox("", label="prompt", visible=text_runs)
                        negative = gr.Textbox("", label="negative prompt", visible=text_runs)
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
                    **sampling,
                )
                run.change(_safe(classes_for), run, cls, api_name=False)
            with gr.Tab("Interpolate"):
                with gr.Row():
                    irun = run_picker("run", 0)
                    sa = gr.Number(0, label="seed A")
                    sb = gr.Number(1, label="seed B")
                    frames = gr.Number(8, label="frames")
                    mode = gr.Radio(["slerp", "lerp"], value="slerp", label="path")
                    icls = gr.Dropdown([ANY], value=ANY, label="class", allow_custom_value=True)
                istrip = gr.Image(type="filepath", label="walk from A to B")
                ifiles = gr.File(label="download", file_count="multiple")
                gr.Button("Interpolate", variant="primary").click(
                    do_interpolate,
                    [irun, sa, sb, frames, mode, icls],
                    [istrip, ifiles],
                    api_name="interpolate",
                    **sampling,
                )
                irun.change(_safe(classes_for), irun, icls, api_name=False)
            with gr.Tab("Compare"):
                with gr.Row():
                    ca = run_picker("run A", 0)
                    cb = run_picker("run B", -1)
                    cseed = gr.Number(0, label="seed")
                    cn = gr.Number(16, label="n")
                    ccls = gr.Dropdown([ANY], value=ANY, label="class", allow_custom_value=True)
                with gr.Row():
                    ia = gr.Image(type="filepath", label="A")
                    ib = gr.Image(type="filepath", label="B")
                gr.Button("Compare", variant="primary").click(
                    do_compare, [ca, cb, cseed, cn, ccls], [ia, ib], api_name="compare", **sampling
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
                        **sampling,
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
    studio: Studio,
    arena: Arena | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    concurrency: int = 1,
    max_queue: int = 64,
    block: bool = True,
):
    """Build and launch the page over ``studio``'s runs (``arena``: None for no arena tabs);
    ``genlab.app.commands.cmd_serve`` builds and checks both first."""
    app = build_app(studio, arena, concurrency)
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
