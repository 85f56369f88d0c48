"""Named experiments. ``RECIPES`` maps a name to a :class:`Recipe` whose ``make()``
returns a fresh :class:`~genlab.experiment.Experiment`. Recipes hold plain values only:
no losses, no loops, no scripts (the families train them; ``genlab.runs`` runs them)."""

from __future__ import annotations

from collections.abc import Sequence

from genlab.errors import ConfigError
from genlab.experiment import Experiment, override
from genlab.families import kind_types
from genlab.recipes import audio, diffusion, distill, gan, tokens, translate, vae, video
from genlab.recipes import eval as eval_recipes
from genlab.recipes.base import Recipe

RECIPES: dict[str, Recipe] = {
    **audio.RECIPES,
    **diffusion.RECIPES,
    **distill.RECIPES,
    **eval_recipes.RECIPES,
    **gan.RECIPES,
    **vae.RECIPES,
    **tokens.RECIPES,
    **translate.RECIPES,
    **video.RECIPES,
}


def get_recipe(name: str, overrides: Sequence[str] = ()) -> Experiment:
    """A fresh :class:`Experiment` for recipe ``name`` with ``key=value`` ``overrides``
    applied and type-checked; unknown names suggest the nearest (:class:`ConfigError`)."""
    import difflib

    if name not in RECIPES:
        near = difflib.get_close_matches(name, list(RECIPES), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else " (genlab list recipes)"
        raise ConfigError(f"unknown recipe '{name}'{hint}")
    exp = RECIPES[name].make()
    exp.recipe = name
    return override(exp, list(overrides), kind_types) if overrides else exp


__all__ = ["RECIPES", "Recipe", "get_recipe"]
