"""The :class:`Recipe` record: a named experiment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """A named experiment: ``make()`` returns a fresh :class:`~genlab.experiment.Experiment`
    (plain values put together; the family trains it)."""

    make: Callable
    doc: str
