"""genlab: train, sample and evaluate every family of generative model through one interface.

>>> from genlab.recipes import get_recipe
>>> from genlab.train.loop import fit
>>> fit(get_recipe("rf-moons"), "runs/moons")  # doctest: +SKIP
"""

__version__ = "0.1.0"
