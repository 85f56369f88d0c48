"""The arena's vote store: one SQLite file (WAL mode, one transaction per write).

Tables:
    comparisons(id TEXT PRIMARY KEY, task, left_run, right_run, prompt, seed, created)
        one A/B pair as it was shown (``left_run`` on the A side).
    votes(comparison_id, voter, choice, created, UNIQUE(comparison_id, voter))
        ``choice`` is "A", "B", "tie" or "both_bad"; a voter votes once per comparison.

Ratings read the votes as ``(left run, right run, left score)`` with ties and "both bad"
as 0.5 (:func:`genlab.metrics.preference.leaderboard`).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from genlab.errors import ConfigError

CHOICES = {"A": 1.0, "B": 0.0, "tie": 0.5, "both_bad": 0.5}

SCHEMA = """
CREATE TABLE IF NOT EXISTS comparisons (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    left_run TEXT NOT NULL,
    right_run TEXT NOT NULL,
    prompt TEXT NOT NULL,
    seed INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    comparison_id TEXT NOT NULL REFERENCES comparisons(id),
    voter TEXT NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'tie', 'both_bad')),
    created REAL NOT NULL,
    UNIQUE (comparison_id, voter)
);
"""


class AlreadyVoted(ConfigError):
    """This voter has voted on this comparison."""


class VoteStore:
    """Votes in the SQLite file ``path`` (created with its folder if missing).

    Each call opens its own connection, so the store is safe to use from the server's
    worker threads; WAL mode lets readers run beside the one writer, and ``timeout``
    seconds is how long a write waits for the lock.

    Raises:
        ConfigError: at construction, when ``path`` is not an SQLite database (corrupt),
            is locked by another writer, or cannot be created.
    """

    def __init__(self, path: str | Path, timeout: float = 10.0):
        self.path = Path(path)
        self.timeout = timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect(timeout=min(timeout, 2.0)) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                db.execute("BEGIN IMMEDIATE")  # fails now, not at the first vote, if locked
                db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise ConfigError(
                f"--db: {self.path}: not a usable SQLite vote database ({e})"
            ) from None
        except OSError as e:
            raise ConfigError(f"--db: {self.path}: cannot be created ({e.strerror})") from None

    @contextmanager
    def _connect(self, timeout: float | None = None) -> Iterator[sqlite3.Connection]:
        """An autocommit connection (each statement its own transaction), closed after."""
        db = sqlite3.connect(self.path, timeout=timeout or self.timeout, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        finally:
            db.close()

    def add_comparison(self, task: str, left: str, right: str, prompt: str, seed: int) -> str:
        """Record a pair as shown; returns its id."""
        cid = uuid.uuid4().hex
        with self._connect() as db:
            db.execute(
                "INSERT INTO comparisons VALUES (?, ?, ?, ?, ?, ?, ?)",
                (cid, task, left, right, prompt, int(seed), time.time()),
            )
        return cid

    def comparison(self, cid: str) -> dict | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT task, left_run, right_run, prompt, seed FROM comparisons WHERE id = ?",
                (cid,),
            ).fetchone()
        if row is None:
            return None
        return dict(zip(("task", "left", "right", "prompt", "seed"), row))

    def vote(self, cid: str, voter: str, choice: str) -> None:
        """One vote, in its own transaction.

        Raises:
            ConfigError: an unknown choice or comparison.
            AlreadyVoted: ``voter`` already voted on ``cid``.
        """
        if choice not in CHOICES:
            raise ConfigError(f"choice: expected one of {', '.join(CHOICES)}, got {choice!r}")
        if not voter:
            raise ConfigError("voter: must not be empty")
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT INTO votes VALUES (?, ?, ?, ?)", (cid, voter, choice, time.time())
                )
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e):
                raise AlreadyVoted("this voter has already voted on this comparison") from None
            raise ConfigError(f"comparison {cid!r}: unknown") from None

    def pair_counts(self, task: str) -> dict[frozenset, int]:
        """Votes so far per unordered pair of runs of ``task``."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT c.left_run, c.right_run, COUNT(*) FROM votes v JOIN comparisons c "
                "ON v.comparison_id = c.id WHERE c.task = ? GROUP BY c.left_run, c.right_run",
                (task,),
            ).fetchall()
        counts: dict[frozenset, int] = {}
        for left, right, n in rows:
            key = frozenset((left, right))
            counts[key] = counts.get(key, 0) + n
        return counts

    def votes(self, task: str | None = None) -> list[dict]:
        """Every vote in order: ``{"left", "right", "choice", "score", "voter", "task",
        "prompt"}`` (``score`` is the left side's)."""
        sql = (
            "SELECT c.left_run, c.right_run, v.choice, v.voter, c.task, c.prompt FROM votes v "
            "JOIN comparisons c ON v.comparison_id = c.id"
        )
        args: tuple = ()
        if task is not None:
            sql += " WHERE c.task = ?"
            args = (task,)
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY v.created, v.rowid", args).fetchall()
        keys = ("left", "right", "choice", "voter", "task", "prompt")
        return [dict(zip(keys, r)) | {"score": CHOICES[r[2]]} for r in rows]


def open_existing(path: str | Path) -> VoteStore:
    """The store at ``path``, which must exist (``genlab arena rate``)."""
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such vote database")
    return VoteStore(path)
