"""``genlab serve`` as a user meets it: a real server process on a free loopback port,
driven by ``gradio_client`` and by a real browser (Playwright + Debian's chromium), then
stopped by its process id. Also ``genlab arena rate/judge`` and start-up errors.

``GENLAB_SCREENSHOTS=DIR`` saves the browser test's screenshots there (docs/img for
docs/app.md) and ``GENLAB_APP_RUNS=DIR`` serves that folder instead of the tiny runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from genlab.app.store import VoteStore
from genlab.cli import main
from genlab.runs import sample
from tests.app_runs import make_app_runs

gradio_client = pytest.importorskip("gradio_client", reason="the app extra is not installed")
from gradio_client import Client  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, db: Path, *extra: str, timeout: float = 120):
    port = free_port()
    cmd = [sys.executable, "-m", "genlab", "serve", str(root), "--arena", "--db", str(db),
           "--port", str(port), "--threads", "1", *extra]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("server did not answer in time")


def stop(proc) -> str:
    os.kill(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("serve")
    db = base / "votes.sqlite"
    if os.environ.get("GENLAB_APP_RUNS"):  # the docs' screenshots: real runs, default caps
        root = Path(os.environ["GENLAB_APP_RUNS"])
        proc, url = start_server(root, db)
    else:
        root = make_app_runs(base / "runs")
        caps = ("--max-n", "16", "--max-steps", "20", "--max-prompt-chars", "10")
        proc, url = start_server(root, db, *caps)
    yield url, db, root
    out = stop(proc)
    assert "Traceback" not in out, out


def test_sample_vote_and_leaderboard_through_the_api(server):
    url, db, root = server
    c = Client(url, verbose=False)
    names = [row[0] for row in c.predict(api_name="/runs")["data"]]
    run = "rf-digits" if "rf-digits" in names else names[0]
    config = c.predict(run, api_name="/config")
    assert config.startswith(f"# {run}: ") and f"recipe: {Path(run).name}" in config
    png, files, msg = c.predict(run, 3, 4, "", None, None, "any", "", "", api_name="/sample")
    assert Path(png).is_file() and len(files) == 2 and "4 samples" in msg
    # what the page gives is what `genlab sample` gives (blank steps/cfg: the run's)
    with np.load(next(f for f in files if f.endswith(".npz"))) as z:
        ref = sample(root / run, 4, 3)
        assert np.array_equal(z["x"], ref.numpy()) and list(z["seed"]) == [3, 4, 5, 6]
    strip, _ = c.predict(run, 0, 1, 4, "slerp", "any", api_name="/interpolate")
    assert Path(strip).is_file()
    cid, question, a, b, _ = c.predict(api_name="/new_pair")
    assert Path(a).is_file() and Path(b).is_file() and "better" in question
    assert "Recorded **A**" in c.predict(cid, api_name="/vote_A")
    with pytest.raises(Exception, match="already voted"):
        c.predict(cid, api_name="/vote_B")
    with pytest.raises(Exception, match="shown to another session"):
        Client(url, verbose=False).predict(cid, api_name="/vote_tie")
    table, foot = c.predict(api_name="/leaderboard")
    assert len(table["data"]) == 2 and "1 vote" in foot
    stored = VoteStore(db).votes()
    assert [v["choice"] for v in stored][-1:] == ["A"]


@pytest.mark.parametrize(
    "args, match",
    [
        (("nope", 0, 4), "no such run"),
        (("../escape", 0, 4), "refused"),
        (("/etc", 0, 4), "refused"),
        (("rf-digits", 0, 17), "n: must be between 1 and 16"),
        (("rf-digits", 0, 4, "", 21), "steps: must be between 1 and 20"),
        (("rf-digits", 0, 4, "", "", "", "any", "a long prompt"), "prompt: 13 characters"),
    ],
)
def test_bad_values_are_a_message_not_a_trace(server, args, match):
    url, _, root = server
    if "GENLAB_APP_RUNS" in os.environ:
        pytest.skip("the checks use the tiny runs' names")
    full = list(args) + ["", None, None, "any", "", ""][len(args) - 3 :]
    with pytest.raises(Exception, match=match) as e:
        Client(url, verbose=False).predict(*full, api_name="/sample")
    assert "Traceback" not in str(e.value)


def test_browser_sample_vote_leaderboard(server):
    """Click through Sample -> Arena (vote) -> Leaderboard in chromium and check the page;
    nothing may be fetched from outside the machine."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        pytest.skip("no chromium on this machine (.ci/run installs it with apt-get)")
    url, db, _ = server
    shots = os.environ.get("GENLAB_SCREENSHOTS")
    external = []
    before = len(VoteStore(db).votes())
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def route(r):
            if r.request.url.startswith(url) or r.request.url.startswith("data:"):
                r.continue_()
            else:
                external.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(url)
        page.get_by_role("tab", name="Sample").click()
        page.locator("#sample-button").click()
        page.locator("#sample-image img").wait_for(timeout=60_000)
        if shots:
            page.screenshot(path=f"{shots}/app_sample.png")
        page.get_by_role("tab", name="Arena").click()
        page.locator("#new-pair").click()
        page.locator("#arena-b img").wait_for(timeout=60_000)
        page.locator("#vote-A").click()
        page.get_by_text("Recorded").wait_for(timeout=30_000)
        result = page.locator("#arena-result").inner_text()
        if shots:
            page.screenshot(path=f"{shots}/app_arena.png")
        page.get_by_role("tab", name="Leaderboard").click()
        page.locator("#refresh-board").click()
        page.get_by_text("left side wins").wait_for(timeout=30_000)
        board = page.locator("#board").inner_text()
        if shots:
            page.screenshot(path=f"{shots}/app_leaderboard.png")
        browser.close()
    votes = VoteStore(db).votes()
    assert len(votes) == before + 1 and votes[-1]["choice"] == "A"
    assert f"A was `{votes[-1]['left']}`".replace("`", "") in result.replace("`", "")
    assert votes[-1]["left"] in board and votes[-1]["right"] in board
    assert external == [], f"the page fetched from outside: {external[:3]}"


