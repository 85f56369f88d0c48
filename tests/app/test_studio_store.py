"""The app without the web page: run discovery and path checks, caps, interpolation, the
SQLite vote store and the arena's pair drawing (real tiny runs, no mocks)."""

from __future__ import annotations

import random
import sqlite3

import pytest
import torch

from genlab.app.arena import Arena, ClassifierJudge
from genlab.app.store import AlreadyVoted, VoteStore
from genlab.app.studio import Limits, Studio
from genlab.errors import ConfigError
from genlab.families import family_of
from genlab.recipes import get_recipe
from genlab.runs import interpolate, sample
from tests.app_runs import make_app_runs


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_app_runs(tmp_path_factory.mktemp("app") / "runs")


@pytest.fixture(scope="module")
def studio(root):
    return Studio(root, Limits(max_n=16, max_steps=20, max_prompt_chars=10))


def test_runs_are_found_with_their_summary(studio):
    runs = {r.name: r for r in studio.runs()}
    assert set(runs) == {"rf-digits", "cdcgan-digits", "dcgan-digits", "classifier"}
    assert runs["rf-digits"].family == "diffusion" and runs["rf-digits"].num_classes == 10
    assert runs["dcgan-digits"].num_classes == 0 and runs["dcgan-digits"].steps == 10
    assert runs["rf-digits"].task == runs["dcgan-digits"].task == "digits:8"


@pytest.mark.parametrize("name", ["../runs/rf-digits", "/etc", "rf-digits/../../x", "", "nope"])
def test_run_names_cannot_leave_the_root(studio, name):
    with pytest.raises(ConfigError, match="run:"):
        studio.resolve(name)


def test_symlink_out_of_the_root_is_refused(studio, root, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    link = root / "link"
    link.symlink_to(tmp_path / "elsewhere")
    try:
        with pytest.raises(ConfigError, match="outside RUNS_DIR"):
            studio.resolve("link")
    finally:
        link.unlink()


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"n": 17}, "n: must be between 1 and 16"),
        ({"n": 0}, "n: must be between"),
        ({"steps": 21}, "steps: must be between 1 and 20"),
        ({"seed": -1}, "seed: must be between"),
        ({"n": "many"}, "n: expected a whole number"),
        ({"prompt": "x" * 11}, "prompt: 11 characters; the server allows 10"),
        ({"prompt": "a cat"}, "prompt: this run takes no text prompt"),
        ({"cls": 10}, "class: 10 is out of range"),
        ({"sampler": "nope"}, "sampler"),
        ({"cfg": 1.0, "run": "dcgan-digits"}, "cfg"),
        ({"cfg": "abc"}, "cfg: expected a number"),
        ({"cfg": "inf"}, "cfg: expected a guidance weight"),
        ({"seed": 2.5}, "seed: expected a whole number"),
        ({"seed": True}, "seed: expected a whole number"),
        ({"negative": "blurry"}, "negative prompt: this run takes no text"),
        ({"run": "x\x00y"}, "run: not a valid run name"),
        ({"run": "a/b/c"}, "deeper than"),
        ({"cls": 3, "run": "dcgan-digits"}, "not class-conditional"),
    ],
)
def test_bad_requests_are_one_clear_error(studio, kw, match):
    kw = {"run": "rf-digits", **kw}
    with pytest.raises(ConfigError, match=match):
        studio.sample(**kw)


def test_sample_matches_genlab_sample(studio, root):
    x, cond, _, _ = studio.sample("rf-digits", seed=5, n=4, cls=3)
    ref = sample(root / "rf-digits", 4, 5, cls=3)
    assert torch.equal(x, ref) and (cond["class"] == 3).all()


