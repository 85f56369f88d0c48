"""Named experiments. ``RECIPES`` maps a name to a function returning an
:class:`Experiment`; ``TASKS`` maps an objective kind to its :class:`Task`."""

from __future__ import annotations

from genlab.errors import ConfigError
from genlab.recipes import diffusion, gan
from genlab.recipes import eval as eval_recipes
from genlab.recipes.experiment import Experiment, TrainConfig, experiment_from_dict, override
from genlab.recipes.tasks import Recipe, Task, get_task

TASKS: dict[str, Task] = {**diffusion.TASKS, **gan.TASKS, **eval_recipes.TASKS}
RECIPES: dict[str, Recipe] = {**diffusion.RECIPES, **gan.RECIPES, **eval_recipes.RECIPES}


def get_recipe(name: str) -> Experiment:
    """A fresh :class:`Experiment` for recipe ``name``; unknown names suggest the nearest."""
    import difflib

    if name not in RECIPES:
        near = difflib.get_close_matches(name, list(RECIPES), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else " (genlab list recipes)"
        raise ConfigError(f"unknown recipe '{name}'{hint}")
    exp = RECIPES[name].make()
    exp.recipe = name
    return exp


__all__ = [
    "RECIPES",
    "TASKS",
    "Recipe",
    "Experiment",
    "Task",
    "TrainConfig",
    "experiment_from_dict",
    "get_recipe",
    "get_task",
    "override",
]
