"""Time grids and samplers as pure functions over a model callable."""

from genlab.sampling.grids import uniform_grid
from genlab.sampling.ode import euler, euler_step

SAMPLERS = {"euler": euler}

__all__ = ["SAMPLERS", "euler", "euler_step", "uniform_grid"]
