"""The arena's vote store: one SQLite file (WAL mode, one transaction per write).

Tables:
    comparisons(id TEXT PRIMARY KEY, task, left_run, right_run, prompt, seed, created,
                shown_to)
        one A/B pair as it was shown (``left_run`` on the A side) and the voter it was
        shown to (NULL: anyone may vote on it, e.g. the judge's own pairs).
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
    created REAL NOT NULL,
    shown_to TEXT
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

    def __init__(
        self, path: str | Path, timeout: float = 10.0, readonly: bool = False, label: str = "--db"
    ):
        self.path = Path(path)
        self.timeout, self.readonly = timeout, readonly
        where = f"{label}: {self.path}" if label else str(self.path)
        try:
            if readonly:
                if not self.path.is_file():
                    raise ConfigError(f"{where}: no such vote database")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect(timeout=min(timeout, 2.0)) as db:
                self._check_foreign(db, where)  # never convert another program's file
                if not readonly:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(SCHEMA)
                    db.execute("BEGIN IMMEDIATE")  # fails now, not at the first vote, if locked
                    db.execute("COMMIT")
                self._check_schema(db, where)
        except sqlite3.DatabaseError as e:
            raise ConfigError(f"{where}: not a usable SQLite vote database ({e})") from None
        except OSError as e:
            raise ConfigError(f"{where}: cannot be created ({e.strerror})") from None

    @staticmethod
    def _check_foreign(db: sqlite3.Connection, where: str) -> None:
        """An existing database may hold only genlab's two tables."""
        tables = {
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith("sqlite_")
        }
        other = tables - {"comparisons", "votes"}
        if other:
            raise ConfigError(
                f"{where}: not a genlab vote database (it holds other tables: "
                f"{', '.join(sorted(other))}); pass a new file"
            )
        if tables:  # ours, but are they genlab's? checked before anything is written
            VoteStore._check_schema(db, where, only=tables)

    @staticmethod
    def _check_schema(db: sqlite3.Connection, where: str, only=None) -> None:
        """Both tables (or those in ``only``) with at least genlab's columns."""
        want = {
            "comparisons": {"id", "task", "left_run", "right_run", "prompt", "seed", "shown_to"},
            "votes": {"comparison_id", "voter", "choice", "created"},
        }
        for table, cols in want.items():
            if only is not None and table not in only:
                continue
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if not have:
                raise ConfigError(f"{where}: not a genlab vote database (no table {table})")
            if not cols <= have:
                missing = ", ".join(sorted(cols - have))
                raise ConfigError(
                    f"{where}: not a genlab vote database (table {table} lacks {missing})"
                )

    @contextmanager
    def _connect(self, timeout: float | None = None) -> Iterator[sqlite3.Connection]:
        """An autocommit connection (each statement its own transaction), closed after."""
        if self.readonly:  # never writes, never creates or converts the file
            uri = f"file:{self.path.resolve()}?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=timeout or self.timeout)
        else:
            db = sqlite3.connect(self.path, timeout=timeout or self.timeout, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        finally:
            db.close()

    def add_comparison(
        self, task: str, left: str, right: str, prompt: str, seed: int, shown_to: str | None = None
    ) -> str:
        """Record a pair as shown (to voter ``shown_to``: only they may vote on it);
        returns its id."""
        cid = uuid.uuid4().hex
        with self._connect() as db:
            db.execute(
                "INSERT INTO comparisons VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (cid, task, left, right, prompt, int(seed), time.time(), shown_to),
            )
        return cid

    def comparison(self, cid: str) -> dict | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT task, left_run, right_run, prompt, seed, shown_to FROM comparisons "
                "WHERE id = ?",
                (cid,),
            ).fetchone()
        if row is None:
            return None
        return dict(zip(("task", "left", "right", "prompt", "seed", "shown_to"), row))

    def vote(self, cid: str, voter: str, choice: str) -> None:
        """One vote, in its own transaction.

        Raises:
            ConfigError: an unknown choice or comparison, or a comparison shown to another
                voter.
            AlreadyVoted: ``voter`` already voted on ``cid``.
        """
        if choice not in CHOICES:
            raise ConfigError(f"choice: expected one of {', '.join(CHOICES)}, got {choice!r}")
        if not voter:
            raise ConfigError("voter: must not be empty")
        shown = self.comparison(cid)
        if shown is None:
            raise ConfigError(f"comparison {cid!r}: unknown (draw a new pair)")
        if shown["shown_to"] is not None and shown["shown_to"] != voter:
            raise ConfigError("vote: this pair was shown to another session; draw your own")
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

    def tasks(self) -> list[str]:
        """The tasks that have votes, sorted."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT DISTINCT c.task FROM votes v JOIN comparisons c ON v.comparison_id = c.id"
            ).fetchall()
        return sorted(r[0] for r in rows)

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
    """The store at ``path`` opened read-only (``genlab arena rate``).

    Raises:
        ConfigError: no such file, not SQLite, or not a genlab vote database.
    """
    return VoteStore(path, readonly=True, label="")
