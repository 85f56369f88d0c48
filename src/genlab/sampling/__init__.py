"""Time grids and samplers as pure functions over a model callable.

``SAMPLERS`` maps a name to a sampler with the shared signature of
:mod:`genlab.sampling.ode`; ``STOCHASTIC`` names those that draw noise per step.
"""

from genlab.sampling.grids import GRIDS, karras_grid, make_grid, shifted_grid, uniform_grid
from genlab.sampling.guidance import cfg
from genlab.sampling.ode import (
    churn_step,
    denoise,
    dpmpp_2m,
    dpmpp_2m_step,
    euler,
    euler_step,
    heun,
    heun_step,
    midpoint,
    midpoint_step,
    noise_like,
    ve_coords,
    velocity,
)
from genlab.sampling.sde import ddim, ddim_step, ddpm, euler_maruyama, euler_maruyama_step

SAMPLERS = {
    "euler": euler,
    "heun": heun,
    "midpoint": midpoint,
    "dpmpp_2m": dpmpp_2m,
    "ddim": ddim,
    "ddpm": ddpm,
    "euler_maruyama": euler_maruyama,
}
STOCHASTIC = ("ddpm", "euler_maruyama")  # plus ddim with eta > 0 and heun with churn > 0

__all__ = [
    "GRIDS",
    "SAMPLERS",
    "STOCHASTIC",
    "cfg",
    "churn_step",
    "ddim",
    "ddim_step",
    "ddpm",
    "denoise",
    "dpmpp_2m",
    "dpmpp_2m_step",
    "euler",
    "euler_maruyama",
    "euler_maruyama_step",
    "euler_step",
    "heun",
    "heun_step",
    "karras_grid",
    "make_grid",
    "midpoint",
    "midpoint_step",
    "noise_like",
    "shifted_grid",
    "uniform_grid",
    "ve_coords",
    "velocity",
]
