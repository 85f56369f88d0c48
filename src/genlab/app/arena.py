"""The human-preference arena: draw a pair of runs and a prompt, store the vote.

A *task* is a set of runs that answer the same prompts (same data and sample shape,
:attr:`genlab.app.studio.RunInfo.task`). :meth:`Arena.next_match` draws a pair of the
task's runs, favouring pairs with few votes (weight ``1 / (1 + votes)``), draws a prompt
from the task's prompt set (a class, "digit 7", when both runs are class-conditional;
otherwise "any"), randomises the sides and records the comparison before anything is
shown. :meth:`Arena.vote` stores one vote; the same voter cannot vote twice on it.

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
    """Matches and votes over the runs of ``studio`` (``runs``: a subset of run names,
    default all), stored in ``store``; ``n`` samples per side."""

    def __init__(self, studio: Studio, store: VoteStore, runs: list[str] | None = None, n: int = 4):
        self.studio, self.store, self.n = studio, store, n
        infos = studio.runs()
        if runs:
            known = {r.name for r in infos}
            missing = [r for r in runs if r not in known]
            if missing:
                raise ConfigError(f"arena: {missing[0]!r} is not a run under {studio.root}")
            infos = [r for r in infos if r.name in runs]
        infos = [r for r in infos if r.family != "classifier" and r.modality == "image"]
        self.tasks: dict[str, list[RunInfo]] = {}
        for r in infos:
            self.tasks.setdefault(r.task, []).append(r)
        self.tasks = {t: rs for t, rs in self.tasks.items() if len(rs) >= 2}

    def _task(self, task: str | None) -> str:
        if not self.tasks:
            raise ConfigError("arena: no two runs share a task (same data and image size)")
        if task is None:
            return max(self.tasks, key=lambda t: len(self.tasks[t]))
        if task not in self.tasks:
            raise ConfigError(f"arena: unknown task {task!r}; tasks: {', '.join(self.tasks)}")
        return task

    def next_match(self, task: str | None = None, rng: random.Random | None = None) -> Match:
        """Draw and record a new comparison of ``task`` (default: the task with most runs)."""
        rng = rng or random.Random()
        task = self._task(task)
        runs = self.tasks[task]
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
        cid = self.store.add_comparison(task, a.name, b.name, prompt, seed)
        return Match(cid, task, a.name, b.name, prompt, cls, seed)

    def samples(self, match: Match) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples per side, ``(x_left, x_right)``, the same seeds and prompt."""
        out = []
        for run in (match.left, match.right):
            x, *_ = self.studio.sample(run, seed=match.seed, n=self.n, cls=match.cls)
            out.append(x)
        return out[0], out[1]

    def vote(self, cid: str, voter: str, choice: str) -> None:
        """Store a vote ("A", "B", "tie", "both_bad"); see :meth:`VoteStore.vote`."""
        if self.store.comparison(cid) is None:
            raise ConfigError("vote: unknown comparison (draw a new pair)")
        self.store.vote(cid, voter, choice)


class ClassifierJudge:
    """Votes from a classifier run (``genlab train eval-mnist-classifier``): side score =
    mean over its samples of p(prompt class), or of the top class for "any"; "tie" when
    the scores differ by less than ``margin``, "both_bad" when both are below ``bad``."""

    def __init__(self, classifier_run: str | Path, margin: float = 0.02, bad: float = 0.5):
        from genlab.runs import load_model

        self.exp, self.net = load_model(Path(classifier_run), "ema")
        self.margin, self.bad = margin, bad

    @torch.no_grad()
    def score(self, x: torch.Tensor, cls: int | None) -> float:
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
