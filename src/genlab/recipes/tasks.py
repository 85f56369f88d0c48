"""A task says how one family is built, trained and sampled.

``objective.kind`` selects the task. The training loop asks the task for the network
(``build``) and the per-sample loss (``loss``); ``genlab sample`` asks it for samples
(``sample``). A family whose training is not "one loss, one optimizer" (GANs) supplies
its own loop as ``fit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from genlab.errors import ConfigError

# loss(model, batch, generator) -> (per-sample loss (B,), logs {name: float tensor})
LossFn = Callable[[nn.Module, dict, Any], tuple[Tensor, dict]]


@dataclass(frozen=True)
class Task:
    """Functions that put one family's parts together.

    Attributes:
        family: "diffusion", "gan", "vae", "tokens", ...
        objective: the objective config dataclass (its ``kind`` names this task).
        sampler: the sampler config dataclass (the ``sampler`` section).
        build: ``build(exp) -> nn.Module``.
        loss: ``loss(exp) -> LossFn`` for the main loop (None if ``fit`` is given).
        sample: ``sample(model, exp, seeds, cond, sampler_cfg) -> (n, *shape)`` samples in
            data space; sample i depends only on ``seeds[i]``.
        fit: a family-specific training loop ``fit(exp, run_dir, resume) -> Path``.
        preview: ``preview(model, exp, data) -> (tensor, nrow)`` for the periodic grid;
            defaults to class-conditional rows of samples.
        null_cond: ``null_cond(exp) -> dict`` the declared null condition (guidance).
        cond_keys: ``cond_keys(exp) -> tuple`` the batch's conditioning keys the network
            takes (others, e.g. labels of an unconditional run, are dropped); defaults to
            ``("class",)`` when ``exp.model.num_classes`` is set.
    """

    family: str
    objective: type
    sampler: type
    build: Callable
    sample: Callable
    loss: Callable | None = None
    fit: Callable | None = None
    preview: Callable | None = None
    null_cond: Callable | None = None
    cond_keys: Callable | None = None
    doc: str = ""

    def keys(self, exp) -> tuple[str, ...]:
        """The conditioning keys this experiment's network takes."""
        if self.cond_keys is not None:
            return tuple(self.cond_keys(exp))
        return ("class",) if getattr(exp.model, "num_classes", 0) else ()


@dataclass(frozen=True)
class Recipe:
    """A named experiment: ``make()`` returns a fresh :class:`Experiment`."""

    make: Callable
    doc: str


def get_task(kind: str) -> Task:
    from genlab.recipes import TASKS

    if kind not in TASKS:
        raise ConfigError(
            f"objective.kind: unknown objective {kind!r}; choose from {', '.join(sorted(TASKS))}"
        )
    return TASKS[kind]
