"""genlab: train, sample and evaluate every family of generative model through one interface.

>>> from genlab import recipes, fit, sample
>>> run = fit(recipes.get_recipe("rf-moons"), "runs/moons")    # doctest: +SKIP
>>> x = sample("runs/moons", n=16, seed=0)  # (16, 2)           # doctest: +SKIP

``fit`` and ``sample`` are :func:`genlab.runs.fit` and :func:`genlab.runs.sample`
(``genlab.train`` is the package holding the training loop).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Imported on first use so `import genlab` stays light.
    if name in ("fit", "sample", "load_model"):
        from genlab import runs

        return getattr(runs, name)
    if name == "recipes":
        import importlib

        return importlib.import_module("genlab.recipes")
    raise AttributeError(f"module 'genlab' has no attribute {name!r}")