# ----------------------------------------------------------------- commands, errors


def test_judge_then_rate(tmp_path, capsys):
    root = make_app_runs(tmp_path / "runs")
    db = tmp_path / "judge.sqlite"
    argv = ["arena", "judge", str(root), "--db", str(db), "--classifier", str(root / "classifier")]
    wrong = ["arena", "judge", str(root), "--db", str(db), "--classifier", str(root / "rf-digits")]
    assert main(wrong) == 2
    assert not db.exists() or VoteStore(db).votes() == []  # nothing voted
    assert main([*argv, "--votes", "12", "--n", "2", "--threads", "1"]) == 0
    assert "wrote 12 votes" in capsys.readouterr().out
    assert main(["arena", "rate", str(db), "--json", "--rounds", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    board = out["digits:8"]
    assert board["votes"] == 12 and len(board["models"]) == 3
    assert sum(m["votes"] for m in board["models"]) == 24
    assert main(["arena", "rate", str(db)]) == 0
    assert "| rank | model |" in capsys.readouterr().out


def test_start_up_errors_are_one_line(tmp_path, capsys):
    """Each refused start is one line and exit status 2 (in-process through the CLI's
    main; the first case also as a real process)."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    busy_port = holder.getsockname()[1]
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 200)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE t (x)")
    before = foreign.read_bytes()
    (tmp_path / "runs").mkdir()
    cases = [
        (["serve", str(tmp_path / "runs"), "--db", str(bad)], "not a usable SQLite"),
        (["serve", str(tmp_path / "missing")], "no such directory"),
        (["serve", str(tmp_path / "runs"), "--max-n", "0"], "--max-n: must be positive"),
        (["serve", str(tmp_path / "runs"), "--runs", "ghost", "--arena"], "'ghost' is not a run"),
        (["serve", str(tmp_path / "runs"), "--runs", "ghost"], "--runs: names the arena's"),
        (["arena", "rate", str(tmp_path / "none.sqlite")], "no such vote database"),
        (["arena", "rate", str(bad)], "not a usable SQLite"),
        (["serve", str(tmp_path / "runs"), "--port", "0"], "--port: must be between 1 and"),
        (
            ["serve", str(tmp_path / "runs"), "--max-frames", "1"],
            "--max-frames: must be at least 2",
        ),
        (
            ["arena", "judge", str(tmp_path / "runs"), "--db", str(foreign), "--classifier", "x"],
            "holds other tables: t",
        ),
        (["serve", str(tmp_path / "runs"), "--host", "no.such.host.invalid"], "--host:"),
        (["serve", str(tmp_path / "runs"), "--port", str(busy_port)], "is not free"),
    ]
    r = subprocess.run(
        [sys.executable, "-m", "genlab", *cases[0][0]], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and cases[0][1] in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for argv, match in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert match in err and len(err.strip().splitlines()) == 1, err
    holder.close()
    assert foreign.read_bytes() == before  # another program's database is left alone
