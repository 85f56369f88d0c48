"""The human-preference arena: draw a pair of runs and a prompt, store the vote.

A *task* is a set of runs that answer the same prompts (same data and sample shape,
:attr:`genlab.app.studio.RunInfo.task`). :meth:`Arena.next_match` draws a pair of the
task's runs, favouring pairs with few votes (weight ``1 / (1 + votes)``), draws a prompt
from the task's prompt set (a class, "digit 7", when both runs are class-conditional;
otherwise "any"), randomises the sides, samples both and then records the comparison as
shown to the session that drew it. :meth:`Arena.vote` stores one vote: only that session
may vote on it, once.

:class:`ClassifierJudge` is an automatic voter: it prefers the side whose samples a
trained classifier finds more confidently correct for the prompt (the probability of
the prompt's class, or of the most likely class for "any").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from genlab.app.store import VoteStore
from genlab.app.studio import RunInfo, Studio, class_prompt
from genlab.errors import ConfigError

ANY = "any"


@dataclass
class Match:
    """One comparison as shown: ``left`` is side A."""

    id: str
    task: str
    left: str
    right: str
    prompt: str
    cls: int | None
    seed: int


class Arena:
    """Matches and votes over the generator runs of ``studio`` (``runs``: the contestants
    by name, default every image generator, re-read at every draw so new runs join),
    stored in ``store``; ``n`` samples per side (at most the server's ``max_n``).

    Raises:
        ConfigError: a named contestant is not a run, or samples with more steps than
            the server's ``max_steps`` (its pairs could never be shown).
    """

    def __init__(self, studio: Studio, store: VoteStore, runs: list[str] | None = None, n: int = 4):
        self.studio, self.store = studio, store
        self.n = min(n, studio.limits.max_n)
        if self.n < 1:
            raise ConfigError(f"arena: samples per side must be at least 1, got {n}")
        self.runs = list(runs) if runs else None
        infos = {r.name: r for r in studio.runs()}
        for name in self.runs or []:
            if name not in infos:
                raise ConfigError(f"arena: {name!r} is not a run under {studio.root}")
        for r in infos.values():
            if (self.runs is None or r.name in self.runs) and not self._fits(r):
                raise ConfigError(
                    f"arena: {r.name} samples with {r.sampler_steps} steps, above the server's "
                    f"cap of {studio.limits.max_steps}; raise --max-steps or leave it out (--runs)"
                )

    def _fits(self, r: RunInfo) -> bool:
        return r.sampler_steps <= self.studio.limits.max_steps

    @property
    def tasks(self) -> dict[str, list[RunInfo]]:
        """``{task: runs}`` for the tasks with at least two contestants, read now."""
        by_task: dict[str, list[RunInfo]] = {}
        for r in self.studio.runs():
            if self.runs is not None and r.name not in self.runs:
                continue
            if r.family == "classifier" or r.modality != "image" or not self._fits(r):
                continue
            by_task.setdefault(r.task, []).append(r)
        return {t: rs for t, rs in by_task.items() if len(rs) >= 2}

    def next_match(
        self, task: str | None = None, rng: random.Random | None = None, voter: str | None = None
    ) -> tuple[Match, torch.Tensor, torch.Tensor]:
        """Draw a comparison of ``task`` (default: the task with most runs), sample both
        sides, then record it as shown to ``voter``.

        Returns:
            ``(match, x_left (n, C, H, W), x_right (n, C, H, W))``, the same seeds and
            prompt on both sides.

        Raises:
            ConfigError: no task has two runs, or ``task`` is unknown; sampling errors
                (nothing is recorded then).
        """
        rng = rng or random.Random()
        tasks = self.tasks
        if not tasks:
            raise ConfigError("arena: no two runs share a task (same data and image size)")
        if task is None:
            task = max(tasks, key=lambda t: len(tasks[t]))
        if task not in tasks:
            raise ConfigError(f"arena: unknown task {task!r}; tasks: {', '.join(tasks)}")
        runs = tasks[task]
        counts = self.store.pair_counts(task)
        pairs = [(a, b) for i, a in enumerate(runs) for b in runs[i + 1 :]]
        weights = [1 / (1 + counts.get(frozenset((a.name, b.name)), 0)) for a, b in pairs]
        a, b = rng.choices(pairs, weights)[0]
        if rng.random() < 0.5:
            a, b = b, a
        k = min(a.num_classes, b.num_classes)
        cls = rng.randrange(k) if k else None
        prompt = class_prompt(a.data, cls) if cls is not None else ANY
        seed = rng.randrange(1_000_000)
        xs = [self.studio.sample(r.name, seed=seed, n=self.n, cls=cls)[0] for r in (a, b)]
        cid = self.store.add_comparison(task, a.name, b.name, prompt, seed, voter)
        return Match(cid, task, a.name, b.name, prompt, cls, seed), xs[0], xs[1]

    def vote(self, cid: str, voter: str, choice: str) -> None:
        """Store a vote ("A", "B", "tie", "both_bad"); see :meth:`VoteStore.vote`."""
        self.store.vote(cid, voter, choice)


class ClassifierJudge:
    """Votes from a classifier run (``genlab train eval-mnist-classifier``): side score =
    mean over its samples of p(prompt class), or of the top class for "any"; "tie" when
    the scores differ by less than ``margin``, "both_bad" when both are below ``bad``.

    Raises:
        ConfigError: the run is not a classifier.
        CheckpointError: no such run, or unreadable weights.
    """

    def __init__(self, classifier_run: str | Path, margin: float = 0.02, bad: float = 0.5):
        from genlab.families import family_name
        from genlab.runs import load_experiment, load_model

        exp = load_experiment(Path(classifier_run))
        if family_name(exp.objective.kind) != "classifier":
            raise ConfigError(
                f"--classifier: {classifier_run} is a {family_name(exp.objective.kind)} run, "
                "not a classifier (train one with genlab train eval-mnist-classifier)"
            )
        self.exp, self.net = load_model(Path(classifier_run), "ema")
        self.data = self.exp.data.name
        self.margin, self.bad = margin, bad

    @torch.no_grad()
    def score(self, x: torch.Tensor, cls: int | None) -> float:
        """Mean confidence over samples ``x (n, C, H, W)`` in [-1, 1]."""
        logits = self.net(x.float())[:, : self.net.cfg.heads[0]]  # the first head: (n, K)
        p = logits.softmax(-1)
        s = p[:, cls] if cls is not None else p.max(-1).values
        return float(s.mean())

    def choose(self, left: torch.Tensor, right: torch.Tensor, cls: int | None) -> str:
        sa, sb = self.score(left, cls), self.score(right, cls)
        if max(sa, sb) < self.bad:
            return "both_bad"
        if abs(sa - sb) < self.margin:
            return "tie"
        return "A" if sa > sb else "B"


def ratings(store: VoteStore, task: str | None = None, rounds: int = 100) -> dict[str, dict]:
    """Bradley-Terry leaderboards, one per task (runs of different tasks never met, so
    one fit over all of them would rank models that were never compared).

    Returns:
        ``{task: {"votes": int, "left_win_rate": float | None, "models": rows}}`` with
        rows as :func:`genlab.metrics.preference.leaderboard`.

    Raises:
        ConfigError: ``task`` has no votes in ``store`` (the known tasks are named).
    """
    from genlab.metrics.preference import leaderboard, left_win_rate

    tasks = store.tasks()
    if task is not None:
        if task not in tasks:
            known = ", ".join(tasks) or "none yet"
            raise ConfigError(f"--task: no votes for {task!r} (tasks with votes: {known})")
        tasks = [task]
    out = {}
    for t in tasks:
        votes = store.votes(t)
        names = sorted({v["left"] for v in votes} | {v["right"] for v in votes})
        idx = {n: i for i, n in enumerate(names)}
        a = [idx[v["left"]] for v in votes]
        b = [idx[v["right"]] for v in votes]
        s = [v["score"] for v in votes]
        out[t] = {
            "votes": len(votes),
            "left_win_rate": left_win_rate(s),
            "models": leaderboard(names, a, b, s, rounds=rounds),
        }
    return out