@pytest.mark.parametrize("run", ["rf-digits", "cdcgan-digits"])
def test_interpolation_ends_at_both_seeds(studio, run):
    """Frame 0 is seed A's sample and the last frame seed B's (deterministic samplers)."""
    walk, _ = studio.interpolate(run, seed_a=3, seed_b=9, frames=5, cls=2)
    a, *_ = studio.sample(run, seed=3, n=1, cls=2)
    b, *_ = studio.sample(run, seed=9, n=1, cls=2)
    assert walk.shape[0] == 5
    torch.testing.assert_close(walk[0], a[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(walk[-1], b[0], atol=1e-5, rtol=0)
    assert not torch.allclose(walk[2], walk[0])


def test_interpolation_refuses_discrete_priors_and_bad_values(studio):
    exp = get_recipe("vq-gpt-mnist")
    assert family_of(exp.objective.kind).noise_shape(exp) is None
    with pytest.raises(ConfigError, match="discrete draws"):
        interpolate(None, exp, 0, 1, 4, {}, None)
    with pytest.raises(ConfigError, match="frames: must be between 2"):
        studio.interpolate("rf-digits", frames=1)
    with pytest.raises(ConfigError, match="unknown path"):
        studio.interpolate("rf-digits", frames=3, mode="spline")


# ---------------------------------------------------------------------------- store


def test_votes_are_stored_once_per_voter(tmp_path):
    store = VoteStore(tmp_path / "v" / "votes.sqlite")
    cid = store.add_comparison("digits:8", "a", "b", "digit 1", 7)
    store.vote(cid, "alice", "A")
    store.vote(cid, "bob", "tie")
    with pytest.raises(AlreadyVoted):
        store.vote(cid, "alice", "B")
    with pytest.raises(ConfigError, match="choice"):
        store.vote(cid, "carol", "left")
    with pytest.raises(ConfigError, match="unknown"):
        store.vote("no-such-id", "carol", "A")
    votes = store.votes()
    assert [(v["voter"], v["score"]) for v in votes] == [("alice", 1.0), ("bob", 0.5)]
    assert store.pair_counts("digits:8") == {frozenset(("a", "b")): 2}
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_corrupt_or_locked_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="bad.sqlite: not a usable SQLite vote database"):
        VoteStore(bad)
    locked = tmp_path / "locked.sqlite"
    VoteStore(locked)
    holder = sqlite3.connect(locked, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ConfigError, match="locked"):
            VoteStore(locked, timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_arena_draws_fair_pairs_and_judges(studio, root, tmp_path):
    store = VoteStore(tmp_path / "arena.sqlite")
    arena = Arena(studio, store, n=2)
    assert list(arena.tasks) == ["digits:8"]  # the classifier is not a contestant
    for i in range(50):  # one pair already has many votes
        store.vote(
            store.add_comparison("digits:8", "rf-digits", "cdcgan-digits", "any", i), "x", "A"
        )
    rng = random.Random(0)
    judge = ClassifierJudge(root / "classifier")
    seen, lefts = {}, set()
    for _ in range(12):
        m, xa, xb = arena.next_match(rng=rng, voter="v")
        assert xa.shape == xb.shape == (2, 1, 8, 8)
        conditional = {"rf-digits", "cdcgan-digits"} == {m.left, m.right}
        assert (m.cls is not None) == conditional and (m.prompt == "any") != conditional
        key = frozenset((m.left, m.right))
        seen[key] = seen.get(key, 0) + 1
        lefts.add(m.left)
    assert seen.get(frozenset(("rf-digits", "cdcgan-digits")), 0) <= 1  # weight 1/51
    assert len(seen) >= 2 and len(lefts) == 3  # sides are randomised
    arena.vote(m.id, "v", judge.choose(xa, xb, m.cls))  # the judge votes through the same path
    with pytest.raises(ConfigError, match="shown to another session"):
        arena.vote(m.id, "someone-else", "A")
    with pytest.raises(ConfigError, match="unknown"):
        arena.vote("nope", "v", "A")
    assert len(store.votes()) == 51


def test_arena_follows_the_folder_and_the_caps(root, tmp_path):
    store = VoteStore(tmp_path / "arena.sqlite")
    with pytest.raises(ConfigError, match="rf-digits samples with 4 steps, above"):
        Arena(Studio(root, Limits(max_steps=3)), store)
    capped = Arena(Studio(root, Limits(max_n=1)), store, ["dcgan-digits", "cdcgan-digits"])
    assert capped.n == 1
    with pytest.raises(ConfigError, match="'ghost' is not a run"):
        Arena(Studio(root), store, ["ghost"])
    with pytest.raises(ConfigError, match="a gan run, not a classifier"):
        ClassifierJudge(root / "dcgan-digits")


def test_ratings_are_per_task_and_read_only(tmp_path):
    from genlab.app.arena import ratings
    from genlab.app.store import open_existing

    store = VoteStore(tmp_path / "v.sqlite")
    for task, (a, b) in (("digits:8", ("x", "y")), ("mnist:28", ("p", "q"))):
        for i in range(6):
            store.vote(store.add_comparison(task, a, b, "any", i), "v", "A" if i % 3 else "B")
    boards = ratings(open_existing(store.path), rounds=10)
    assert list(boards) == ["digits:8", "mnist:28"]
    assert {r["model"] for r in boards["mnist:28"]["models"]} == {"p", "q"}
    with pytest.raises(ConfigError, match="no votes for 'cifar:32'.*digits:8, mnist:28"):
        ratings(open_existing(store.path), "cifar:32")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE votes (a INTEGER)")
    before = other.read_bytes()
    with pytest.raises(ConfigError, match="not a genlab vote database"):
        open_existing(other)
    with pytest.raises(ConfigError, match="not a genlab vote database"):
        VoteStore(other)  # nor does serve or judge write into it
    assert other.read_bytes() == before
    assert other.read_bytes() == before  # rate never writes
