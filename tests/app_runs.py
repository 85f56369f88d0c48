"""Tiny trained runs for the app tests: a folder as ``genlab serve`` reads it."""

from __future__ import annotations

from pathlib import Path

from genlab.recipes import get_recipe
from genlab.runs import fit, override
from tests.conftest import tiny_overrides

# name -> (recipe, steps, extra overrides): three digits generators of three families
# (two class-conditional, one not) and the digits classifier the judge uses.
APP_RUNS = {
    "rf-digits": ("rf-digits", 10, {"model.channels": 16}),
    "cdcgan-digits": ("cdcgan-digits", 10, {}),
    "dcgan-digits": ("dcgan-digits", 10, {}),
    "classifier": ("eval-digits-classifier", 60, {"train.lr": 3e-3}),
}


def make_app_runs(root: Path) -> Path:
    """Train :data:`APP_RUNS` under ``root`` (seconds); returns ``root``."""
    for name, (recipe, steps, extra) in APP_RUNS.items():
        ov = tiny_overrides(steps, **extra)
        if recipe.startswith("eval-"):
            ov = [o for o in ov if not o.startswith("sampler.")]
        if "gan" in recipe:
            ov = [o for o in ov if not o.startswith("sampler.") and "warmup" not in o]
        fit(override(get_recipe(recipe), ov), root / name)
    return root
